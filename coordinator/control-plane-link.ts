// The coordinator's process shell around the control plane: connects to NATS before the dataset is
// read (so wrong credentials fail at once), turns the connection's ups and downs into console lines
// and run events, and joins the control plane to the run's events once they exist. Whatever NATS
// does, the run goes on (issue 13, point 1).

import { ControlPlane } from './control-plane.js';
import type { Clock } from './clock.js';
import type { RunEvent, RunEvents } from './run-events.js';
import { RunStatusBoard } from './run-status.js';
import { NatsBus, type BusChange } from '../shared/control/nats-bus.js';
import { describeNats, type NatsSettings } from '../shared/control/nats-settings.js';
import { checkRunIdForSubjects } from '../shared/control/subjects.js';

export interface AttachOptions {
  runId: string;
  events: RunEvents;
  token: string;
  tls: boolean;
  worldSize: number;
  epochs: number;
  clock: Clock;
  requestStop: (reason: string) => void;
}

export class ControlPlaneLink {
  private events: RunEvents | undefined;
  /** What happened to the connection before the run's events existed. */
  private readonly early: RunEvent[] = [];
  private plane: ControlPlane | undefined;
  private board: RunStatusBoard | undefined;
  private runId = '';
  private bus!: NatsBus;

  private constructor(
    readonly settings: NatsSettings,
    private readonly info: (line: string) => void,
  ) {}

  /** Connects (or starts trying to); throws only when the server refuses the credentials. */
  static async connect(settings: NatsSettings, info: (line: string) => void): Promise<ControlPlaneLink> {
    const link = new ControlPlaneLink(settings, info);
    link.bus = await NatsBus.start(settings, 'emotrain-coordinator', (change) => link.onChange(change));
    return link;
  }

  private onChange(change: BusChange): void {
    const emit = (event: RunEvent) => (this.events ? this.events.emit(event) : this.early.push(event));
    switch (change.kind) {
      case 'connected':
        emit({ event: 'control_plane', state: 'connected', server: change.server, outage_seconds: null });
        return;
      case 'reconnected':
        emit({ event: 'control_plane', state: 'reconnected', server: change.server, outage_seconds: change.outageSeconds });
        return;
      case 'unreachable':
        emit({
          event: 'warning', code: 'NATS_UNREACHABLE',
          message: `cannot reach NATS ${describeNats(this.settings)} (${change.error}); training goes on without the control plane and keeps trying`,
        });
        return;
      case 'disconnected':
        emit({ event: 'warning', code: 'NATS_DISCONNECTED', message: `lost the NATS server ${change.server}; training goes on, reconnecting (events are kept until then)` });
        return;
      case 'dropped':
        emit({ event: 'warning', code: 'NATS_EVENTS_DROPPED', message: `${change.count} run events could not be kept during the NATS outage and were not published (events.jsonl has them)` });
        return;
    }
  }

  /** Subscribes the control plane to the run's events (they are published from here on). */
  attach(options: AttachOptions): void {
    checkRunIdForSubjects(options.runId);
    this.runId = options.runId;
    this.board = new RunStatusBoard({ runId: this.runId, worldSize: options.worldSize, epochs: options.epochs, clock: options.clock });
    this.plane = new ControlPlane({
      bus: this.bus,
      board: this.board,
      runId: options.runId,
      token: options.token,
      tls: options.tls,
      startedAt: new Date(options.clock.now()),
      requestStop: options.requestStop,
    });
    options.events.subscribe('nats', this.plane.onEvent);
    this.events = options.events;
    for (const event of this.early.splice(0)) options.events.emit(event);
  }

  /** Once the gRPC server listens: answers requests and announces the run at these addresses. */
  start(grpc: string[]): void {
    this.board?.setAddresses(grpc);
    this.plane?.start();
    this.info(`NATS: events on ${this.plane?.subjects.events}; \`emotrain status --nats ${this.settings.servers.join(',')} --run ${this.runId}\` shows the run`);
  }

  /** Marks the run as stopping on the status board (Ctrl-C), so status requests say so. */
  stopping(reason: string): void {
    this.board?.markStopping(reason);
  }

  close(): Promise<void> {
    return this.bus.close();
  }
}
