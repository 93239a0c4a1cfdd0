// The run as workers see it over gRPC: the TrainerHost behind the service. Every call is checked
// here against the run's state — which run, which member, which step — before it can touch
// anything; uploads go to the step engine, reports to the replies the run waits for. A member that
// sends an invalid message (a field out of range, a wrong count: message-checks.ts) is refused and
// lost, so the run goes on as for any lost worker instead of failing (issue 14).

import type { WorkerConfig } from '../shared/config.js';
import net from 'node:net';
import { ProtocolError, QUOTED_CHARS, bounded, describeError, quoted } from '../shared/errors.js';
import { ANY_COUNT } from '../shared/field-checks.js';
import type { StatePosition } from '../shared/state-layout.js';
import type { JoinReply, JoinRequest, ReportRequest, StateManifest, WorkerRef } from '../shared/wire/index.js';
import type { GradientHeader__Output } from '../shared/wire/generated/emotrain/v1/GradientHeader.js';
import type { ShadowState } from './engine-ports.js';
import { checkChecksumResult, checkEvaluationResult, checkJoin, integerIn, isInvalidMessage } from './message-checks.js';
import type { PendingReplies } from './pending-replies.js';
import type { DownloadSink, StepEngine, UploadSession } from './step-engine.js';
import { describeMember, resolvePeerAddress, type CommandSink, type Member, type World } from './world.js';

export interface TrainerHost {
  join(request: JoinRequest, peer: string): Promise<JoinReply>;
  openCommands(ref: WorkerRef, sink: CommandSink): void;
  /** `sink`'s stream ended (only the member's own stream ends its membership). */
  commandsClosed(ref: WorkerRef, sink: CommandSink, reason: string): void;
  heartbeat(ref: WorkerRef): void;
  state(ref: WorkerRef): Promise<{ manifest: StateManifest; payload: readonly Uint8Array[] }>;
  beginUpload(header: GradientHeader__Output, peer: string, downloads: DownloadSink): UploadSession;
  report(request: ReportRequest): void;
}

export interface ProtocolSessionOptions {
  runId: string;
  /** Sent to every worker that joins, so every replica builds the same model. */
  workerConfig: WorkerConfig;
  world: World;
  engine: StepEngine;
  replies: PendingReplies;
  shadow: ShadowState;
  /** Where training stands, for a worker fetching the state. */
  position: () => StatePosition;
  /** Resolves when `member` may fetch the state (at a step boundary); at once when not given. */
  admit?: (member: Member) => Promise<void>;
  /** A member could not finish a step (StepFailure); the trainer decides. */
  stepFailed?: (member: Member, step: number, generation: number, message: string) => void;
  /** Whether a worker's peer address can be reached (a TCP connection by default). */
  reachable?: (address: string, timeoutMs: number) => Promise<void>;
}

/** How long the coordinator tries a ring worker's peer address before refusing it. */
const PEER_CHECK_TIMEOUT_MS = 3000;

/** Resolves once a TCP connection to `address` (host:port) opens. */
function canConnect(address: string, timeoutMs: number): Promise<void> {
  const match = /^\[?([^\]]*)\]?:(\d+)$/.exec(address);
  if (!match) return Promise.reject(new Error(`not host:port`));
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: match[1]!, port: Number(match[2]) });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no connection within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.end();
      resolve();
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

export class ProtocolSession implements TrainerHost {
  constructor(private readonly options: ProtocolSessionOptions) {}

  private memberOf(ref: WorkerRef, what: string): Member {
    if (ref.runId !== this.options.runId) {
      throw new ProtocolError('PROTOCOL_WRONG_RUN', `${what} names run ${quoted(ref.runId)}, this coordinator runs ${this.options.runId}`);
    }
    const member = this.options.world.byWorkerId(ref.workerId);
    if (!member) throw new ProtocolError('PROTOCOL_INVALID', `${what} comes from unknown worker id ${quoted(ref.workerId)} (join first)`);
    return member;
  }

  /**
   * Runs `use`; when it refuses the message as invalid, `member` is lost with the reason (its
   * exchange, if one is open, fails with it first) and the error goes back to the caller.
   */
  private expelIfInvalid<T>(member: Member, use: () => T, downloads?: DownloadSink): T {
    try {
      return use();
    } catch (error) {
      if (isInvalidMessage(error)) {
        downloads?.fail(error);
        this.options.world.lose(member, `it sent an invalid message: ${error.message}`);
      }
      throw error;
    }
  }

