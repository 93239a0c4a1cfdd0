// The worker's Peer service (--allreduce ring): where its predecessor in the ring streams each
// step's chunks. Every call is authenticated with the run's token first; its header says which
// step (and world generation) it carries, and it waits (paused, so HTTP/2 flow control holds the
// sender) until this worker's all-reduce of that step takes it. Only the current step and the one
// after it can wait: a predecessor that finished its part of step s may already be sending step
// s + 1. After a world change a predecessor may already send a step of the new generation (the same
// step numbers, planned again) while this worker still ends the old one: a few generations ahead
// may wait too, never more than a few streams at once. A stream that sends nothing for the run's
// --stream-idle-timeout while something is due (its header, or its next chunk once this worker
// takes it) is closed with DEADLINE_EXCEEDED [STREAM_IDLE], and the step it carried fails naming
// the peer; while it waits to be taken it is paused, and its silence is not the sender's.

import * as grpc from '@grpc/grpc-js';
import { Deferred } from '../shared/deferred.js';
import { EmotrainError, ProtocolError, describeError } from '../shared/errors.js';
import { IdleLimit, SERVER_OPTIONS, loadPeerService, requireOneof, serviceError, TokenCheck, type PeerHandlers, type RingHeader, type RingMessage } from '../shared/wire/index.js';

/** One predecessor's stream for one step, as the all-reduce consumes it. */
export interface IncomingRing {
  readonly header: RingHeader;
  /** Each chunk message in order; `end` when the sender half-closes. */
  consume(handlers: { chunk: (message: Extract<RingMessage, { kind: 'chunk' }>['chunk']) => void; end: () => void; error: (error: Error) => void }): void;
  /** Rejects the stream with this error (the sender's call fails with it). */
  reject(error: unknown): void;
  /** Answers the sender once this worker used every chunk. */
  accept(): void;
}

/** Generations a predecessor may be ahead of this worker (world changes it has not seen yet). */
const MAX_GENERATIONS_AHEAD = 4;
/** Streams that may wait to be taken at once. */
const MAX_WAITING_STREAMS = 6;
/** The idle limit until a run says its own (--stream-idle-timeout's default). */
export const DEFAULT_PEER_IDLE_MS = 60_000;

type RingCall = Parameters<PeerHandlers['Ring']>[0];
type RingCallback = Parameters<PeerHandlers['Ring']>[1];

export class PeerServer {
  private readonly server = new grpc.Server(SERVER_OPTIONS);
  private readonly tokens: TokenCheck;
  private readonly waiting = new Map<string, { generation: number; step: number; slot: Deferred<IncomingRing> }>();
  private runId: string | undefined;
  private currentStep = -1;
  private currentGeneration = 0;
  private idleStreamMs = DEFAULT_PEER_IDLE_MS;

  constructor(token: string) {
    this.tokens = new TokenCheck(token);
    const handlers: PeerHandlers = { Ring: (call, callback) => this.ring(call, callback) };
    this.server.addService(loadPeerService().service, handlers);
  }

  listen(address: string, credentials: grpc.ServerCredentials): Promise<number> {
    return new Promise((resolve, reject) => this.server.bindAsync(address, credentials, (error, port) => (error ? reject(error) : resolve(port))));
  }

  /**
   * From joining on: calls for another run are refused. A new membership starts afresh.
   * `idleStreamMs`: the run's --stream-idle-timeout (the coordinator sends it with the config).
   */
  setRun(runId: string, idleStreamMs = DEFAULT_PEER_IDLE_MS): void {
    this.runId = runId;
    this.idleStreamMs = idleStreamMs;
    this.currentStep = -1;
    this.currentGeneration = 0;
    for (const { slot } of this.waiting.values()) void slot.promise.then((stale) => stale.reject(new ProtocolError('STEP_ABANDONED', 'this worker joined the run again')));
    this.waiting.clear();
  }

  /** The stream of `step` (of world generation `generation`) from the predecessor, once it arrives. */
  incoming(generation: number, step: number): Promise<IncomingRing> {
    this.currentStep = step;
    this.currentGeneration = generation;
    for (const [key, old] of [...this.waiting]) {
      if (old.generation < generation || (old.generation === generation && old.step < step)) {
        void old.slot.promise.then((stale) => stale.reject(new ProtocolError('PROTOCOL_WRONG_STEP', `step ${old.step} (generation ${old.generation}) is over; this worker is at step ${step} (generation ${generation})`)));
        if (!old.slot.settled) old.slot.reject(new ProtocolError('PROTOCOL_WRONG_STEP', `step ${old.step} is over`));
        this.waiting.delete(key);
      }
    }
    return this.slot(generation, step).promise;
  }

  /** A world change: streams of older generations will not be taken. */
  advanceGeneration(generation: number): void {
    if (generation <= this.currentGeneration) return;
    this.currentGeneration = generation;
    for (const [key, old] of [...this.waiting]) {
      if (old.generation >= generation) continue;
      void old.slot.promise.then((stale) => stale.reject(new ProtocolError('STEP_ABANDONED', `step ${old.step} of generation ${old.generation} was abandoned`)));
      this.waiting.delete(key);
    }
  }

