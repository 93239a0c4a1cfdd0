// Opening a dataset: detect its layout (SPEC §5), build the index, and refuse an empty or unusable
// one with a clear error before any worker starts.

import { promises as fs } from 'node:fs';
import { EMOTION_CLASSES } from '../classes.js';
import { DatasetError } from '../errors.js';
import { isRafDbOfficial, loadRafDbOfficial } from './raf-db-official.js';
import type { DatasetIndex } from './sample.js';

export type { DatasetIndex, SampleRecord, SkippedFile } from './sample.js';

export async function openDataset(root: string): Promise<DatasetIndex> {
  try {
    const stat = await fs.stat(root);
    if (!stat.isDirectory()) throw new DatasetError('DATASET_NOT_FOUND', `dataset path ${root} is not a directory`);
  } catch (cause) {
    if (cause instanceof DatasetError) throw cause;
    throw new DatasetError('DATASET_NOT_FOUND', `dataset path ${root} does not exist or cannot be read`, { cause });
  }
  if (await isRafDbOfficial(root)) return requireUsable(await loadRafDbOfficial(root));
  throw new DatasetError(
    'DATASET_LAYOUT_UNKNOWN',
    `no known dataset layout in ${root}: expected RAF-DB's EmoLabel/list_patition_label.txt with Image/aligned/`,
  );
}

/** An index with no samples, or with a class that has none, cannot train a 7-class model. */
export function requireUsable(index: DatasetIndex): DatasetIndex {
  if (index.samples.length === 0) {
    const why = index.skipped.length > 0 ? `; all ${index.skipped.length} listed files were skipped (first: ${index.skipped[0]!.path}: ${index.skipped[0]!.reason})` : '';
    throw new DatasetError('DATASET_EMPTY', `dataset ${index.root} (${index.layout}) has no usable images${why}`);
  }
  const counts = classCounts(index);
  const missing = EMOTION_CLASSES.filter((_, c) => counts[c] === 0);
  if (missing.length > 0) {
    throw new DatasetError('DATASET_CLASS_EMPTY', `dataset ${index.root} has no images of class ${missing.join(', ')}`);
  }
  return index;
}

export function classCounts(index: DatasetIndex, ids?: readonly number[]): number[] {
  const counts = new Array<number>(EMOTION_CLASSES.length).fill(0);
  if (ids) for (const id of ids) counts[index.samples[id]!.label]!++;
  else for (const sample of index.samples) counts[sample.label]!++;
  return counts;
}
