import { describe, expect, it } from 'vitest';
import { EpochPlan, shardBatch, shardSizes } from '../coordinator/sharding.js';

describe('shard assignment', () => {
  it('gives shard sizes that differ by at most one and sum to the batch, for every small case', () => {
    for (let world = 1; world <= 9; world++) {
      for (let batch = 0; batch <= 140; batch++) {
        const sizes = shardSizes(batch, world);
        expect(sizes.length).toBe(world);
        expect(sizes.reduce((a, b) => a + b, 0)).toBe(batch);
        expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
      }
    }
  });

  it('cuts 128 into 64 + 64 for two workers and 43 + 43 + 42 for three', () => {
    expect(shardSizes(128, 2)).toEqual([64, 64]);
    expect(shardSizes(128, 3)).toEqual([43, 43, 42]);
  });

  it('makes shards that are disjoint and whose union is the global batch', () => {
    const trainIds = Array.from({ length: 1000 }, (_, i) => i * 3 + 7);
    const plan = new EpochPlan(trainIds, 128, 42, 0);
    for (let step = 0; step < plan.steps; step++) {
      const batch = plan.batch(step);
      const shards = plan.shards(step, 3);
      const union = shards.flatMap((s) => s.sampleIds);
      expect(union).toEqual(batch);
      expect(new Set(union).size).toBe(union.length);
      shards.forEach((s, rank) => expect(s.rank).toBe(rank));
    }
  });

  it('covers every training sample exactly once per epoch, with a partial last batch', () => {
    const trainIds = Array.from({ length: 300 }, (_, i) => i);
    const plan = new EpochPlan(trainIds, 128, 1, 4);
    expect(plan.steps).toBe(3);
    const seen = [0, 1, 2].flatMap((s) => plan.batch(s));
    expect(plan.batch(2).length).toBe(44);
    expect(seen.slice().sort((a, b) => a - b)).toEqual(trainIds);
  });

  it('is reproducible from the seed and differs between epochs and seeds', () => {
    const ids = Array.from({ length: 500 }, (_, i) => i);
    expect(new EpochPlan(ids, 128, 7, 2).batch(1)).toEqual(new EpochPlan(ids, 128, 7, 2).batch(1));
    expect(new EpochPlan(ids, 128, 7, 2).batch(0)).not.toEqual(new EpochPlan(ids, 128, 7, 3).batch(0));
    expect(new EpochPlan(ids, 128, 7, 2).batch(0)).not.toEqual(new EpochPlan(ids, 128, 8, 2).batch(0));
  });

  it('gives empty shards to the extra ranks when the batch is smaller than the world', () => {
    expect(shardBatch([5, 6], 4).map((s) => s.sampleIds)).toEqual([[5], [6], [], []]);
  });

  it('rejects steps outside the epoch', () => {
    const plan = new EpochPlan([1, 2, 3], 2, 0, 0);
    expect(() => plan.batch(2)).toThrow(/outside epoch 0/);
  });
});
