// Which samples each worker gets at each step (SPEC §3). The data order of an epoch is a seeded
// permutation of the training ids; global batch `step` is the step-th slice of it; the slice is cut
// into contiguous shards, one per rank, whose sizes differ by at most one (the first
// `size % world` ranks take one more). A run is therefore reproducible from its seed, and a resumed
// run continues the same order.

import { deriveSeed, seededPermutation } from '../shared/random.js';

export interface Shard {
  rank: number;
  /** Position of the shard's first sample within the global batch. */
  offset: number;
  sampleIds: number[];
}

/** Sizes of the shards of a batch of `batchSize` over `world` ranks. */
export function shardSizes(batchSize: number, world: number): number[] {
  if (!Number.isInteger(world) || world < 1) throw new RangeError(`world size must be a positive integer, got ${world}`);
  if (!Number.isInteger(batchSize) || batchSize < 0) throw new RangeError(`batch size must be a non-negative integer, got ${batchSize}`);
  const base = Math.floor(batchSize / world);
  const extra = batchSize % world;
  return Array.from({ length: world }, (_, rank) => base + (rank < extra ? 1 : 0));
}

/** Cuts one global batch into per-rank shards. */
export function shardBatch(batch: readonly number[], world: number): Shard[] {
  const sizes = shardSizes(batch.length, world);
  const shards: Shard[] = [];
  let offset = 0;
  for (let rank = 0; rank < world; rank++) {
    const size = sizes[rank]!;
    shards.push({ rank, offset, sampleIds: batch.slice(offset, offset + size) });
    offset += size;
  }
  return shards;
}

/** The data order of one epoch and the global batches cut from it. */
export class EpochPlan {
  readonly order: Uint32Array;

  constructor(
    private readonly trainIds: readonly number[],
    readonly globalBatch: number,
    seed: number,
    readonly epoch: number,
  ) {
    if (!Number.isInteger(globalBatch) || globalBatch < 1) throw new RangeError(`global batch must be a positive integer, got ${globalBatch}`);
    this.order = seededPermutation(trainIds.length, deriveSeed(seed, 0x0e9c, epoch));
  }

  /** Steps in the epoch; the last batch may be partial (Keras keeps it). */
  get steps(): number {
    return Math.ceil(this.trainIds.length / this.globalBatch);
  }

  batch(stepInEpoch: number): number[] {
    if (!Number.isInteger(stepInEpoch) || stepInEpoch < 0 || stepInEpoch >= this.steps) {
      throw new RangeError(`step ${stepInEpoch} is outside epoch ${this.epoch} (0..${this.steps - 1})`);
    }
    const start = stepInEpoch * this.globalBatch;
    const end = Math.min(start + this.globalBatch, this.trainIds.length);
    const ids: number[] = [];
    for (let i = start; i < end; i++) ids.push(this.trainIds[this.order[i]!]!);
    return ids;
  }

  shards(stepInEpoch: number, world: number): Shard[] {
    return shardBatch(this.batch(stepInEpoch), world);
  }
}
