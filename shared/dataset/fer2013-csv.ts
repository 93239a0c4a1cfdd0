// FER2013 as a CSV file (SPEC §5): `emotion,pixels,Usage` rows, each a 48x48 grey face as 2304
// space-separated values (fer2013.csv; icml_face_data.csv spells the header " Usage", " pixels").
// FER2013 numbers its classes 0..6 = Angry, Disgust, Fear, Happy, Sad, Surprise, Neutral; they are
// remapped to our order. Usage gives the split: Training → train, PublicTest → val (the
// validation set of the FER2013 challenge and of the papers that report on it), PrivateTest →
// test. Without a Usage column every row is unassigned and the run splits 80/10/10.
//
// The pixels stay in memory (36k faces are 83 MB); each sample is `<file>:<line>` and the
// coordinator serves it as a PNG, since it has no file of its own.

import { createReadStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { EMOTION_CLASSES, type EmotionClass } from '../classes.js';
import { DatasetError } from '../errors.js';
import { byCodeUnits, listDirectory } from './files.js';
import type { DatasetIndex, Partition, SampleRecord, SkippedFile } from './sample.js';

/** FER2013 label (0-based) → class name. */
export const FER2013_LABEL_NAMES: readonly EmotionClass[] = ['angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral'];

export const FER2013_USAGE: Readonly<Record<string, Partition>> = { training: 'train', publictest: 'val', privatetest: 'test' };

/** FER2013 label 0..6 → our class index, or undefined when out of range. */
export function fer2013LabelToClass(ferLabel: number): number | undefined {
  const name = FER2013_LABEL_NAMES[ferLabel];
  return Number.isInteger(ferLabel) && name !== undefined ? EMOTION_CLASSES.indexOf(name) : undefined;
}

interface CsvColumns {
  emotion: number;
  pixels: number;
  usage: number | undefined;
  count: number;
}

function columnsOf(header: string): CsvColumns | undefined {
  const names = header.split(',').map((n) => n.trim().toLowerCase());
  const emotion = names.indexOf('emotion');
  const pixels = names.indexOf('pixels');
  if (emotion < 0 || pixels < 0) return undefined;
  const usage = names.indexOf('usage');
  return { emotion, pixels, usage: usage < 0 ? undefined : usage, count: names.length };
}

async function firstLine(file: string): Promise<string> {
  const handle = await fs.open(file, 'r');
  try {
    const buffer = Buffer.alloc(256);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    return buffer.subarray(0, bytesRead).toString('utf8').split(/\r?\n/)[0] ?? '';
  } finally {
    await handle.close();
  }
}

/** The CSV at the top of `root` with emotion and pixels columns; one with a Usage column first, then by name. */
export async function findFer2013Csv(root: string): Promise<string | undefined> {
  const found: Array<{ name: string; hasUsage: boolean }> = [];
  for (const entry of await listDirectory(root)) {
    if (!entry.isFile || !entry.name.toLowerCase().endsWith('.csv')) continue;
    const columns = columnsOf(await firstLine(path.join(root, entry.name)));
    if (columns) found.push({ name: entry.name, hasUsage: columns.usage !== undefined });
  }
  found.sort((a, b) => Number(b.hasUsage) - Number(a.hasUsage) || byCodeUnits(a.name, b.name));
  return found[0]?.name;
}

export async function isFer2013Csv(root: string): Promise<boolean> {
  return (await findFer2013Csv(root)) !== undefined;
}

export async function loadFer2013Csv(root: string): Promise<DatasetIndex> {
  const name = await findFer2013Csv(root);
  if (name === undefined) throw new DatasetError('DATASET_LAYOUT_UNKNOWN', `no CSV file with emotion and pixels columns in ${root}`);
  const lines = createInterface({ input: createReadStream(path.join(root, name)), crlfDelay: Infinity });
  const samples: SampleRecord[] = [];
  const skipped: SkippedFile[] = [];
  let columns: CsvColumns | undefined;
  let lineNumber = 0;
  for await (const line of lines) {
    lineNumber++;
    if (columns === undefined) {
      columns = columnsOf(line);
      continue;
    }
    if (line.trim() === '') continue;
    const where = `${name}:${lineNumber}`;
    const row = parseRow(line, columns);
    if (typeof row === 'string') {
      skipped.push({ path: where, kind: 'malformed-entry', reason: row });
      continue;
    }
    const label = fer2013LabelToClass(row.ferLabel);
    if (label === undefined) {
      skipped.push({ path: where, kind: 'label-out-of-range', reason: `emotion ${JSON.stringify(row.ferLabelText)} is out of range 0..6` });
      continue;
    }
    samples.push({ id: samples.length, path: where, label, pixels: row.pixels, ...(row.partition ? { partition: row.partition } : {}) });
  }
  return { root, layout: 'fer2013-csv', samples, skipped };
}

interface Fer2013Row {
  ferLabel: number;
  ferLabelText: string;
  partition: Partition | undefined;
  pixels: { width: number; height: number; data: Uint8Array };
}

/** One data row, or why it cannot be used. */
export function parseRow(line: string, columns: CsvColumns): Fer2013Row | string {
  // Fields may be quoted ("70 80 82 ...", as Kaggle's train.csv has them); none contains a comma.
  const fields = line.split(',').map((field) => field.trim().replace(/^"(.*)"$/, '$1'));
  if (fields.length !== columns.count) return `expected ${columns.count} comma-separated fields, got ${fields.length}`;
  const ferLabelText = fields[columns.emotion]!.trim();
  let partition: Partition | undefined;
  if (columns.usage !== undefined) {
    const usage = fields[columns.usage]!.trim();
    partition = FER2013_USAGE[usage.toLowerCase()];
    if (partition === undefined) return `Usage ${JSON.stringify(usage)} is not Training, PublicTest or PrivateTest`;
  }
  const text = fields[columns.pixels]!.trim();
  // At most one value per two characters; 16 bits so that a value above 255 can be reported.
  const values = new Uint16Array((text.length >> 1) + 1);
  let count = 0;
  let value = -1;
  for (let i = 0; i <= text.length; i++) {
    const code = i < text.length ? text.charCodeAt(i) : 32;
    if (code >= 48 && code <= 57) {
      value = (value < 0 ? 0 : value * 10) + code - 48;
      if (value > 65535) value = 65535;
    } else if (code === 32 || code === 9) {
      if (value >= 0) values[count++] = value;
      value = -1;
    } else {
      return `pixels contain ${JSON.stringify(text[i])} at character ${i + 1}; expected space-separated numbers 0..255`;
    }
  }
  const side = Math.round(Math.sqrt(count));
  if (count === 0 || side * side !== count) return `${count} pixel values do not make a square image (FER2013 rows have 48 x 48 = 2304)`;
  const pixels = values.subarray(0, count);
  const tooBright = pixels.findIndex((v) => v > 255);
  if (tooBright >= 0) return `pixel ${tooBright + 1} is ${pixels[tooBright]}, outside 0..255`;
  return { ferLabel: Number(ferLabelText === '' ? NaN : ferLabelText), ferLabelText, partition, pixels: { width: side, height: side, data: Uint8Array.from(pixels) } };
}
