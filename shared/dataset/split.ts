// The stratified, seeded train/val/test split (SPEC §1: 80/10/10 by class). Each class's samples,
// in index order, are shuffled with a seed derived from the run seed and the class, then cut by
// the fractions, so the split is stable across runs and machines and independent of the order in
// which classes happen to be listed.

import { deriveSeed, SeededRandom } from '../random.js';

export interface SplitFractions {
  train: number;
  val: number;
  test: number;
}

export const REFERENCE_SPLIT: SplitFractions = { train: 0.8, val: 0.1, test: 0.1 };

export interface DatasetSplit {
  train: number[];
  val: number[];
  test: number[];
}

/** How many of `n` samples of one class go to val and test: proportional, at least one each once n >= 3. */
export function classSplitCounts(n: number, fractions: SplitFractions): { train: number; val: number; test: number } {
  let val = Math.round(n * fractions.val);
  let test = Math.round(n * fractions.test);
  if (n >= 3) {
    if (fractions.val > 0) val = Math.max(val, 1);
    if (fractions.test > 0) test = Math.max(test, 1);
  }
  if (val + test > n) {
    test = Math.min(test, n);
    val = n - test;
  }
  return { train: n - val - test, val, test };
}

/**
 * Splits sample ids 0..labels.length-1 by class. Returns ids sorted ascending within each part so
 * the result does not depend on shuffle internals beyond membership.
 */
export function stratifiedSplit(labels: ArrayLike<number>, seed: number, fractions: SplitFractions = REFERENCE_SPLIT): DatasetSplit {
  const byClass = new Map<number, number[]>();
  for (let id = 0; id < labels.length; id++) {
    const label = labels[id]!;
    let ids = byClass.get(label);
    if (!ids) byClass.set(label, (ids = []));
    ids.push(id);
  }
  const split: DatasetSplit = { train: [], val: [], test: [] };
  for (const [label, ids] of [...byClass.entries()].sort((a, b) => a[0] - b[0])) {
    new SeededRandom(deriveSeed(seed, 0x5b1, label)).shuffle(ids);
    const counts = classSplitCounts(ids.length, fractions);
    split.val.push(...ids.slice(0, counts.val));
    split.test.push(...ids.slice(counts.val, counts.val + counts.test));
    split.train.push(...ids.slice(counts.val + counts.test));
  }
  const ascending = (a: number, b: number) => a - b;
  split.train.sort(ascending);
  split.val.sort(ascending);
  split.test.sort(ascending);
  return split;
}
