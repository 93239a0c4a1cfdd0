import { describe, expect, it } from 'vitest';
import { classCounts } from '../shared/dataset/index.js';
import type { Partition } from '../shared/dataset/sample.js';
import { classSplitCounts, splitDataset, stratifiedSplit } from '../shared/dataset/split.js';

const labels = Array.from({ length: 1000 }, (_, i) => (i * 7919) % 7);
const ofClass = (ids: number[], c: number, of: readonly number[] = labels) => ids.filter((id) => of[id] === c).length;

describe('stratified split', () => {
  it('cuts every class 80/10/10 (rounded), disjoint and covering everything', () => {
    const split = stratifiedSplit(labels, 42);
    const all = [...split.train, ...split.val, ...split.test];
    expect(new Set(all).size).toBe(labels.length);
    for (let c = 0; c < 7; c++) {
      const n = labels.filter((l) => l === c).length;
      expect(ofClass(split.val, c)).toBe(Math.round(n * 0.1));
      expect(ofClass(split.test, c)).toBe(Math.round(n * 0.1));
      expect(ofClass(split.train, c)).toBe(n - 2 * Math.round(n * 0.1));
    }
  });

  it('is stable for a seed and changes with it', () => {
    expect(stratifiedSplit(labels, 42)).toEqual(stratifiedSplit(labels, 42));
    expect(stratifiedSplit(labels, 42).val).not.toEqual(stratifiedSplit(labels, 43).val);
  });

  it('keeps at least one sample of a small class in val and in test', () => {
    expect(classSplitCounts(3, { train: 0.8, val: 0.1, test: 0.1 })).toEqual({ train: 1, val: 1, test: 1 });
    expect(classSplitCounts(2, { train: 0.8, val: 0.1, test: 0.1 })).toEqual({ train: 2, val: 0, test: 0 });
  });

  it('counts classes of an index', () => {
    const counts = classCounts({ root: '', layout: 'x', skipped: [], samples: [0, 1, 1, 6].map((label, id) => ({ id, label, path: '' })) });
    expect(counts).toEqual([1, 2, 0, 0, 0, 0, 1]);
  });
});

describe('the split rule of a run', () => {
  const withPartitions = (partitionOf: (id: number) => Partition | undefined) =>
    labels.map((label, id) => {
      const partition = partitionOf(id);
      return partition ? { label, partition } : { label };
    });

  it('cuts a dataset without a split of its own 80/10/10, stratified', () => {
    const plan = splitDataset(withPartitions(() => undefined), 42);
    expect({ train: plan.train, val: plan.val, test: plan.test }).toEqual(stratifiedSplit(labels, 42));
    expect(plan.rule).toMatch(/80\/10\/10/);
  });

  it("keeps the dataset's own test split and cuts val from the rest 8:1, stratified, seeded, disjoint", () => {
    const samples = withPartitions((id) => (id % 5 === 0 ? 'test' : 'train'));
    const plan = splitDataset(samples, 42);
    expect(plan.test).toEqual(labels.map((_, id) => id).filter((id) => id % 5 === 0));
    expect(new Set([...plan.train, ...plan.val, ...plan.test]).size).toBe(labels.length);
    for (let c = 0; c < 7; c++) {
      const rest = labels.filter((l, id) => l === c && id % 5 !== 0).length;
      expect(ofClass(plan.val, c)).toBe(Math.round(rest / 9));
      expect(ofClass(plan.train, c)).toBe(rest - Math.round(rest / 9));
    }
    expect(splitDataset(samples, 42)).toEqual(plan);
    expect(splitDataset(samples, 7).val).not.toEqual(plan.val);
    expect(splitDataset(samples, 7).test).toEqual(plan.test);
    expect(plan.rule).toMatch(/own test split; val: 1\/9 of the rest/);
  });

  it("keeps the dataset's own val and test splits as they are (FER2013's PublicTest and PrivateTest)", () => {
    const plan = splitDataset(withPartitions((id) => (['train', 'val', 'test'] as const)[id % 3]), 42);
    expect(plan.val.every((id) => id % 3 === 1)).toBe(true);
    expect(plan.test.every((id) => id % 3 === 2)).toBe(true);
    expect(plan.train.length + plan.val.length + plan.test.length).toBe(labels.length);
  });

  it("keeps the dataset's own val split and cuts test from the rest 8:1", () => {
    const plan = splitDataset(withPartitions((id) => (id % 4 === 0 ? 'val' : undefined)), 42);
    expect(plan.val.every((id) => id % 4 === 0)).toBe(true);
    expect(plan.test.length).toBeGreaterThan(0);
    expect(plan.test.every((id) => id % 4 !== 0)).toBe(true);
    expect(plan.rule).toMatch(/own val split; test: 1\/9 of the rest/);
  });

  describe('--val-split', () => {
    const withTest = withPartitions((id) => (id % 5 === 0 ? 'test' : 'train'));

    it('holds out that fraction of the non-test data for val, per class, and trains on the rest', () => {
      const plan = splitDataset(withTest, 42, 0.05);
      const byDefault = splitDataset(withTest, 42);
      expect(plan.test).toEqual(byDefault.test);
      expect(new Set([...plan.train, ...plan.val, ...plan.test]).size).toBe(labels.length);
      for (let c = 0; c < 7; c++) {
        const rest = labels.filter((l, id) => l === c && id % 5 !== 0).length;
        expect(ofClass(plan.val, c)).toBe(Math.round(rest * 0.05));
        expect(ofClass(plan.train, c)).toBe(rest - Math.round(rest * 0.05));
      }
      expect(plan.train.length).toBeGreaterThan(byDefault.train.length);
      expect(plan.rule).toBe("test: the dataset's own test split; val: 5% of the rest (--val-split), stratified by class (seed 42)");
      expect(splitDataset(withTest, 42, 0.05)).toEqual(plan);
    });

    it('cuts a dataset without splits into 10% test and that fraction of the rest for val', () => {
      const plan = splitDataset(withPartitions(() => undefined), 42, 0.25);
      expect(new Set([...plan.train, ...plan.val, ...plan.test]).size).toBe(labels.length);
      for (let c = 0; c < 7; c++) {
        const n = labels.filter((l) => l === c).length;
        expect(ofClass(plan.test, c, labels)).toBe(Math.round(n * 0.1));
        expect(ofClass(plan.val, c, labels)).toBe(Math.round(n * 0.9 * 0.25));
      }
      expect(plan.rule).toMatch(/^test: 10%; val: 25% of the rest \(--val-split\)/);
    });

    it('leaves the default split as it was when not given', () => {
      expect(splitDataset(withTest, 42, undefined)).toEqual(splitDataset(withTest, 42));
    });

    it("is refused for a dataset with its own val split, naming it, and outside (0, 0.5]", () => {
      expect(() => splitDataset(withPartitions((id) => (id % 4 === 0 ? 'val' : undefined)), 42, 0.05)).toThrow(
        /--val-split 0.05 cannot be used with this dataset: it has its own val split \(250 images\)/,
      );
      for (const bad of [0, -0.1, 0.6, Number.NaN]) {
        expect(() => splitDataset(withTest, 42, bad)).toThrow(/--val-split must be a number in \(0, 0.5\]/);
      }
    });
  });
});
