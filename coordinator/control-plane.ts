// The coordinator on the NATS control plane (issue 13, point 1; README "Control plane"): one more
// subscriber of the run's events, which it publishes on the run's subject in order, numbered; it
// answers status requests from the live status board, stop requests that carry the run's token
// (or any, when the NATS server itself authenticates its clients), and discovery requests with its
// announcement, so `worker --nats` finds its gRPC address. It never changes the run: a stop
// request becomes the same `requestStop` as Ctrl-C.

import { timingSafeEqual, createHash } from 'node:crypto';
import { describeError } from '../shared/errors.js';
import { encodeJson, parseStopRequest, CONTROL_PROTOCOL_VERSION, type Announcement, type StopReply } from '../shared/control/messages.js';
import type { ControlBus } from '../shared/control/nats-bus.js';
import { ANNOUNCE_SUBJECT, DISCOVER_SUBJECT, runSubjects, type RunSubjects } from '../shared/control/subjects.js';
import type { RunEvent } from './run-events.js';
import type { RunStatusBoard } from './run-status.js';

/** The header that numbers a run's events on its subject (1, 2, ...): a gap shows lost events. */
export const SEQUENCE_HEADER = 'Emotrain-Seq';

export interface ControlPlaneOptions {
  bus: ControlBus;
  board: RunStatusBoard;
  runId: string;
  /** The run's worker token: a stop request that carries it is authorised. */
  token: string;
  tls: boolean;
  startedAt: Date;
  /** Asks the trainer to stop at the next step boundary. */
  requestStop: (reason: string) => void;
}

export class ControlPlane {
  readonly subjects: RunSubjects;
  private sequence = 0;
  private announcedWantsWorkers: boolean | undefined;

  constructor(private readonly options: ControlPlaneOptions) {
    this.subjects = runSubjects(options.runId);
  }

  /** Starts answering requests and announces the run. */
  start(): void {
    const { bus } = this.options;
    bus.serve(DISCOVER_SUBJECT, () => encodeJson(this.announcement()));
    bus.serve(this.subjects.status, () => encodeJson(this.options.board.snapshot()));
    bus.serve(this.subjects.stop, (payload) => encodeJson(this.answerStop(payload)));
    this.announce();
  }

  readonly onEvent = (event: RunEvent): void => {
    this.options.board.onEvent(event);
    this.options.bus.publish(this.subjects.events, encodeJson(event), { [SEQUENCE_HEADER]: String(++this.sequence) });
    if (this.options.board.wantsWorkers !== this.announcedWantsWorkers) this.announce();
  };

  announcement(): Announcement {
    const { board } = this.options;
    const status = board.snapshot();
    return {
      version: CONTROL_PROTOCOL_VERSION,
      run_id: this.options.runId,
      grpc: status.grpc,
      tls: this.options.tls,
      wants_workers: board.wantsWorkers,
      workers: board.memberCount,
      world: board.size,
      state: board.state,
      started_at: this.options.startedAt.toISOString(),
    };
  }

  private announce(): void {
    this.announcedWantsWorkers = this.options.board.wantsWorkers;
    this.options.bus.publish(ANNOUNCE_SUBJECT, encodeJson(this.announcement()));
  }

  private answerStop(payload: Uint8Array): StopReply {
    const runId = this.options.runId;
    let request;
    try {
      request = parseStopRequest(payload, `stop request for run ${runId}`);
    } catch (error) {
      return { accepted: false, run_id: runId, code: 'CONTROL_INVALID', message: describeError(error) };
    }
    if (request.token !== undefined) {
      if (!sameSecret(request.token, this.options.token)) {
        return { accepted: false, run_id: runId, code: 'STOP_REFUSED', message: `the token does not match run ${runId}'s worker token` };
      }
    } else if (!this.options.bus.serverAuthenticates()) {
      return {
        accepted: false, run_id: runId, code: 'STOP_REFUSED',
        message: `run ${runId} stops only for its worker token (--token or $EMOTRAIN_TOKEN): this NATS server does not authenticate its clients`,
      };
    }
    const { board } = this.options;
    const state = board.state;
    if (state === 'finished' || state === 'stopped' || state === 'failed') {
      return { accepted: false, run_id: runId, code: 'STOP_REFUSED', message: `run ${runId} has already ${state === 'failed' ? 'failed' : state}` };
    }
    const step = board.snapshot().step;
    if (state === 'stopping') return { accepted: true, run_id: runId, step, message: `run ${runId} is already stopping at the next step boundary` };
    const reason = `stop requested over NATS${request.by ? ` by ${request.by}` : ''}${request.reason ? `: ${request.reason}` : ''}`;
    board.markStopping(reason);
    this.options.requestStop(reason);
    return { accepted: true, run_id: runId, step, message: `run ${runId} stops at the next step boundary (step ${step}); checkpoints stay as of the last epoch` };
  }
}

/** Compares secrets in constant time (hashes first, so lengths do not leak either). */
function sameSecret(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}
