// The worker's Peer service (--allreduce ring): where its predecessor in the ring streams each
// step's chunks. Every call is authenticated with the run's token first; its header says which
// step it carries, and it waits (paused, so HTTP/2 flow control holds the sender) until this
// worker's all-reduce of that step takes it. Only the current step and the one after it can wait:
// a predecessor that finished its part of step s may already be sending step s + 1.

import * as grpc from '@grpc/grpc-js';
import { Deferred } from '../shared/deferred.js';
import { ProtocolError, describeError } from '../shared/errors.js';
import { CHANNEL_OPTIONS, loadPeerService, requireOneof, serviceError, TokenCheck, type PeerHandlers, type RingHeader, type RingMessage } from '../shared/wire/index.js';

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

type RingCall = Parameters<PeerHandlers['Ring']>[0];
type RingCallback = Parameters<PeerHandlers['Ring']>[1];

export class PeerServer {
  private readonly server = new grpc.Server(CHANNEL_OPTIONS);
  private readonly tokens: TokenCheck;
  private readonly waiting = new Map<number, Deferred<IncomingRing>>();
  private runId: string | undefined;
  private currentStep = -1;

  constructor(token: string) {
    this.tokens = new TokenCheck(token);
    const handlers: PeerHandlers = { Ring: (call, callback) => this.ring(call, callback) };
    this.server.addService(loadPeerService().service, handlers);
  }

  listen(address: string, credentials: grpc.ServerCredentials): Promise<number> {
    return new Promise((resolve, reject) => this.server.bindAsync(address, credentials, (error, port) => (error ? reject(error) : resolve(port))));
  }

  /** From joining on: calls for another run are refused. */
  setRun(runId: string): void {
    this.runId = runId;
  }

  /** The stream of `step` from the predecessor, once it arrives (at once if it is waiting already). */
  incoming(step: number): Promise<IncomingRing> {
    this.currentStep = step;
    for (const old of [...this.waiting.keys()]) {
      if (old < step) {
        void this.waiting.get(old)!.promise.then((stale) => stale.reject(new ProtocolError('PROTOCOL_WRONG_STEP', `step ${old} is over; this worker is at step ${step}`)));
        this.waiting.delete(old);
      }
    }
    return this.slot(step).promise;
  }

  private slot(step: number): Deferred<IncomingRing> {
    let slot = this.waiting.get(step);
    if (!slot) this.waiting.set(step, (slot = new Deferred()));
    return slot;
  }

  private ring(call: RingCall, callback: RingCallback): void {
    const peer = call.getPeer();
    let answered = false;
    const answer = (error: unknown) => {
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
      try {
        const message = requireOneof(first, 'a ring message');
        if (message.kind !== 'header') throw new ProtocolError('PROTOCOL_INVALID', `${peer}: a ring stream must start with its header`);
        const header = message.header as RingHeader;
        if (header.runId !== this.runId) throw new ProtocolError('PROTOCOL_WRONG_RUN', `${peer}: ring stream for run ${JSON.stringify(header.runId.slice(0, 64))}, this worker is in run ${this.runId ?? '(none yet)'}`);
        if (header.step < this.currentStep || header.step > this.currentStep + 1) {
          throw new ProtocolError('PROTOCOL_WRONG_STEP', `${peer}: ring stream for step ${header.step}, this worker is at step ${this.currentStep}`);
        }
        const slot = this.slot(header.step);
        if (slot.settled) throw new ProtocolError('PROTOCOL_INVALID', `${peer}: a second ring stream for step ${header.step}`);
        call.pause();
        slot.resolve({
          header,
          consume: (handlers) => {
            call.on('data', (received) => {
              try {
                const chunk = requireOneof(received, 'a ring message');
                if (chunk.kind !== 'chunk') throw new ProtocolError('PROTOCOL_INVALID', `${peer}: a second ring header in step ${header.step}`);
                handlers.chunk(chunk.chunk);
              } catch (error) {
                handlers.error(error as Error);
                answer(error);
              }
            });
            call.on('end', () => handlers.end());
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
    for (const slot of this.waiting.values()) if (!slot.settled) slot.reject(new ProtocolError('PROTOCOL_INVALID', 'the worker is leaving'));
    await new Promise<void>((resolve) => this.server.tryShutdown(() => resolve()));
  }
}
