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
// The service is gRPC on node:http2 itself (shared/wire/http2-grpc.ts says why): the server checks
// the path, content type and token from the call's headers, refuses a message from its length
// prefix when it is longer than a request may be, and closes a connection that has not shown the
// token within a minute.

import http2 from 'node:http2';
import { Deferred } from '../shared/deferred.js';
import { EmotrainError, ProtocolError } from '../shared/errors.js';
import { CallGate, GRPC_SERVER_HTTP2_OPTIONS, MessageReader, messagePrefix, peerName, refuseCall, RING_PATH } from '../shared/wire/http2-grpc.js';
import { IdleLimit, loadPeerService, MAX_REQUEST_BYTES, requireOneof, TokenCheck, type RingHeader, type RingMessage } from '../shared/wire/index.js';
import type { TlsFiles } from './coordinator-client.js';

/** One predecessor's stream for one step, as the all-reduce consumes it. */
export interface IncomingRing {
  readonly header: RingHeader;
  /** Each chunk message in order; `end` when the sender half-closes. */
  consume(handlers: { chunk: (message: Extract<RingMessage, { kind: 'chunk' }>['chunk']) => void; end: () => void; error: (error: Error) => void }): void;
  /** Rejects the stream with this error (the sender's call fails with it). */
  reject(error: unknown): void;
  /**
   * Answers the sender once this worker used every chunk; resolves once the answer is sent (the
   * stream closed), which node:http2 does on a later turn of the event loop.
   */
  accept(): Promise<void>;
}

/** Generations a predecessor may be ahead of this worker (world changes it has not seen yet). */
const MAX_GENERATIONS_AHEAD = 4;
/** Streams that may wait to be taken at once. */
const MAX_WAITING_STREAMS = 6;
/** The idle limit until a run says its own (--stream-idle-timeout's default). */
export const DEFAULT_PEER_IDLE_MS = 60_000;

/** The bytes of a call's answer: response headers, an empty RingAck, then grpc-status 0. */
const RING_ACK = messagePrefix(0);

export class PeerServer {
  private server: http2.Http2Server | http2.Http2SecureServer | undefined;
  private readonly gate: CallGate;
  private readonly waiting = new Map<string, { generation: number; step: number; slot: Deferred<IncomingRing> }>();
  private runId: string | undefined;
  private currentStep = -1;
  private currentGeneration = 0;
  private idleStreamMs = DEFAULT_PEER_IDLE_MS;

  constructor(token: string) {
    this.gate = new CallGate(new TokenCheck(token), RING_PATH, "a worker's peer port");
  }

