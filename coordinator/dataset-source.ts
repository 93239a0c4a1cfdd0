// Where a run's data comes from: a dataset directory, or `synthetic` — the generated face set,
// written once into the cache and reused while its description (count, seed, generator version)
// still matches. Everything here runs before any worker starts, so a bad dataset is a clear error
// at once (SPEC §5).

import os from 'node:os';
import path from 'node:path';
import { classCounts, openDataset, type DatasetIndex } from '../shared/dataset/index.js';
import { stratifiedSplit, type DatasetSplit } from '../shared/dataset/split.js';
import { SYNTHETIC_FACE_VERSION } from '../shared/dataset/synthetic-faces.js';
import { SYNTHETIC_LAYOUT_VERSION, isSyntheticDatasetCurrent, writeSyntheticDataset } from '../shared/dataset/synthetic.js';

export interface PreparedDataset {
  index: DatasetIndex;
  split: DatasetSplit;
  /** Whether the synthetic set was generated now (rather than found in the cache). */
  generated: boolean;
}

export function cacheDir(): string {
  const explicit = process.env['EMOTRAIN_CACHE'];
  if (explicit) return path.resolve(explicit);
  const xdg = process.env['XDG_CACHE_HOME'];
  return path.join(xdg ? xdg : path.join(os.homedir(), '.cache'), 'emotrain');
}

export function syntheticDir(count: number, seed: number): string {
  return path.join(cacheDir(), `synthetic-v${SYNTHETIC_FACE_VERSION}.${SYNTHETIC_LAYOUT_VERSION}-n${count}-s${seed}`);
}

export async function prepareDataset(dataset: string, options: { syntheticCount: number; syntheticSeed: number; splitSeed: number }): Promise<PreparedDataset> {
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
  const index = await openDataset(path.resolve(root));
  const split = stratifiedSplit(index.samples.map((s) => s.label), options.splitSeed);
  return { index, split, generated };
}

export function describeSplit(prepared: PreparedDataset): string {
  const { index, split } = prepared;
  const parts = (['train', 'val', 'test'] as const).map((name) => `${name} ${split[name].length}`);
  const counts = classCounts(index);
  return `${index.samples.length} images (${parts.join(', ')}), layout ${index.layout}, per class [${counts.join(', ')}]`;
}
