// Image folders (SPEC §5): `<split>/<label>/<image>` — FER2013's image release, and most sets
// re-packaged for Keras' image_dataset_from_directory — or `<label>/<image>` with no split.
// Split folders are train|training, val|valid|validation|dev, test|testing; label folders are
// class names in any case or a common synonym (label-names.ts). Files at the top are left alone
// (READMEs, licences); any other top folder is reported and left out.

import path from 'node:path';
import { findEntry, isHidden, listDirectory, type Entry } from './files.js';
import { ACCEPTED_LABEL_NAMES, classOfLabelName } from './label-names.js';
import { scanLabelFolders, type LabelFolderRules } from './label-folders.js';
import type { DatasetIndex, Partition, SampleRecord, SkippedFile } from './sample.js';

export const SPLIT_FOLDER_NAMES: Readonly<Record<Partition, readonly string[]>> = {
  train: ['train', 'training'],
  val: ['val', 'valid', 'validation', 'dev'],
  test: ['test', 'testing'],
};

const RULES: LabelFolderRules = { labelOf: classOfLabelName, expected: ACCEPTED_LABEL_NAMES };

function partitionOfFolder(name: string): Partition | undefined {
  const lower = name.toLowerCase();
  return (Object.keys(SPLIT_FOLDER_NAMES) as Partition[]).find((p) => SPLIT_FOLDER_NAMES[p].includes(lower));
}

async function hasLabelFolder(dir: string): Promise<boolean> {
  return (await listDirectory(dir)).some((e) => e.isDirectory && classOfLabelName(e.name) !== undefined);
}

async function splitFolders(root: string): Promise<Entry[]> {
  const entries = await listDirectory(root);
  const splits: Entry[] = [];
  for (const partition of Object.keys(SPLIT_FOLDER_NAMES) as Partition[]) {
    const entry = findEntry(entries, SPLIT_FOLDER_NAMES[partition], 'directory');
    if (entry && (await hasLabelFolder(path.join(root, entry.name)))) splits.push(entry);
  }
  return splits;
}

export async function isImageFolders(root: string): Promise<boolean> {
  return (await splitFolders(root)).length > 0 || (await hasLabelFolder(root));
}

export async function loadImageFolders(root: string): Promise<DatasetIndex> {
  const splits = await splitFolders(root);
  const samples: Array<Omit<SampleRecord, 'id'>> = [];
  const skipped: SkippedFile[] = [];
  if (splits.length === 0) {
    const scan = await scanLabelFolders(root, '', undefined, { ...RULES, ignoreLooseFiles: true });
    samples.push(...scan.samples);
    skipped.push(...scan.skipped);
  } else {
    const splitNames = new Set(splits.map((s) => s.name));
    for (const entry of await listDirectory(root)) {
      if (isHidden(entry.name) || !entry.isDirectory) continue;
      if (!splitNames.has(entry.name)) {
        skipped.push({ path: entry.name, kind: 'unexpected-entry', reason: `not a split folder (expected ${Object.values(SPLIT_FOLDER_NAMES).flat().join(', ')}); left out` });
        continue;
      }
      const scan = await scanLabelFolders(root, entry.name, partitionOfFolder(entry.name), RULES);
      samples.push(...scan.samples);
      skipped.push(...scan.skipped);
    }
  }
  return { root, layout: 'image-folders', samples: samples.map((s, id) => ({ ...s, id })), skipped };
}