  async join(request: JoinRequest, peer: string): Promise<JoinReply> {
    checkJoin(request, peer, this.options.world.size);
    if (this.options.workerConfig.allreduce === 'ring') {
      // Peers must reach each other: try the address the worker offers before admitting it.
      const address = resolvePeerAddress(request.peerAddress, peer);
      if (address === '') throw new ProtocolError('PROTOCOL_INVALID', `${peer} offered no peer address; this run reduces peer to peer (--allreduce ring)`);
      await (this.options.reachable ?? canConnect)(address, PEER_CHECK_TIMEOUT_MS).catch((cause: unknown) => {
        throw new ProtocolError(
          'PROTOCOL_INVALID',
          `${request.host || peer} offers peer address ${address}, which the coordinator cannot reach (${describeError(cause)}): behind NAT or a firewall, other workers cannot either; start the worker with --peer-address HOST:PORT that they can reach, or run --allreduce star`,
        );
      });
    }
    const member = this.options.world.join(request, peer);
    return { runId: this.options.runId, workerId: member.workerId, rank: member.rank, configJson: JSON.stringify(this.options.workerConfig) };
  }

  openCommands(ref: WorkerRef, sink: CommandSink): void {
    const member = this.memberOf(ref, 'command stream request');
    if (member.commands) throw new ProtocolError('PROTOCOL_INVALID', `${describeMember(member)} already has a command stream`);
    this.options.world.attachCommands(member, sink);
  }

  commandsClosed(ref: WorkerRef, sink: CommandSink, reason: string): void {
    const member = this.options.world.byWorkerId(ref.workerId);
    if (member && member.commands === sink) this.options.world.lose(member, reason);
  }

  heartbeat(ref: WorkerRef): void {
    this.options.world.heartbeat(this.memberOf(ref, 'heartbeat'));
  }

  async state(ref: WorkerRef): Promise<{ manifest: StateManifest; payload: readonly Uint8Array[] }> {
    const member = this.memberOf(ref, 'state request');
    await this.options.admit?.(member);
    await this.options.shadow.settled();
    return this.options.shadow.statePayload(this.options.position());
  }

  beginUpload(header: GradientHeader__Output, peer: string, downloads: DownloadSink): UploadSession {
    const member = this.memberOf(header, `gradient upload from ${peer} for step ${header.step}`);
    const upload = this.expelIfInvalid(member, () => this.options.engine.beginUpload(member, header, downloads));
    return {
      write: (chunk) => this.expelIfInvalid(member, () => upload.write(chunk), downloads),
      end: () => this.expelIfInvalid(member, () => upload.end(), downloads),
      abort: (reason) => {
        try {
          this.expelIfInvalid(member, () => upload.abort(reason));
        } catch {
          // The call is gone already; a member that broke off too often was expelled above.
        }
      },
    };
  }

  report(request: ReportRequest): void {
    const member = this.memberOf(request, `${request.kind} report`);
    this.expelIfInvalid(member, () => this.deliverReport(member, request));
  }

  private deliverReport(member: Member, request: ReportRequest): void {
    const who = describeMember(member);
    switch (request.kind) {
      case 'evaluation': {
        const id = request.evaluation.evaluationId;
        if (this.options.replies.isAbandoned('evaluation', id, member.rank)) {
          // Dropped, but checked first as far as it can be without its request: in itself.
          const { evaluation } = request;
          const count = integerIn(evaluation.count, 0, MAX_ABANDONED_COUNT, `${who}'s evaluation ${id}: EvaluationResult.count`);
          checkEvaluationResult(evaluation, { split: `abandoned request ${id}`, count, probabilities: evaluation.sampleIds.length > 0 }, who);
        }
        this.options.replies.deliver('evaluation', id, member.rank, request.evaluation, `${who} reported EvaluationResult.evaluationId ${id}`);
        return;
      }
      case 'checksum': {
        // Checked here, for every checksum, whether it answers a request or a late, dropped one.
        checkChecksumResult(request.checksum, who);
        const { step, requestId } = request.checksum;
        this.options.replies.deliver('checksum', requestId, member.rank, request.checksum, `${who} reported ChecksumResult.requestId ${requestId} (step ${step})`);
        return;
      }
      case 'stepFailure': {
        const { step, generation, message } = request.stepFailure;
        integerIn(step, 0, ANY_COUNT, `${who}: StepFailure.step`);
        integerIn(generation, 0, ANY_COUNT, `${who}: StepFailure.generation`);
        this.options.stepFailed?.(member, step, generation, bounded(message, MAX_FAILURE_CHARS));
        return;
      }
      case 'failure': {
        const { code, message } = request.failure;
        this.options.world.lose(member, `${REPORTED_FAILURE}${bounded(message, MAX_FAILURE_CHARS)}${code && code !== 'UNKNOWN' ? ` [${bounded(code, QUOTED_CHARS)}]` : ''}`);
        return;
      }
    }
  }
}

/** How the reason a member was lost begins when the worker itself reported why it failed. */
export const REPORTED_FAILURE = 'it failed: ';

/** Whether a member was lost because it reported its own failure (which waiting for it again would not mend). */
export function isReportedFailure(reason: string): boolean {
  return reason.startsWith(REPORTED_FAILURE);
}

/** The most samples a shard's evaluation can count (what a 16 MiB report can carry). */
const MAX_ABANDONED_COUNT = 1_000_000;

/** A worker's own account of its failure is shown as it is, up to this many characters. */
const MAX_FAILURE_CHARS = 2000;
