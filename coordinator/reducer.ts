// The coordinator's reduction of one step (SPEC §3). Each worker's payload — its loss-scaled
// gradients (fp16 or fp32) followed by its updated BatchNorm statistics (fp32) — is staged in a
// buffer of its own, reused every step; only a complete, validated upload is ever added. Uploads are
// added in rank order (as soon as every lower rank is in), so the float32 sums are the same in
// every run whatever order the workers finish in. The weights are shard size / global batch:
//   reduced = Σ_r (n_r / B) · g_r        (still scaled by the loss scale S)
// The reduced gradients go back in the wire dtype; since Σ n_r / B = 1 and every |g_r| ≤ 65504,
// the fp16 re-encoding cannot overflow. Every replica — the coordinator's shadow copy included —
// applies the decoded wire values divided by S, so all of them apply exactly the same numbers.

import { accumulateFp16, decodeFp16, encodeFp16 } from '../shared/fp16.js';
import type { Precision } from '../shared/config.js';
import { bytesOf, type TensorDtype } from '../shared/wire/index.js';

export interface RoundMember {
  rank: number;
  shardSize: number;
}

export interface ReductionResult {
  step: number;
  /** Ranks whose gradients held non-finite values (NaN, Inf, or fp16 overflow), with counts. */
  nonFinite: Array<{ rank: number; count: number }>;
  /** What travels back: reduced gradients in the wire dtype, then the averaged state (fp32). */
  payload: Uint8Array[];
  /** The reduced gradients as every replica will apply them (decoded wire values, still scaled). */
  gradients: Float32Array;
  state: Float32Array;
}

class Staging {
  readonly gradientBytes: Uint8Array;
  readonly stateBytes: Uint8Array;
  readonly gradients16: Uint16Array | undefined;
  readonly gradients32: Float32Array | undefined;
  readonly state: Float32Array;

  constructor(gradientElements: number, stateElements: number, dtype: TensorDtype) {
    if (dtype === 'TENSOR_DTYPE_FLOAT16') {
      this.gradients16 = new Uint16Array(gradientElements);
      this.gradientBytes = bytesOf(this.gradients16);
    } else {
      this.gradients32 = new Float32Array(gradientElements);
      this.gradientBytes = bytesOf(this.gradients32);
    }
    this.state = new Float32Array(stateElements);
    this.stateBytes = bytesOf(this.state);
  }
}

export class GradientReducer {
  readonly dtype: TensorDtype;
  private readonly staging = new Map<number, Staging>();
  private readonly sum: Float32Array;
  private readonly stateSum: Float32Array;
  private readonly wire16: Uint16Array | undefined;
  private readonly applied: Float32Array;

  private step = -1;
  private members: RoundMember[] = [];
  private globalBatch = 0;
  private complete = new Set<number>();
  private nextRankIndex = 0;
  private nonFinite: Array<{ rank: number; count: number }> = [];

  constructor(
    readonly gradientElements: number,
    readonly stateElements: number,
    precision: Precision,
  ) {
    this.dtype = precision === 'fp16' ? 'TENSOR_DTYPE_FLOAT16' : 'TENSOR_DTYPE_FLOAT32';
    this.sum = new Float32Array(gradientElements);
    this.stateSum = new Float32Array(stateElements);
    this.wire16 = precision === 'fp16' ? new Uint16Array(gradientElements) : undefined;
    this.applied = precision === 'fp16' ? new Float32Array(gradientElements) : this.sum;
  }

  /** Starts the round of `step` with these members (ranks ascending) and global batch size. */
  begin(step: number, members: readonly RoundMember[], globalBatch: number): void {
    const total = members.reduce((s, m) => s + m.shardSize, 0);
    if (total !== globalBatch) throw new RangeError(`shards of step ${step} sum to ${total}, not the global batch ${globalBatch}`);
    this.step = step;
    this.members = [...members].sort((a, b) => a.rank - b.rank);
    this.globalBatch = globalBatch;
    this.complete = new Set();
    this.nextRankIndex = 0;
    this.nonFinite = [];
    this.sum.fill(0);
    this.stateSum.fill(0);
  }

  get currentStep(): number {
    return this.step;
  }

  isMember(rank: number): boolean {
    return this.members.some((m) => m.rank === rank);
  }

  shardSizeOf(rank: number): number | undefined {
    return this.members.find((m) => m.rank === rank)?.shardSize;
  }

  hasCompleted(rank: number): boolean {
    return this.complete.has(rank);
  }

  /** The byte segments a rank's upload is received into (gradients, then state). */
  stagingFor(rank: number): Uint8Array[] {
    let staging = this.staging.get(rank);
    if (!staging) {
      staging = new Staging(this.gradientElements, this.stateElements, this.dtype);
      this.staging.set(rank, staging);
    }
    return [staging.gradientBytes, staging.stateBytes];
  }

  /** A rank's upload arrived whole and valid: add it (and any later ranks waiting on it). */
  markComplete(rank: number): void {
    if (!this.isMember(rank)) throw new RangeError(`rank ${rank} is not part of step ${this.step}`);
    this.complete.add(rank);
    while (this.nextRankIndex < this.members.length && this.complete.has(this.members[this.nextRankIndex]!.rank)) {
      this.add(this.members[this.nextRankIndex]!);
      this.nextRankIndex++;
    }
  }

  get ready(): boolean {
    return this.nextRankIndex === this.members.length && this.members.length > 0;
  }

  private add(member: RoundMember): void {
    const staging = this.staging.get(member.rank)!;
    const weight = member.shardSize / this.globalBatch;
    if (staging.gradients16) {
      const count = accumulateFp16(staging.gradients16, weight, this.sum);
      if (count > 0) this.nonFinite.push({ rank: member.rank, count });
    } else {
      const g = staging.gradients32!;
      let count = 0;
      for (let i = 0; i < g.length; i++) {
        const value = g[i]!;
        if (!Number.isFinite(value)) count++;
        this.sum[i]! += weight * value;
      }
      if (count > 0) this.nonFinite.push({ rank: member.rank, count });
    }
    const state = staging.state;
    for (let i = 0; i < state.length; i++) this.stateSum[i]! += weight * state[i]!;
  }

  /** The reduced result; call once `ready`. */
  finish(): ReductionResult {
    if (!this.ready) throw new RangeError(`step ${this.step} is not fully reduced yet`);
    let gradientBytes: Uint8Array;
    if (this.wire16) {
      encodeFp16(this.sum, this.wire16);
      decodeFp16(this.wire16, this.applied);
      gradientBytes = bytesOf(this.wire16);
    } else {
      gradientBytes = bytesOf(this.sum);
    }
    return {
      step: this.step,
      nonFinite: [...this.nonFinite],
      payload: [gradientBytes, bytesOf(this.stateSum)],
      gradients: this.applied,
      state: this.stateSum,
    };
  }
}
