// The coordinator's reduction of one step (SPEC §3), as uploads stream in. Each member's payload —
// its loss-scaled gradients (fp16 or fp32) followed by its BatchNorm statistics (fp32) — arrives
// in chunks; every byte range that all members have sent is reduced at once and is then final:
// it can stream back while later chunks still upload. A chunk is read where the transport has it,
// never copied: one that waits for slower members is kept as it is, and the step engine pauses
// that member's upload (its transport must not reuse the bytes) until the chunk is reduced. So
// what the reducer holds is at most a chunk per member ahead, whatever the gradient or the world.
//
// Members are added in rank order, each weighted by shard size / global batch:
//   reduced = Σ_r (n_r / B) · g_r        (still scaled by the loss scale S)
// in float32, so the sums are the same in every run whatever order chunks arrive in. The reduced
// gradients go back in the wire dtype; since Σ n_r / B = 1 and every |g_r| ≤ 65504, the fp16
// re-encoding cannot overflow. Every replica — the coordinator's shadow copy included — applies the
// decoded wire values divided by S, so all of them apply exactly the same numbers.

import type { Precision } from '../shared/config.js';
import { ProtocolError } from '../shared/errors.js';
import { Fp16Kernels } from '../shared/fp16/kernels.js';
import { bytesOf, CHUNK_BYTES, type TensorDtype } from '../shared/wire/index.js';

export interface RoundMember {
  rank: number;
  shardSize: number;
}

/** A byte range of the reduced payload (gradients, then state) that is final. */
export interface FinalRange {
  offset: number;
  length: number;
}

interface Received {
  offset: number;
  /** The transport's bytes, kept until reduced (the member's upload is paused meanwhile). */
  data: Uint8Array;
}

interface Contribution {
  rank: number;
  shardSize: number;
  weight: number;
  /** Contiguous bytes received so far. */
  received: number;
  /** Received chunks not yet wholly reduced, in order. */
  queue: Received[];
  nonFinite: number;
}

/**
 * What a reduction pass works in: the SIMD kernels (in whose memory the float32 sums of the range
 * being reduced are) and a buffer for unaligned float32s, a chunk's worth each. A pass runs start
 * to end within one call on one thread, so the step engine's two reducers share one.
 */
export class ReductionScratch {
  readonly kernels: Fp16Kernels;
  readonly aligned: Float32Array;

  constructor(readonly chunkBytes: number) {
    this.kernels = new Fp16Kernels(chunkBytes / 2);
    this.aligned = new Float32Array(chunkBytes / 4);
  }
}

/** Star: every member uploads its whole gradient and state; the coordinator adds them. */
export class GradientReducer implements RoundReducer {
  readonly dtype: TensorDtype;
  /** The reduced gradients of the current round, in the wire dtype (in shared memory: the coordinator's Adam thread reads them). */
  readonly gradientWire: Uint16Array | Float32Array;
  /** The reduced (shard-weighted mean) state of the current round. */
  readonly state: Float32Array;
  private readonly elementBytes: number;
  private readonly gradientBytes: number;
  /** The SIMD kernels and, in their memory, the float32 sums of the range being reduced. */
  private readonly kernels: Fp16Kernels;
  private readonly aligned: Float32Array;
  private readonly rangeBytes: number;

  private step = -1;
  private contributions: Contribution[] = [];
  private byRank = new Map<number, Contribution>();
  private reducedBytes = 0;

