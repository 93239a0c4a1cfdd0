// One step's ring all-reduce on a worker (--allreduce ring; the plan is shared/ring-plan.ts). The
// worker streams its chunks to the next rank while it takes its predecessor's: a reduce-scatter
// chunk that comes in has this worker's own weighted values added and goes on at once (or, at the
// last reduce-scatter hop, is final: this worker's owned segment); an all-gather chunk is kept and
// goes on. Every incoming message is checked against the plan of the sender — run, step, sender,
// hop, segment, offset, size — before a byte of it is used; a stream that breaks or does not fit
// fails the step with an error naming the peer.
//
// Arithmetic per element (fp16): partial' = half(fl32(fl32(0 + 1 · half⁻¹(partial)) + w · own)),
// with own the worker's own loss-scaled gradient in fp16 and w its shard / global batch; the first
// hop sends half(fl32(0 + w · own)). fp32 runs the same without the halves.

import { Deferred } from '../shared/deferred.js';
import { ProtocolError, describeError } from '../shared/errors.js';
import { Fp16Kernels } from '../shared/fp16/kernels.js';
import { isReduceScatter, nextRank, ownedSegment, previousRank, ringHops, ringSegments, ringStream, type RingChunkPlan } from '../shared/ring-plan.js';
import { bytesOf, bytesPerElement, CHUNK_BYTES, type RingPeer, type TensorDtype } from '../shared/wire/index.js';
import type { TlsFiles } from './coordinator-client.js';
import { PeerLinks } from './peer-link.js';
import type { IncomingRing, PeerServer } from './peer-server.js';

export interface RingStep {
  runId: string;
  step: number;
  /** The world generation the step was planned in: streams of another one are not this step's. */
  generation: number;
  /** This worker's rank; its position in `ring` is where the plan puts it. */
  rank: number;
  /** The members in ring order. */
  ring: readonly RingPeer[];
  dtype: TensorDtype;
  /** This worker's own loss-scaled gradients in the wire dtype. */
  own: Uint16Array | Float32Array;
  /** Its shard size over the global batch. */
  weight: number;
  /** Where the reduced gradients go (the wire dtype, every element). */
  result: Uint16Array | Float32Array;
}

export interface RingOutcome {
  /** The segment this worker owns: the one whose final values it uploads to the coordinator. */
  segment: { offset: number; count: number };
  /** Resolves when the first `count` values of the owned segment are final (they become so in order). */
  finalUpTo(count: number): Promise<void>;
  /** Resolves when this worker's owned segment is final. */
  owned: Promise<{ offset: number; count: number }>;
  /** Resolves when every segment is in `result` and the successor took everything. */
  done: Promise<void>;
}

export class RingAllReduce {
  private readonly links: PeerLinks;
  private readonly kernels: Fp16Kernels;
  private readonly chunkElements: number;
  /** Wakes the sender of the step in progress when a chunk is ready to go (or its call broke). */
  private wakeSender: (() => void) | undefined;
  /** Partial sums this worker sends at reduce-scatter hops, at their gradient positions. */
  private partials: Uint16Array | Float32Array = new Uint16Array(0);

  constructor(
    private readonly server: PeerServer,
    token: string,
    tls: TlsFiles | undefined,
    chunkBytes = CHUNK_BYTES,
  ) {
    this.chunkElements = chunkBytes / 4;
    this.kernels = new Fp16Kernels(this.chunkElements);
    this.links = new PeerLinks(token, tls);
  }

  /** The failure of the step in progress, if any, to call when the run stops under it. */
  private failCurrent: ((error: Error) => void) | undefined;

  /** Ends the step in progress (if any) with `error`: the coordinator stopped, or left. */
  abort(error: Error): void {
    this.failCurrent?.(error);
  }

  close(): void {
    this.links.close();
  }

