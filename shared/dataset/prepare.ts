// Where a run's data comes from: a dataset directory, or `synthetic` — the generated face set,
// written once into the cache and reused while its description (count, seed, generator version)
// still matches. The dataset is indexed, validated (every image decoded once, in a thread pool,
// verdicts cached) and split here, before any worker starts, so a bad dataset is a clear error
// at once and a bad file is skipped before training could meet it (SPEC §5).

import path from 'node:path';
import { cacheDir } from './cache-dir.js';
import { classCounts, openDataset, type DatasetIndex } from './index.js';
import { splitDataset, type SplitPlan } from './split.js';
import { SYNTHETIC_FACE_VERSION } from '../synthetic-face/index.js';
import { SYNTHETIC_LAYOUT_VERSION, isSyntheticDatasetCurrent, writeSyntheticDataset } from './synthetic.js';

export { cacheDir };

export interface PreparedDataset {
  index: DatasetIndex;
  split: SplitPlan;
  /** Whether the synthetic set was generated now (rather than found in the cache). */
  generated: boolean;
}

export interface DatasetSourceOptions {
  syntheticCount: number;
  syntheticSeed: number;
  splitSeed: number;
  /** --val-split; absent: the default held-out fraction (split.ts). */
  valSplit?: number | undefined;
  /** Threads that validate images (default: the CPU count). */
  threads?: number;
  log?: (line: string) => void;
}

export function syntheticDir(count: number, seed: number): string {
  return path.join(cacheDir(), `synthetic-v${SYNTHETIC_FACE_VERSION}.${SYNTHETIC_LAYOUT_VERSION}-n${count}-s${seed}`);
}

export async function prepareDataset(dataset: string, options: DatasetSourceOptions): Promise<PreparedDataset> {
  let root = dataset;
  let generated = false;
  if (dataset === 'synthetic') {
    root = syntheticDir(options.syntheticCount, options.syntheticSeed);
    const wanted = { count: options.syntheticCount, seed: options.syntheticSeed };
    if (!(await isSyntheticDatasetCurrent(root, wanted))) {
      await writeSyntheticDataset(root, wanted);
      generated = true;
    }
  }
  const index = await openDataset(root, {
    ...(options.threads !== undefined ? { threads: options.threads } : {}),
    ...(options.log ? { log: options.log } : {}),
  });
  return { index, split: splitDataset(index.samples, options.splitSeed, options.valSplit), generated };
}

export function describeSplit(prepared: PreparedDataset): string {
  const { index, split } = prepared;
  const parts = (['train', 'val', 'test'] as const).map((name) => `${name} ${split[name].length}`);
  const counts = classCounts(index);
  return `${index.samples.length} images (${parts.join(', ')}; ${split.rule}), layout ${index.layout}, per class [${counts.join(', ')}]`;
}
