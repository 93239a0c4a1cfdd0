// The stratified, seeded train/val/test split (SPEC §1: 80/10/10 by class), and the rule for
// datasets that come with a split of their own (splitDataset). Each class's samples, in index
// order, are shuffled with a seed derived from the run seed and the class, then cut by the
// fractions, so the split is stable across runs and machines and independent of the order in
// which classes happen to be listed.

import { deriveSeed, SeededRandom } from '../random.js';
import { ConfigError } from '../errors.js';
import type { Partition } from './sample.js';

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

/** The rest of a dataset that has its own test (or val) split: 8 parts train to 1 part held out. */
export const HELD_OUT_FRACTION = 1 / 9;

/** The largest --val-split: beyond it a run would choose on more faces than it trains on. */
export const MAX_VAL_SPLIT = 0.5;

/** Refuses a --val-split outside (0, MAX_VAL_SPLIT]; absent is the default, 1/9. */
export function checkValSplit(valSplit: number | undefined): void {
  if (valSplit === undefined) return;
  if (typeof valSplit !== 'number' || !Number.isFinite(valSplit) || valSplit <= 0 || valSplit > MAX_VAL_SPLIT) {
    throw new ConfigError(
      'CONFIG_INVALID',
      `--val-split must be a number in (0, ${MAX_VAL_SPLIT}] (the fraction of the non-test data held out for val), got ${JSON.stringify(valSplit)}: a run needs val for its LR schedule and best checkpoint`,
    );
  }
}

/** How a held-out fraction reads in a split rule: "1/9" for the default, a percentage otherwise. */
function fractionText(fraction: number): string {
  return fraction === HELD_OUT_FRACTION ? '1/9' : `${Number((fraction * 100).toFixed(2))}%`;
}

export interface PartitionedSample {
  label: number;
  partition?: Partition;
}

export interface SplitPlan extends DatasetSplit {
  /** The rule that made it, for reports and config.json. */
  rule: string;
}

/**
 * The split a run uses (README "Datasets"): a split the dataset's layout has (RAF-DB's test_*
 * images, a test/ or val/ folder, FER2013's Usage) is kept; whichever of val and test it lacks is
 * cut from its training part, stratified by class, 1 part in 9 (so the rest trains 8:1). A dataset
 * with no split of its own is cut 80/10/10, stratified. Seeded: the same seed gives the same split.
 *
 * `valSplit` (--val-split, Keras' validation_split) is the fraction of what is not test that is
 * held out for val: 1/9 unless given, which is the 80/10/10 above. A smaller one trains on more
 * faces and chooses on fewer. A dataset whose layout has its own val split refuses one.
 */
export function splitDataset(samples: readonly PartitionedSample[], seed: number, valSplit?: number): SplitPlan {
  const given = { train: [] as number[], val: [] as number[], test: [] as number[] };
  samples.forEach((sample, id) => given[sample.partition ?? 'train'].push(id));
  const hasTest = given.test.length > 0;
  const hasVal = given.val.length > 0;
  checkValSplit(valSplit);
  if (valSplit !== undefined && hasVal) {
    throw new ConfigError(
      'CONFIG_INVALID',
      `--val-split ${valSplit} cannot be used with this dataset: it has its own val split (${given.val.length} images), which the run uses as it is`,
    );
  }
  const valFraction = valSplit ?? HELD_OUT_FRACTION;
  if (!hasTest && !hasVal) {
    const labels = samples.map((s) => s.label);
    if (valSplit === undefined) return { ...stratifiedSplit(labels, seed), rule: `80/10/10 train/val/test, stratified by class (seed ${seed})` };
    const test = REFERENCE_SPLIT.test;
    return {
      ...stratifiedSplit(labels, seed, { train: (1 - test) * (1 - valFraction), val: (1 - test) * valFraction, test }),
      rule: `test: ${fractionText(test)}; val: ${fractionText(valFraction)} of the rest (--val-split); stratified by class (seed ${seed})`,
    };
  }
  if (hasTest && hasVal) {
    return { ...given, rule: "the dataset's own train, val and test splits" };
  }
  const rest = given.train;
  const cut = stratifiedSplit(
    rest.map((id) => samples[id]!.label),
    seed,
    hasTest ? { train: 1 - valFraction, val: valFraction, test: 0 } : { train: 1 - HELD_OUT_FRACTION, val: 0, test: HELD_OUT_FRACTION },
  );
  const ids = (positions: number[]) => positions.map((p) => rest[p]!);
  if (hasTest) {
    const chosen = valSplit === undefined ? '' : ' (--val-split)';
    return { train: ids(cut.train), val: ids(cut.val), test: given.test, rule: `test: the dataset's own test split; val: ${fractionText(valFraction)} of the rest${chosen}, stratified by class (seed ${seed})` };
  }
  return { train: ids(cut.train), val: given.val, test: ids(cut.test), rule: `val: the dataset's own val split; test: 1/9 of the rest, stratified by class (seed ${seed})` };
}