  run(step: RingStep): RingOutcome {
    const world = step.ring.length;
    const position = step.ring.findIndex((peer) => peer.rank === step.rank);
    if (position < 0) throw new ProtocolError('PROTOCOL_INVALID', `the ring of step ${step.step} does not include this worker (rank ${step.rank})`);
    const n = step.own.length;
    const segments = ringSegments(n, world);
    const owned = segments[ownedSegment(position, world)]!;
    const segment = { offset: owned.start, count: owned.count };
    if (world === 1) {
      this.combine(step, undefined, 0, n, step.result, 0);
      return { segment, finalUpTo: () => Promise.resolve(), owned: Promise.resolve(segment), done: Promise.resolve() };
    }
    if (this.partials.length !== n || this.partials.constructor !== step.own.constructor) {
      this.partials = step.own instanceof Uint16Array ? new Uint16Array(n) : new Float32Array(n);
    }
    const done = new Deferred<void>();
    // How much of the owned segment is final so far, the waiters for more, and why none will come.
    let final = 0;
    let waiters: Array<{ count: number; ready: Deferred<void> }> = [];
    let failure: Error | undefined;
    const finalUpTo = (count: number): Promise<void> => {
      if (count <= final) return Promise.resolve();
      const ready = new Deferred<void>();
      if (failure) ready.reject(failure);
      else waiters.push({ count, ready });
      return ready.promise;
    };
    const ownedFinal = finalUpTo(owned.count).then(() => segment);
    ownedFinal.catch(() => undefined); // awaited by the caller, or not at all
    // Ended early (a peer failed, the step was abandoned): stop sending and refuse what still comes.
    let stopSending: ((error: Error) => void) | undefined;
    let current: IncomingRing | undefined;
    const fail = (error: Error) => {
      if (done.settled) return;
      failure = error;
      done.reject(error);
      for (const waiter of waiters.splice(0)) waiter.ready.reject(error);
      if (this.failCurrent === fail) this.failCurrent = undefined;
      stopSending?.(error);
      current?.reject(error);
    };
    this.failCurrent = fail;
    const next = step.ring[nextRank(position, world)]!;
    const previous = step.ring[previousRank(position, world)]!;
    const outgoing = ringStream(position, world, n, this.chunkElements);
    const expected = ringStream(previousRank(position, world), world, n, this.chunkElements);
    // What may be sent so far: own first-hop chunks at once, the rest as their inputs come in.
    let ready = outgoing.filter((c) => c.hop === 0).length;
    const advance = () => {
      ready++;
      this.wakeSender?.();
    };
    for (const chunk of outgoing) if (chunk.hop === 0) this.combine(step, undefined, chunk.offset, chunk.count, this.partials, chunk.offset);
    const sending = this.send(step, next, outgoing, () => ready, (resolve) => (this.wakeSender = resolve), (stop) => (stopSending = stop));
    const receiving = this.server.incoming(step.generation, step.step).then((incoming) => {
      if (done.settled) {
        incoming.reject(new ProtocolError('STEP_ABANDONED', `step ${step.step} was abandoned on this worker`));
        return;
      }
      current = incoming;
      this.checkHeader(incoming, step, previous, world, n);
      return new Promise<void>((resolve, reject) => {
        let index = 0;
        incoming.consume({
          chunk: (message) => {
            try {
              const plan = expected[index];
              const what = `worker ${previous.rank} (${previous.address})'s ring chunk ${index} of step ${step.step}`;
              if (!plan) throw new ProtocolError('PROTOCOL_WRONG_SIZE', `${what}: more chunks than the ${expected.length} of the plan`);
              checkChunk(message, plan, what, step.dtype);
              this.take(step, plan, message.data, world);
              index++;
              if (isReduceScatter(plan.hop, world) && plan.hop === world - 2) {
                final += plan.count;
                waiters = waiters.filter((waiter) => (waiter.count <= final ? (waiter.ready.resolve(), false) : true));
              }
              if (plan.hop + 1 < ringHops(world)) advance();
            } catch (error) {
              incoming.reject(error);
              reject(error as Error);
            }
          },
          end: () => {
            if (index !== expected.length) {
              const error = new ProtocolError('PROTOCOL_WRONG_SIZE', `worker ${previous.rank} (${previous.address})'s ring stream of step ${step.step} ended (or was cancelled) after ${index} of ${expected.length} chunks`);
              incoming.reject(error);
              reject(error);
              return;
            }
            // Done only once the answer is on its way: what follows (Adam, the next step's
            // compute) holds the event loop for seconds, and the predecessor's step waits for it
            // (ResNet50, 2 workers: 1.8 s of exchange instead of 0.7 s when the verdict came first).
            void incoming.accept().then(resolve);
          },
          error: (error) => reject(error),
        });
      });
    });
    Promise.all([sending, receiving]).then(() => {
      if (done.settled) return;
      done.resolve();
      if (this.failCurrent === fail) this.failCurrent = undefined;
    }, fail);
    return { segment, finalUpTo, owned: ownedFinal, done: done.promise };
  }

  private checkHeader(incoming: IncomingRing, step: RingStep, previous: RingPeer, world: number, n: number): void {
    const { header } = incoming;
    const who = `the ring stream of step ${step.step} from ${previous.address}`;
    const problem =
      header.senderRank !== previous.rank ? `comes from rank ${header.senderRank}; this worker's predecessor is rank ${previous.rank}`
      : header.worldSize !== world ? `is for a world of ${header.worldSize}; the ring has ${world}`
      : header.gradientElements !== n ? `carries ${header.gradientElements} gradient values; the model has ${n}`
      : header.dtype !== step.dtype ? `is ${header.dtype}; this run exchanges ${step.dtype}`
      : undefined;
    if (problem) {
      const error = new ProtocolError('PROTOCOL_INVALID', `${who} ${problem}`);
      incoming.reject(error);
      throw error;
    }
  }