  /** Serves TLS when the worker has a certificate of its own (peers verify it with the run's CA). */
  listen(address: string, tls?: TlsFiles): Promise<number> {
    const server = tls?.cert && tls.key ? http2.createSecureServer({ ...GRPC_SERVER_HTTP2_OPTIONS, cert: tls.cert, key: tls.key }) : http2.createServer(GRPC_SERVER_HTTP2_OPTIONS);
    this.server = server;
    server.on('session', (session) => this.gate.session(session));
    // After listening, a server error (an accept that failed) must not take the worker down.
    server.on('error', () => undefined);
    server.on('stream', (stream, headers) => this.ring(stream, headers));
    const { host, port } = hostAndPort(address);
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        const bound = server.address();
        resolve(typeof bound === 'object' && bound ? bound.port : port);
      });
    });
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
    for (const { slot } of this.waiting.values()) refuseWhenTaken(slot, new ProtocolError('STEP_ABANDONED', 'this worker joined the run again'));
    this.waiting.clear();
  }

  /** The stream of `step` (of world generation `generation`) from the predecessor, once it arrives. */
  incoming(generation: number, step: number): Promise<IncomingRing> {
    this.currentStep = step;
    this.currentGeneration = generation;
    for (const [key, old] of [...this.waiting]) {
      if (old.generation < generation || (old.generation === generation && old.step < step)) {
        refuseWhenTaken(old.slot, new ProtocolError('PROTOCOL_WRONG_STEP', `step ${old.step} (generation ${old.generation}) is over; this worker is at step ${step} (generation ${generation})`));
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
      refuseWhenTaken(old.slot, new ProtocolError('STEP_ABANDONED', `step ${old.step} of generation ${old.generation} was abandoned`));
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

  private ring(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    const peer = peerName(stream.session?.socket);
    stream.on('error', () => undefined);
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
      if (error) {
        refuseCall(stream, error);
        return;
      }
      if (stream.destroyed || stream.closed) return;
      stream.respond({ ':status': 200, 'content-type': 'application/grpc+proto' }, { waitForTrailers: true });
      stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(RING_ACK);
    };
    try {
      this.gate.check(stream, headers, peer);
    } catch (error) {
      answer(error);
      return;
    }
    // Where a message that does not fit goes: the answer, and once the all-reduce reads, it too.
    let broken = (error: unknown) => answer(error);
    const decode = loadPeerService().service.Ring.requestDeserialize;
    const messageOf = (bytes: Buffer) => requireOneof(decode(bytes) as RingMessage, 'a ring message');
    const messages = new MessageReader(MAX_REQUEST_BYTES, `the ring stream from ${peer}`, (first) => {
      idle.touch();
      const message = messageOf(first);
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
      // Waiting to be taken: held paused by this worker, so its silence is not the sender's.
      stream.pause();
      idle.pause();
      let ended = false;
      messages.hold();
      slot.resolve({
        header,
        consume: (handlers) => {
          let chunks = 0;
          awaited = `chunk 1 of step ${header.step}`;
          reader = handlers.error;
          const failed = (error: unknown) => {
            if (ended) return;
            ended = true;
            handlers.error(error as Error);
            answer(error);
          };
          messages.hold((bytes) => {
            awaited = `chunk ${++chunks + 1} of step ${header.step}`;
            const chunk = messageOf(bytes);
            if (chunk.kind !== 'chunk') throw new ProtocolError('PROTOCOL_INVALID', `${peer}: a second ring header in step ${header.step}`);
            handlers.chunk(chunk.chunk);
          });
          broken = failed;
          const cancelled = () => new ProtocolError('PROTOCOL_INVALID', `the ring stream from ${peer} was cancelled (its worker went away)`);
          if (stream.destroyed || stream.closed) return failed(cancelled());
          // A reset by the sender also ends the readable side first (Node says 'aborted' only
          // later): the all-reduce then finds the stream short, unless every chunk was in.
          stream.on('end', () => {
            idle.stop();
            if (ended) return;
            if (!messages.atBoundary) return failed(new ProtocolError('PROTOCOL_WRONG_SIZE', `the ring stream from ${peer} ended inside a message (or was cancelled)`));
            ended = true;
            handlers.end();
          });
          stream.on('close', () => {
            if (!answered) failed(cancelled());
          });
          idle.resume();
          try {
            messages.release();
          } catch (error) {
            failed(error);
            return;
          }
          stream.resume();
        },
        reject: (error) => answer(error),
        accept: () => {
          const sent = stream.closed || stream.destroyed ? Promise.resolve() : new Promise<void>((resolve) => stream.once('close', () => resolve()));
          answer(undefined);
          return sent;
        },
      });
    });
    stream.on('data', (data: Buffer) => {
      // After the answer, what is still in flight is dropped, never handed to the all-reduce.
      if (answered) return;
      idle.touch();
      try {
        messages.push(data);
      } catch (error) {
        broken(error);
      }
    });
    stream.on('close', () => idle.stop());
  }

  async close(): Promise<void> {
    for (const { slot } of this.waiting.values()) if (!slot.settled) slot.reject(new ProtocolError('PROTOCOL_INVALID', 'the worker is leaving'));
    const server = this.server;
    if (!server) return;
    this.gate.destroyAll();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** Refuses the stream of a slot nobody will take, once (if ever) it arrives. */
function refuseWhenTaken(slot: Deferred<IncomingRing>, error: Error): void {
  void slot.promise.then((stale) => stale.reject(error), () => undefined);
}

/** "host:port", "[v6]:port": what listen() takes. */
function hostAndPort(address: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(address);
  if (!match) throw new ProtocolError('PROTOCOL_INVALID', `peer listen address ${JSON.stringify(address)} is not HOST:PORT`);
  return { host: match[1] ?? (match[2] || '0.0.0.0'), port: Number(match[3]) };
}
