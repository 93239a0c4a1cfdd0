// RAF-DB's official release (SPEC §5): `EmoLabel/list_patition_label.txt` (sic) lists
// `train_00001.jpg 5` lines; the aligned faces are `Image/aligned/train_00001_aligned.jpg`.
// RAF-DB numbers the basic emotions 1..7 = surprise, fear, disgust, happy, sad, angry, neutral;
// they are remapped to our order (shared/classes.ts). The release's own split is in the names:
// test_* images are its test set.

import { promises as fs } from 'node:fs';
import path from 'node:path';
import { EMOTION_CLASSES, type EmotionClass } from '../classes.js';
import { DatasetError } from '../errors.js';
import { isReadableFile } from './files.js';
import type { DatasetIndex, Partition, SampleRecord, SkippedFile } from './sample.js';

export const RAF_PARTITION_FILE = path.join('EmoLabel', 'list_patition_label.txt');
export const RAF_ALIGNED_DIR = path.join('Image', 'aligned');

/** RAF-DB label (1-based) → class name. */
export const RAF_LABEL_NAMES: readonly EmotionClass[] = ['surprise', 'fear', 'disgust', 'happy', 'sad', 'angry', 'neutral'];

/** RAF-DB label 1..7 → our class index, or undefined when out of range. */
export function rafLabelToClass(rafLabel: number): number | undefined {
  const name = RAF_LABEL_NAMES[rafLabel - 1];
  return Number.isInteger(rafLabel) && name !== undefined ? EMOTION_CLASSES.indexOf(name) : undefined;
}

/** Our class index → RAF-DB label 1..7. */
export function classToRafLabel(classIndex: number): number {
  const name = EMOTION_CLASSES[classIndex];
  const raf = name === undefined ? -1 : RAF_LABEL_NAMES.indexOf(name);
  if (raf < 0) throw new RangeError(`class index ${classIndex} is not one of 0..${EMOTION_CLASSES.length - 1}`);
  return raf + 1;
}

export function alignedImagePath(listedName: string): string {
  const stem = listedName.replace(/\.[^.]+$/, '');
  return path.join(RAF_ALIGNED_DIR, `${stem}_aligned.jpg`);
}

/** RAF-DB's split, from the image name: test_* is the release's test set. */
export function rafPartitionOf(name: string): Partition {
  return /^test_/i.test(path.basename(name)) ? 'test' : 'train';
}

export async function isRafDbOfficial(root: string): Promise<boolean> {
  return isReadableFile(path.join(root, RAF_PARTITION_FILE));
}

/** Indexes the release; files that are missing, empty or do not decode are found by validation. */
export async function loadRafDbOfficial(root: string): Promise<DatasetIndex> {
  const partitionPath = path.join(root, RAF_PARTITION_FILE);
  let text: string;
  try {
    text = await fs.readFile(partitionPath, 'utf8');
  } catch (cause) {
    throw new DatasetError('DATASET_NOT_FOUND', `cannot read the RAF-DB partition file ${partitionPath}`, { cause });
  }
  const samples: SampleRecord[] = [];
  const skipped: SkippedFile[] = [];
  text.split(/\r?\n/).forEach((rawLine, lineIndex) => {
    const line = rawLine.trim();
    if (line === '') return;
    const where = `${RAF_PARTITION_FILE}:${lineIndex + 1}`;
    const fields = line.split(/\s+/);
    if (fields.length !== 2) {
      skipped.push({ path: where, kind: 'malformed-entry', reason: `expected "<image> <label>", got ${JSON.stringify(line)}` });
      return;
    }
    const [name, labelText] = fields as [string, string];
    const label = rafLabelToClass(Number(labelText));
    if (label === undefined) {
      skipped.push({ path: alignedImagePath(name), kind: 'label-out-of-range', reason: `label ${JSON.stringify(labelText)} is out of range 1..7 (${where})` });
      return;
    }
    samples.push({ id: samples.length, path: alignedImagePath(name), label, partition: rafPartitionOf(name) });
  });
  return { root, layout: 'raf-db-official', samples, skipped };
}
