// A run's live status, folded from its events (issue 13, point 1): who is in the world, where the
// run stands, its latest metrics and ETA. A subscriber of RunEvents like the others, with no I/O,
// so it is tested directly; the control plane answers status requests from it.

import type { MemberStatus, RunState, RunStatus } from '../shared/control/messages.js';
import { CONTROL_PROTOCOL_VERSION } from '../shared/control/messages.js';
import type { Clock } from './clock.js';
import type { RunEvent } from './run-events.js';

export interface RunStatusOptions {
  runId: string;
  worldSize: number;
  epochs: number;
  clock: Clock;
}

export class RunStatusBoard {
  private readonly members = new Map<number, MemberStatus>();
  private readonly status: Omit<RunStatus, 'world' | 'wants_workers' | 'updated_at'>;
  private worldSize: number;
  private updatedMs: number;

  constructor(private readonly options: RunStatusOptions) {
    this.worldSize = options.worldSize;
    this.updatedMs = options.clock.now();
    this.status = {
      version: CONTROL_PROTOCOL_VERSION,
      run_id: options.runId,
      state: 'waiting',
      grpc: [],
      step: 0,
      epoch: 0,
      epochs: options.epochs,
      step_in_epoch: 0,
      steps_in_epoch: 0,
      loss: null,
      accuracy: null,
      learning_rate: 0,
      loss_scale: 1,
      images_per_second: null,
      eta_seconds: null,
      last_epoch: null,
      best_val_accuracy: null,
      reason: null,
    };
  }

  get state(): RunState {
    return this.status.state;
  }

  get wantsWorkers(): boolean {
    return this.status.state === 'waiting' && this.members.size < this.worldSize;
  }

  get memberCount(): number {
    return this.members.size;
  }

  get size(): number {
    return this.worldSize;
  }

  /** The addresses workers should use, once the gRPC server listens (advertised-addresses.ts). */
  setAddresses(grpc: string[]): void {
    this.status.grpc = [...grpc];
  }

  /** A stop was asked for (Ctrl-C or a stop request): the run ends at the next step boundary. */
  markStopping(reason: string): void {
    if (this.status.state === 'waiting' || this.status.state === 'training') {
      this.status.state = 'stopping';
      this.status.reason = reason;
      this.touch();
    }
  }

  readonly onEvent = (event: RunEvent): void => {
    const s = this.status;
    switch (event.event) {
      case 'run_started':
      case 'run_resumed':
        this.worldSize = event.world;
        s.step = event.step;
        s.epoch = event.epochs_completed;
        s.epochs = event.epochs;
        s.learning_rate = event.learning_rate;
        s.loss_scale = event.loss_scale;
        s.best_val_accuracy = event.best_val_accuracy;
        break;
      case 'worker_joined':
        this.members.set(event.rank, { rank: event.rank, host: event.host, gpu: event.gpu, backend: event.backend, pid: event.pid, local_data: event.local_data });
        break;
      case 'worker_left':
        this.members.delete(event.rank);
        break;
      case 'step_completed':
        if (s.state === 'waiting') s.state = 'training';
        s.step = event.step + 1;
        s.epoch = event.epoch;
        s.epochs = event.epochs;
        s.step_in_epoch = event.step_in_epoch;
        s.steps_in_epoch = event.steps_in_epoch;
        s.loss = event.epoch_loss;
        s.accuracy = event.epoch_accuracy;
        s.learning_rate = event.learning_rate;
        s.loss_scale = event.next_loss_scale;
        s.images_per_second = event.images_per_second;
        s.eta_seconds = event.eta_seconds;
        break;
      case 'epoch_end':
        s.step = event.step;
        s.last_epoch = {
          epoch: event.epoch, loss: event.loss, accuracy: event.accuracy, val_loss: event.val_loss, val_accuracy: event.val_accuracy,
          lr: event.lr, images_per_second: event.images_per_second,
        };
        break;
      case 'lr_reduced':
        s.learning_rate = event.to;
        break;
      case 'checkpoint_saved':
        if (event.kind === 'best' && event.val_accuracy !== undefined) s.best_val_accuracy = event.val_accuracy;
        break;
      case 'run_finished':
        this.end('finished', null, event.step);
        break;
      case 'run_stopped':
        this.end('stopped', event.reason, event.step);
        break;
      case 'run_failed':
        this.end('failed', event.error, event.step);
        break;
      default:
        return;
    }
    this.touch();
  };

  private end(state: RunState, reason: string | null, step: number): void {
    this.status.state = state;
    this.status.reason = reason ?? this.status.reason;
    this.status.step = step;
    this.status.eta_seconds = state === 'finished' ? 0 : null;
  }

  private touch(): void {
    this.updatedMs = this.options.clock.now();
  }

  snapshot(): RunStatus {
    return {
      ...this.status,
      wants_workers: this.wantsWorkers,
      world: { size: this.worldSize, members: [...this.members.values()].sort((a, b) => a.rank - b.rank) },
      last_epoch: this.status.last_epoch ? { ...this.status.last_epoch } : null,
      updated_at: new Date(this.updatedMs).toISOString(),
    };
  }
}
