// Opening a dataset: detect its layout (SPEC §5), build the index, validate every image once, and
// refuse an empty or unusable dataset with a clear error before any worker starts.

import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EMOTION_CLASSES } from '../classes.js';
import { DatasetError } from '../errors.js';
import { isFer2013Csv, loadFer2013Csv } from './fer2013-csv.js';
import { isImageFolders, loadImageFolders } from './image-folders.js';
import { isRafDbKaggle, loadRafDbKaggle } from './raf-db-kaggle.js';
import { isRafDbOfficial, loadRafDbOfficial } from './raf-db-official.js';
import type { DatasetIndex } from './sample.js';
import { validateIndex, type ValidationOptions } from './validate.js';
import { validationCacheFile } from './validation-cache.js';

export type { DatasetIndex, Partition, SampleRecord, SkippedFile, SkipKind } from './sample.js';
export { summarizeSkipped } from './sample.js';

interface Layout {
  name: string;
  /** How a person would recognise it, for the error when nothing matches. */
  looksLike: string;
  detect(root: string): Promise<boolean>;
  load(root: string): Promise<DatasetIndex>;
}

/** In the order they are tried: the most specific first. */
export const LAYOUTS: readonly Layout[] = [
  { name: 'raf-db-official', looksLike: 'EmoLabel/list_patition_label.txt with Image/aligned/', detect: isRafDbOfficial, load: loadRafDbOfficial },
  { name: 'raf-db-kaggle', looksLike: 'DATASET/train/<1..7>/ (with train_labels.csv)', detect: isRafDbKaggle, load: loadRafDbKaggle },
  { name: 'fer2013-csv', looksLike: 'a CSV file with emotion and pixels columns (fer2013.csv)', detect: isFer2013Csv, load: loadFer2013Csv },
  { name: 'image-folders', looksLike: '<split>/<label>/<image> or <label>/<image> folders named after the classes', detect: isImageFolders, load: loadImageFolders },
];

/** The layout of `root` and its index, before any image is decoded. */
export async function indexDataset(root: string): Promise<DatasetIndex> {
  try {
    const stat = await fs.stat(root);
    if (!stat.isDirectory()) throw new DatasetError('DATASET_NOT_FOUND', `dataset path ${root} is not a directory`);
  } catch (cause) {
    if (cause instanceof DatasetError) throw cause;
    throw new DatasetError('DATASET_NOT_FOUND', `dataset path ${root} does not exist or cannot be read`, { cause });
  }
  for (const layout of LAYOUTS) {
    if (await layout.detect(root)) return layout.load(root);
  }
  throw new DatasetError(
    'DATASET_LAYOUT_UNKNOWN',
    `no known dataset layout in ${root}: expected one of ${LAYOUTS.map((l) => `${l.name} (${l.looksLike})`).join('; ')}`,
  );
}

/**
 * The dataset as a run uses it: indexed, every image validated (bad files skipped with their
 * reason; by default in as many threads as there are CPUs, verdicts cached in the cache
 * directory), and usable — or a DatasetError saying why not.
 */
export async function openDataset(root: string, validation: Partial<ValidationOptions> = {}): Promise<DatasetIndex> {
  const absolute = path.resolve(root);
  const indexed = await indexDataset(absolute);
  const validated = await validateIndex(indexed, {
    threads: validation.threads ?? os.availableParallelism(),
    cacheFile: 'cacheFile' in validation ? validation.cacheFile : validationCacheFile(absolute),
    ...(validation.log ? { log: validation.log } : {}),
  });
  return requireUsable(validated);
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
    throw new DatasetError('DATASET_CLASS_EMPTY', `dataset ${index.root} (${index.layout}) has no usable images of class ${missing.join(', ')}`);
  }
  return index;
}

export function classCounts(index: DatasetIndex, ids?: readonly number[]): number[] {
  const counts = new Array<number>(EMOTION_CLASSES.length).fill(0);
  if (ids) for (const id of ids) counts[index.samples[id]!.label]!++;
  else for (const sample of index.samples) counts[sample.label]!++;
  return counts;
}
