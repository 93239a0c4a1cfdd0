// The coordinator's side of a ring step (--allreduce ring): the workers reduce the gradients among
// themselves (worker/ring-allreduce.ts); each uploads only the segment it owns — final values —
// and its BatchNorm statistics. The segments are put together into the reduced gradients the
// shadow model applies; the statistics are reduced here as in a star step (rank order, shard
// weights) and are all that streams back. The verdict comes from the workers' own counts of
// non-finite values, declared in their headers, so no worker applies before every count is in.

import type { Precision } from '../shared/config.js';
import { ProtocolError } from '../shared/errors.js';
import { ownedSegment, ringSegments, type RingSegment } from '../shared/ring-plan.js';
import { bytesOf, CHUNK_BYTES, type TensorDtype } from '../shared/wire/index.js';
import { GradientReducer, type FinalRange, type ReductionScratch, type RoundMember, type RoundReducer } from './reducer.js';

interface SegmentUpload {
  segment: RingSegment;
  received: number;
  nonFinite: number;
  declared: boolean;
}

export class RingReducer implements RoundReducer {
  readonly dtype: TensorDtype;
  readonly gradientWire: Uint16Array | Float32Array;
  private readonly elementBytes: number;
  /** The statistics, reduced as a star round with no gradients. */
  private readonly stateReducer: GradientReducer;
  private uploads = new Map<number, SegmentUpload>();
  private world = 0;

  constructor(
    readonly gradientElements: number,
    readonly stateElements: number,
    precision: Precision,
    chunkBytes = CHUNK_BYTES,
    scratch?: ReductionScratch,
  ) {
    this.dtype = precision === 'fp16' ? 'TENSOR_DTYPE_FLOAT16' : 'TENSOR_DTYPE_FLOAT32';
    this.elementBytes = precision === 'fp16' ? 2 : 4;
    const wire = new SharedArrayBuffer(gradientElements * this.elementBytes);
    this.gradientWire = precision === 'fp16' ? new Uint16Array(wire) : new Float32Array(wire);
    this.stateReducer = new GradientReducer(0, stateElements, precision, chunkBytes, scratch);
  }

  get state(): Float32Array {
    return this.stateReducer.state;
  }

  begin(step: number, members: readonly RoundMember[], globalBatch: number): void {
    this.stateReducer.begin(step, members, globalBatch);
    this.world = members.length;
    const segments = ringSegments(this.gradientElements, this.world);
    const ranks = [...members].map((m) => m.rank).sort((a, b) => a - b);
    // Positions in the ring are the ranks in order (shared/ring-plan.ts counts them 0..W-1).
    this.uploads = new Map(ranks.map((rank, position) => [rank, { segment: segments[ownedSegment(position, this.world)]!, received: 0, nonFinite: 0, declared: false }]));
  }

  private uploadOf(rank: number): SegmentUpload {
    const upload = this.uploads.get(rank);
    if (!upload) throw new RangeError(`rank ${rank} is not part of this ring step`);
    return upload;
  }

  private segmentBytes(upload: SegmentUpload): number {
    return upload.segment.count * this.elementBytes;
  }

  expectedBytesOf(rank: number): number {
    return this.segmentBytes(this.uploadOf(rank)) + this.stateElements * 4;
  }

  shardSizeOf(rank: number): number | undefined {
    return this.stateReducer.shardSizeOf(rank);
  }

  declare(rank: number, header: { nonFinite: number; segmentOffset: number; segmentElements: number }, who: string): void {
    const upload = this.uploadOf(rank);
    const { segment } = upload;
    if (header.segmentOffset !== segment.start || header.segmentElements !== segment.count) {
      throw new ProtocolError(
        'PROTOCOL_INVALID',
        `${who} declared segment [${header.segmentOffset}, +${header.segmentElements}); in a ring of ${this.world} it owns segment ${segment.index} = [${segment.start}, +${segment.count})`,
      );
    }
    if (!Number.isInteger(header.nonFinite) || header.nonFinite < 0 || header.nonFinite > this.gradientElements) {
      throw new ProtocolError('PROTOCOL_INVALID', `${who} declared ${header.nonFinite} non-finite gradient values; there are ${this.gradientElements}`);
    }
    upload.nonFinite = header.nonFinite;
    upload.declared = true;
  }

  accept(rank: number, offset: number, data: Uint8Array, what: string): FinalRange[] {
    const upload = this.uploadOf(rank);
    const segmentBytes = this.segmentBytes(upload);
    if (offset < segmentBytes) {
      if (offset !== upload.received) throw new ProtocolError('PROTOCOL_INVALID', `${what}: TensorChunk.offset is ${offset}; the next chunk starts at byte ${upload.received} (chunks must arrive in order)`);
      if (offset + data.byteLength > segmentBytes) throw new ProtocolError('PROTOCOL_INVALID', `${what}: a chunk spans the gradient segment and the state at byte ${segmentBytes}`);
      if (data.byteLength % this.elementBytes !== 0) throw new ProtocolError('PROTOCOL_INVALID', `${what}: a chunk of ${data.byteLength} bytes splits a ${this.elementBytes}-byte value`);
      bytesOf(this.gradientWire).set(data, upload.segment.start * this.elementBytes + offset);
      upload.received += data.byteLength;
      return [];
    }
    if (upload.received !== segmentBytes) throw new ProtocolError('PROTOCOL_INVALID', `${what}: state at byte ${offset} before the whole segment (${upload.received} of ${segmentBytes} bytes)`);
    return this.stateReducer.accept(rank, offset - segmentBytes, data, what);
  }

  hasCompleted(rank: number): boolean {
    const upload = this.uploadOf(rank);
    return upload.received === this.segmentBytes(upload) && this.stateReducer.hasCompleted(rank);
  }

  receivedBytes(rank: number): number {
    return this.uploadOf(rank).received + this.stateReducer.receivedBytes(rank);
  }

  backlog(rank: number): number {
    return this.stateReducer.backlog(rank);
  }

  get ready(): boolean {
    return this.stateReducer.ready && [...this.uploads.values()].every((u) => u.declared && u.received === this.segmentBytes(u));
  }

  /** Segments are each one member's own bytes, so only the statistics' sums make a round unretractable. */
  get started(): boolean {
    return this.stateReducer.started;
  }

  get nonFinite(): Array<{ rank: number; count: number }> {
    return [...this.uploads].filter(([, u]) => u.nonFinite > 0).map(([rank, u]) => ({ rank, count: u.nonFinite })).sort((a, b) => a.rank - b.rank);
  }

  discard(rank: number): void {
    const upload = this.uploadOf(rank);
    upload.received = 0;
    upload.nonFinite = 0;
    upload.declared = false;
    this.stateReducer.discard(rank);
  }

  /** Only the statistics go back: the workers have the gradients from the ring. */
  payload(): Uint8Array[] {
    return [bytesOf(this.state)];
  }
}