  constructor(
    readonly gradientElements: number,
    readonly stateElements: number,
    precision: Precision,
    /** Upload chunks are about this size; it bounds the work and memory of one reduction pass. */
    readonly chunkBytes = CHUNK_BYTES,
    scratch?: ReductionScratch,
  ) {
    if (chunkBytes % 4 !== 0 || chunkBytes <= 0) throw new RangeError(`chunk size must be a positive multiple of 4 bytes, got ${chunkBytes}`);
    if (scratch && scratch.chunkBytes !== chunkBytes) throw new RangeError(`the reduction scratch holds chunks of ${scratch.chunkBytes} bytes, not ${chunkBytes}`);
    this.dtype = precision === 'fp16' ? 'TENSOR_DTYPE_FLOAT16' : 'TENSOR_DTYPE_FLOAT32';
    this.elementBytes = precision === 'fp16' ? 2 : 4;
    this.gradientBytes = gradientElements * this.elementBytes;
    const wire = new SharedArrayBuffer(this.gradientBytes);
    this.gradientWire = precision === 'fp16' ? new Uint16Array(wire) : new Float32Array(wire);
    this.state = new Float32Array(stateElements);
    this.rangeBytes = chunkBytes;
    const { kernels, aligned } = scratch ?? new ReductionScratch(chunkBytes);
    this.kernels = kernels;
    this.aligned = aligned;
  }

  get expectedBytes(): number {
    return this.gradientBytes + this.state.byteLength;
  }

  expectedBytesOf(): number {
    return this.expectedBytes;
  }

  /** Star uploads declare no segment: the whole gradient travels. */
  declare(_rank: number, header: { segmentOffset: number; segmentElements: number }, who: string): void {
    if (header.segmentOffset !== 0 || header.segmentElements !== 0) {
      throw new ProtocolError('PROTOCOL_INVALID', `${who} declared a ring segment (${header.segmentOffset}, ${header.segmentElements}); this run reduces through the coordinator (--allreduce star)`);
    }
  }

  /** Starts (or restarts) the round of `step` with these members and global batch size. */
  begin(step: number, members: readonly RoundMember[], globalBatch: number): void {
    const total = members.reduce((s, m) => s + m.shardSize, 0);
    if (total !== globalBatch) throw new RangeError(`shards of step ${step} sum to ${total}, not the global batch ${globalBatch}`);
    this.step = step;
    this.contributions = [...members]
      .sort((a, b) => a.rank - b.rank)
      .map((m) => ({ rank: m.rank, shardSize: m.shardSize, weight: m.shardSize / globalBatch, received: 0, queue: [], nonFinite: 0 }));
    this.byRank = new Map(this.contributions.map((c) => [c.rank, c]));
    this.reducedBytes = 0;
  }

  get currentStep(): number {
    return this.step;
  }

  isMember(rank: number): boolean {
    return this.byRank.has(rank);
  }

  shardSizeOf(rank: number): number | undefined {
    return this.byRank.get(rank)?.shardSize;
  }

  /** Forgets what `rank` sent in this round (its upload broke off before anything of it was reduced). */
  discard(rank: number): void {
    const c = this.byRank.get(rank);
    if (!c) return;
    if (this.reducedBytes > 0) throw new RangeError(`rank ${rank}'s upload of step ${this.step} is partly reduced already`);
    c.received = 0;
    c.queue = [];
    c.nonFinite = 0;
  }

  /** Whether anything of this round has been reduced (after which an upload cannot be taken back). */
  get started(): boolean {
    return this.reducedBytes > 0;
  }

  /** Whether `rank` has sent its whole payload. */
  hasCompleted(rank: number): boolean {
    return this.byRank.get(rank)?.received === this.expectedBytes;
  }

  receivedBytes(rank: number): number {
    return this.byRank.get(rank)?.received ?? 0;
  }

  /** Chunks' worth of bytes `rank` sent that wait for slower members (held by reference: above 0, its transport must keep them). */
  backlog(rank: number): number {
    return ((this.byRank.get(rank)?.received ?? 0) - this.reducedBytes) / this.chunkBytes;
  }

  /** Every byte is reduced. */
  get ready(): boolean {
    return this.contributions.length > 0 && this.reducedBytes === this.expectedBytes;
  }

