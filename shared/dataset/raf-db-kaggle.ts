// RAF-DB as re-packaged on Kaggle (SPEC §5): `DATASET/train/<1..7>/train_00001_aligned.jpg`,
// `DATASET/test/<1..7>/test_0001_aligned.jpg`, with `train_labels.csv` and `test_labels.csv`
// (`image,label`) beside DATASET/. Folder names are RAF-DB's labels 1..7 (surprise, fear, disgust,
// happy, sad, angry, neutral), remapped to our order; test/ is the release's test split.
//
// The folders are what the images are; the CSV files, where present, are checked against them:
// an image the CSV labels differently is left out as a conflict, a CSV row without its image is
// reported missing. Pointing at DATASET/ itself (no CSV files) works too.

import { promises as fs } from 'node:fs';
import path from 'node:path';
import { findEntry, listDirectory } from './files.js';
import { scanLabelFolders, type LabelFolderRules } from './label-folders.js';
import { rafLabelToClass } from './raf-db-official.js';
import type { DatasetIndex, Partition, SampleRecord, SkippedFile } from './sample.js';

const SPLITS: ReadonlyArray<{ partition: Partition; folder: string; csv: string }> = [
  { partition: 'train', folder: 'train', csv: 'train_labels.csv' },
  { partition: 'test', folder: 'test', csv: 'test_labels.csv' },
];

const RULES: LabelFolderRules = {
  labelOf: (name) => (/^[1-7]$/.test(name) ? rafLabelToClass(Number(name)) : undefined),
  expected: "RAF-DB's labels 1..7",
};

/** Where the split folders are: `DATASET/` below the root, or the root itself. */
async function datasetFolder(root: string): Promise<string | undefined> {
  const entries = await listDirectory(root);
  const dataset = findEntry(entries, ['DATASET'], 'directory');
  if (dataset) {
    const inside = await listDirectory(path.join(root, dataset.name));
    if (SPLITS.some((s) => findEntry(inside, [s.folder], 'directory'))) return dataset.name;
  }
  for (const split of SPLITS) {
    const folder = findEntry(entries, [split.folder], 'directory');
    if (!folder) continue;
    const labels = (await listDirectory(path.join(root, folder.name))).filter((e) => e.isDirectory);
    if (labels.length > 0 && labels.every((e) => /^\d+$/.test(e.name))) return '';
  }
  return undefined;
}

export async function isRafDbKaggle(root: string): Promise<boolean> {
  return (await datasetFolder(root)) !== undefined;
}

export async function loadRafDbKaggle(root: string): Promise<DatasetIndex> {
  const base = (await datasetFolder(root)) ?? '';
  const rootEntries = await listDirectory(root);
  const baseEntries = await listDirectory(path.join(root, base));
  const samples: Array<Omit<SampleRecord, 'id'>> = [];
  const skipped: SkippedFile[] = [];
  for (const split of SPLITS) {
    const folder = findEntry(baseEntries, [split.folder], 'directory');
    const scan = folder ? await scanLabelFolders(root, path.join(base, folder.name), split.partition, RULES) : { samples: [], skipped: [] };
    skipped.push(...scan.skipped);
    const csvEntry = findEntry(rootEntries, [split.csv], 'file');
    if (!csvEntry) {
      samples.push(...scan.samples);
      continue;
    }
    const listed = await readLabelCsv(path.join(root, csvEntry.name), csvEntry.name, skipped);
    const found = new Set<string>();
    for (const sample of scan.samples) {
      const name = path.basename(sample.path);
      found.add(name);
      const row = listed.get(name);
      const folderName = path.basename(path.dirname(sample.path));
      if (row?.label === undefined && row !== undefined) {
        skipped.push({ path: sample.path, kind: 'label-out-of-range', reason: `${csvEntry.name}:${row.line} labels it ${JSON.stringify(row.labelText)}, out of range 1..7` });
      } else if (row !== undefined && row.label !== sample.label) {
        skipped.push({ path: sample.path, kind: 'label-conflict', reason: `in folder ${folderName} but ${csvEntry.name}:${row.line} labels it ${row.labelText}` });
      } else {
        samples.push(sample);
      }
    }
    for (const [name, row] of listed) {
      if (found.has(name)) continue;
      if (row.label === undefined) {
        skipped.push({ path: `${csvEntry.name}:${row.line}`, kind: 'label-out-of-range', reason: `${name}: label ${JSON.stringify(row.labelText)} is out of range 1..7` });
      } else {
        const expectedPath = path.join(base, folder?.name ?? split.folder, row.labelText, name);
        skipped.push({ path: expectedPath, kind: 'missing', reason: `listed in ${csvEntry.name}:${row.line} but missing` });
      }
    }
  }
  return { root, layout: 'raf-db-kaggle', samples: samples.map((s, id) => ({ ...s, id })), skipped };
}

interface CsvLabel {
  /** Our class, or undefined when the row's label is out of range. */
  label: number | undefined;
  labelText: string;
  line: number;
}

/** `image,label` rows by image name; rows that cannot be read go to `skipped`. */
async function readLabelCsv(file: string, name: string, skipped: SkippedFile[]): Promise<Map<string, CsvLabel>> {
  const rows = new Map<string, CsvLabel>();
  const lines = (await fs.readFile(file, 'utf8')).split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || (i === 0 && /^image\s*,\s*label$/i.test(line))) return;
    const fields = line.split(',').map((f) => f.trim());
    if (fields.length !== 2 || fields[0] === '') {
      skipped.push({ path: `${name}:${i + 1}`, kind: 'malformed-entry', reason: `expected "<image>,<label>", got ${JSON.stringify(line)}` });
      return;
    }
    rows.set(fields[0]!, { label: rafLabelToClass(Number(fields[1])), labelText: fields[1]!, line: i + 1 });
  });
  return rows;
}