  private slot(generation: number, step: number): Deferred<IncomingRing> {
    const key = `${generation}/${step}`;
    let entry = this.waiting.get(key);
    if (!entry) this.waiting.set(key, (entry = { generation, step, slot: new Deferred() }));
    return entry.slot;
  }

  /** Whether a stream for (generation, step) may wait here. */
  private acceptable(generation: number, step: number): boolean {
    // Before this membership's first step, a faster predecessor may already send it.
    if (this.currentStep < 0) return true;
    if (generation === this.currentGeneration) return step >= this.currentStep && step <= this.currentStep + 1;
    // A world change this worker has not seen yet: the same steps, planned again, or the next.
    return generation > this.currentGeneration && generation <= this.currentGeneration + MAX_GENERATIONS_AHEAD && step >= this.currentStep - 1 && step <= this.currentStep + 2;
  }

  private ring(call: RingCall, callback: RingCallback): void {
    const peer = call.getPeer();
    let answered = false;
    // What the stream owes next, and the all-reduce reading it (once it does): both told when it goes quiet.
    let awaited = 'its header';
    let reader: ((error: Error) => void) | undefined;
    const idle = new IdleLimit(this.idleStreamMs, () => {
      const error = new EmotrainError('STREAM_IDLE', `the ring stream from ${peer} sent nothing for ${this.idleStreamMs / 1000} s while ${awaited} was due; it is closed`);
      reader?.(error);
      answer(error);
    });
    const answer = (error: unknown) => {
      idle.stop();
      if (answered) return;
      answered = true;
      if (error) callback(serviceError(error));
      else callback(null, {});
    };
    try {
      this.tokens.require(call.metadata, peer);
    } catch (error) {
      answer(error);
      return;
    }
    call.pause();
    call.once('data', (first) => {
      idle.touch();
      try {
        const message = requireOneof(first, 'a ring message');
        if (message.kind !== 'header') throw new ProtocolError('PROTOCOL_INVALID', `${peer}: a ring stream must start with its header`);
        const header = message.header as RingHeader;
        if (header.runId !== this.runId) throw new ProtocolError('PROTOCOL_WRONG_RUN', `${peer}: ring stream for run ${JSON.stringify(header.runId.slice(0, 64))}, this worker is in run ${this.runId ?? '(none yet)'}`);
        if (!this.acceptable(header.generation, header.step)) {
          throw new ProtocolError('PROTOCOL_WRONG_STEP', `${peer}: ring stream for step ${header.step} of generation ${header.generation}, this worker is at step ${this.currentStep} of generation ${this.currentGeneration}`);
        }
        if (!this.waiting.has(`${header.generation}/${header.step}`) && this.waiting.size >= MAX_WAITING_STREAMS) {
          throw new ProtocolError('PROTOCOL_INVALID', `${peer}: too many ring streams waiting (${this.waiting.size}); refused step ${header.step} of generation ${header.generation}`);
        }
        const slot = this.slot(header.generation, header.step);
        if (slot.settled) throw new ProtocolError('PROTOCOL_INVALID', `${peer}: a second ring stream for step ${header.step}`);
        call.pause();
        // Waiting to be taken: held paused by this worker, so its silence is not the sender's.
        idle.pause();
        slot.resolve({
          header,
          consume: (handlers) => {
            let chunks = 0;
            awaited = `chunk 1 of step ${header.step}`;
            reader = handlers.error;
            idle.resume();
            call.on('data', (received) => {
              idle.touch();
              awaited = `chunk ${++chunks + 1} of step ${header.step}`;
              try {
                const chunk = requireOneof(received, 'a ring message');
                if (chunk.kind !== 'chunk') throw new ProtocolError('PROTOCOL_INVALID', `${peer}: a second ring header in step ${header.step}`);
                handlers.chunk(chunk.chunk);
              } catch (error) {
                handlers.error(error as Error);
                answer(error);
              }
            });
            call.on('end', () => {
              idle.stop();
              handlers.end();
            });
            call.on('error', (error) => handlers.error(new ProtocolError('PROTOCOL_INVALID', `the ring stream from ${peer} failed: ${describeError(error)}`)));
            call.on('cancelled', () => handlers.error(new ProtocolError('PROTOCOL_INVALID', `the ring stream from ${peer} was cancelled (its worker went away)`)));
            call.resume();
          },
          reject: (error) => answer(error),
          accept: () => answer(undefined),
        });
      } catch (error) {
        answer(error);
      }
    });
    call.resume();
  }

  async close(): Promise<void> {
    for (const { slot } of this.waiting.values()) if (!slot.settled) slot.reject(new ProtocolError('PROTOCOL_INVALID', 'the worker is leaving'));
    await new Promise<void>((resolve) => this.server.tryShutdown(() => resolve()));
  }
}