  /** Members whose gradients held non-finite values (NaN, Inf, or fp16 overflow), with counts. */
  get nonFinite(): Array<{ rank: number; count: number }> {
    return this.contributions.filter((c) => c.nonFinite > 0).map((c) => ({ rank: c.rank, count: c.nonFinite }));
  }

  /** Chunks kept, by reference, until slower members send theirs. */
  get heldChunks(): number {
    return this.contributions.reduce((n, c) => n + c.queue.length, 0);
  }

  /**
   * Takes `rank`'s next chunk (`what` names the upload in errors): it must follow the last one,
   * hold whole values, stay within one segment and within the declared size. Reduces every range
   * all members have now sent and returns those ranges, now final. What cannot be reduced yet is
   * kept by reference: while backlog(rank) is above 0 the caller must leave those bytes intact
   * (the step engine pauses the member's upload until then).
   */
  accept(rank: number, offset: number, data: Uint8Array, what: string): FinalRange[] {
    const c = this.byRank.get(rank);
    if (!c) throw new RangeError(`rank ${rank} is not part of step ${this.step}`);
    const end = offset + data.byteLength;
    if (offset !== c.received) throw new ProtocolError('PROTOCOL_INVALID', `${what}: TensorChunk.offset is ${offset}; the next chunk starts at byte ${c.received} (chunks must arrive in order)`);
    if (end > this.expectedBytes) throw new ProtocolError('PROTOCOL_WRONG_SIZE', `${what}: ${end} bytes received, more than the ${this.expectedBytes} declared`);
    if (data.byteLength > this.chunkBytes) throw new ProtocolError('PROTOCOL_WRONG_SIZE', `${what}: a chunk of ${data.byteLength} bytes; chunks are at most ${this.chunkBytes}`);
    const g = this.gradientBytes;
    if (offset < g && end > g) throw new ProtocolError('PROTOCOL_INVALID', `${what}: a chunk spans the gradients and the state at byte ${g}`);
    const unit = offset < g ? this.elementBytes : 4;
    if ((offset - (offset < g ? 0 : g)) % unit !== 0 || data.byteLength % unit !== 0) {
      throw new ProtocolError('PROTOCOL_INVALID', `${what}: a chunk of ${data.byteLength} bytes at byte ${offset} splits a ${unit}-byte value`);
    }
    if (offset >= g) this.checkFiniteState(data, (offset - g) / 4, what);
    if (data.byteLength === 0) return [];
    c.queue.push({ offset, data });
    c.received = end;
    return this.reduceAvailable();
  }

  private checkFiniteState(data: Uint8Array, firstValue: number, what: string): void {
    const n = data.byteLength / 4;
    const values = this.floatsOf(data, 0, n);
    for (let i = 0; i < n; i++) {
      if (!Number.isFinite(values[i]!)) throw new ProtocolError('PROTOCOL_NON_FINITE', `${what}: a non-finite BatchNorm statistic (value ${firstValue + i})`);
    }
  }

  /** `count` float32s of `data` from byte `byteStart` (copied when they are not 4-aligned). */
  private floatsOf(data: Uint8Array, byteStart: number, count: number): Float32Array {
    const at = data.byteOffset + byteStart;
    if (at % 4 === 0) return new Float32Array(data.buffer, at, count);
    bytesOf(this.aligned).set(data.subarray(byteStart, byteStart + count * 4));
    return this.aligned;
  }

  private reduceAvailable(): FinalRange[] {
    const target = Math.min(...this.contributions.map((c) => c.received));
    const final: FinalRange[] = [];
    while (this.reducedBytes < target) {
      const start = this.reducedBytes;
      const segmentEnd = start < this.gradientBytes ? this.gradientBytes : this.expectedBytes;
      const end = Math.min(target, segmentEnd, start + this.rangeBytes);
      this.reduceRange(start, end);
      this.reducedBytes = end;
      final.push({ offset: start, length: end - start });
    }
    for (const c of this.contributions) {
      while (c.queue.length > 0 && c.queue[0]!.offset + c.queue[0]!.data.byteLength <= this.reducedBytes) c.queue.shift();
    }
    return final;
  }