  /** target[at + i] = wire(fl32((partial ? 1 · partial[i] : 0) + w · own[offset + i])). */
  private combine(step: RingStep, partial: Uint8Array | undefined, offset: number, count: number, target: Uint16Array | Float32Array, at: number): void {
    const ownBytes = bytesOf(step.own);
    if (step.own instanceof Uint16Array) {
      if (partial) this.kernels.accumulate(partial, 0, count, 1, 0, true);
      this.kernels.accumulate(ownBytes, offset * 2, count, step.weight, 0, partial === undefined);
      this.kernels.encode(target as Uint16Array, at, count);
      return;
    }
    const sum = this.kernels.sum;
    const own = step.own;
    const incoming = partial ? floatsOf(partial, count) : undefined;
    for (let i = 0; i < count; i++) {
      const first = incoming ? 0 + 1 * incoming[i]! : 0;
      sum[i] = first + step.weight * own[offset + i]!;
    }
    (target as Float32Array).set(sum.subarray(0, count), at);
  }

  /** Uses one incoming chunk: a partial gets this worker's share; a final value is kept. */
  private take(step: RingStep, plan: RingChunkPlan, data: Uint8Array, world: number): void {
    if (isReduceScatter(plan.hop, world)) {
      const target = plan.hop === world - 2 ? step.result : this.partials;
      this.combine(step, data, plan.offset, plan.count, target, plan.offset);
      return;
    }
    const elementBytes = bytesPerElement(step.dtype);
    bytesOf(step.result).set(data, plan.offset * elementBytes);
  }

  /** Streams `plan` to the successor as fast as its chunks become ready. */
  private async send(
    step: RingStep,
    next: RingPeer,
    plan: readonly RingChunkPlan[],
    ready: () => number,
    sleep: (wake: () => void) => void,
    onStop: (stop: (error: Error) => void) => void,
  ): Promise<void> {
    const world = step.ring.length;
    const what = `the ring stream of step ${step.step} to worker ${next.rank} (${next.address})`;
    const call = this.links.open(next.address, what);
    let broken: Error | undefined;
    // A send waiting for its next chunk learns at once that the call failed.
    call.answered.catch((error: Error) => {
      broken ??= error;
      this.wakeSender?.();
    });
    onStop((error) => {
      broken ??= error;
      call.cancel();
      this.wakeSender?.();
    });
    const elementBytes = bytesPerElement(step.dtype);
    try {
      await call.sendHeader({ runId: step.runId, step: step.step, generation: step.generation, senderRank: step.rank, worldSize: world, gradientElements: step.own.length, dtype: step.dtype });
      for (let i = 0; i < plan.length; i++) {
        while (i >= ready() && !broken) await new Promise<void>((resolve) => sleep(resolve));
        if (broken) throw broken;
        const chunk = plan[i]!;
        // Reduce-scatter hops send partial sums (the last one's target is the result: final values).
        const source = isReduceScatter(chunk.hop, world) ? this.partials : step.result;
        await call.sendChunk(chunk.hop, chunk.segment, chunk.offset, bytesOf(source).subarray(chunk.offset * elementBytes, (chunk.offset + chunk.count) * elementBytes));
      }
      call.end();
    } catch (error) {
      call.cancel();
      throw new ProtocolError('PROTOCOL_INVALID', `${what} failed: ${describeError(error)}`, { cause: error });
    }
    await call.answered;
  }
}

function checkChunk(message: { hop: number; segment: number; offset: number; data: Uint8Array }, plan: RingChunkPlan, what: string, dtype: TensorDtype): void {
  const elementBytes = bytesPerElement(dtype);
  const field =
    message.hop !== plan.hop ? `hop ${message.hop}, expected ${plan.hop}`
    : message.segment !== plan.segment ? `segment ${message.segment}, expected ${plan.segment}`
    : message.offset !== plan.offset ? `offset ${message.offset}, expected ${plan.offset}`
    : message.data.byteLength !== plan.count * elementBytes ? `${message.data.byteLength} bytes, expected ${plan.count * elementBytes}`
    : undefined;
  if (field) throw new ProtocolError('PROTOCOL_INVALID', `${what}: ${field}`);
}

function floatsOf(data: Uint8Array, count: number): Float32Array {
  if (data.byteOffset % 4 === 0) return new Float32Array(data.buffer, data.byteOffset, count);
  return new Float32Array(data.slice(0, count * 4).buffer);
}