  /** Reduces payload bytes [start, end) (within one segment) across all members, in rank order. */
  private reduceRange(start: number, end: number): void {
    const inGradients = start < this.gradientBytes;
    const unit = inGradients ? this.elementBytes : 4;
    const halves = inGradients && this.elementBytes === 2;
    const sum = this.kernels.sum;
    this.contributions.forEach((c, position) => {
      // Walk this member's queued chunks over [start, end).
      for (const piece of c.queue) {
        const pieceEnd = piece.offset + piece.data.byteLength;
        if (pieceEnd <= start) continue;
        if (piece.offset >= end) break;
        const from = Math.max(start, piece.offset);
        const to = Math.min(end, pieceEnd);
        const count = (to - from) / unit;
        const into = (from - start) / unit;
        const byteStart = from - piece.offset;
        if (halves) c.nonFinite += this.kernels.accumulate(piece.data, byteStart, count, c.weight, into, position === 0);
        else {
          const n = addFloats(sum, into, this.floatsOf(piece.data, byteStart, count), count, c.weight, position === 0);
          if (inGradients) c.nonFinite += n;
        }
      }
    });
    const count = (end - start) / unit;
    if (!inGradients) {
      this.state.set(sum.subarray(0, count), (start - this.gradientBytes) / 4);
    } else if (this.gradientWire instanceof Uint16Array) {
      this.kernels.encode(this.gradientWire, start / 2, count);
    } else {
      this.gradientWire.set(sum.subarray(0, count), start / 4);
    }
  }

  /** The reduced payload (views of this round's buffers, valid until the reducer's next round). */
  payload(): Uint8Array[] {
    return [bytesOf(this.gradientWire), bytesOf(this.state)];
  }
}

/** sum[into + i] (+)= weight · values[i]; returns the count of non-finite values. */
function addFloats(sum: Float32Array, into: number, values: Float32Array, count: number, weight: number, first: boolean): number {
  let nonFinite = 0;
  for (let i = 0; i < count; i++) {
    const x = values[i]!;
    if (!Number.isFinite(x)) nonFinite++;
    sum[into + i] = first ? 0 + weight * x : sum[into + i]! + weight * x;
  }
  return nonFinite;
}

/** What the step engine needs of a round's reduction, for either all-reduce (star or ring). */
export interface RoundReducer {
  readonly dtype: TensorDtype;
  readonly gradientElements: number;
  readonly stateElements: number;
  /** The reduced gradients of the round (in shared memory, for the coordinator's Adam thread). */
  readonly gradientWire: Uint16Array | Float32Array;
  readonly state: Float32Array;
  readonly ready: boolean;
  readonly started: boolean;
  readonly nonFinite: Array<{ rank: number; count: number }>;
  /** Bytes `rank` uploads in a round. */
  expectedBytesOf(rank: number): number;
  begin(step: number, members: readonly RoundMember[], globalBatch: number): void;
  shardSizeOf(rank: number): number | undefined;
  /** Checks the parts of an upload's header that depend on the mode (and records them). */
  declare(rank: number, header: { nonFinite: number; segmentOffset: number; segmentElements: number }, who: string): void;
  /** Takes a chunk; bytes that wait for slower members are kept by reference while backlog(rank) > 0. */
  accept(rank: number, offset: number, data: Uint8Array, what: string): FinalRange[];
  hasCompleted(rank: number): boolean;
  receivedBytes(rank: number): number;
  /** Chunks' worth of `rank`'s bytes that wait, kept by reference: its transport must not reuse them. */
  backlog(rank: number): number;
  discard(rank: number): void;
  /** What streams back to every member (views valid until the round is reused). */
  payload(): Uint8Array[];
}
