// `<split>/<label>/<image>` trees, as image-folder releases and RAF-DB's Kaggle copy are laid
// out: every file in a label folder is a sample of that label (validation decides whether it is
// an image); a folder that names no label is reported once, with the files it holds left out.

import path from 'node:path';
import { isHidden, listDirectory } from './files.js';
import type { Partition, SampleRecord, SkippedFile } from './sample.js';

export interface LabelFolderScan {
  samples: Array<Omit<SampleRecord, 'id'>>;
  skipped: SkippedFile[];
}

export interface LabelFolderRules {
  /** Class index of a label folder's name, or undefined when it names no class. */
  labelOf: (folderName: string) => number | undefined;
  /** What label folders should be called, for the report. */
  expected: string;
  /** Files beside the label folders (a README at the top of a flat set) are not reported. */
  ignoreLooseFiles?: boolean;
}

/** Scans `root/relDir`, whose sub-folders are labels; `partition` is the split they belong to, if the layout says. */
export async function scanLabelFolders(root: string, relDir: string, partition: Partition | undefined, rules: LabelFolderRules): Promise<LabelFolderScan> {
  const scan: LabelFolderScan = { samples: [], skipped: [] };
  for (const entry of await listDirectory(path.join(root, relDir))) {
    if (isHidden(entry.name)) continue;
    const relPath = path.join(relDir, entry.name);
    if (!entry.isDirectory) {
      if (rules.ignoreLooseFiles) continue;
      scan.skipped.push({ path: relPath, kind: 'unexpected-entry', reason: 'a file outside any label folder' });
      continue;
    }
    const label = rules.labelOf(entry.name);
    const files = (await listDirectory(path.join(root, relPath))).filter((f) => !isHidden(f.name));
    if (label === undefined) {
      scan.skipped.push({
        path: relPath,
        kind: 'unknown-label-folder',
        reason: `"${entry.name}" is not a label (expected ${rules.expected}); its ${files.length} files are left out`,
      });
      continue;
    }
    for (const file of files) {
      const filePath = path.join(relPath, file.name);
      if (file.isFile) scan.samples.push({ path: filePath, label, ...(partition ? { partition } : {}) });
      else scan.skipped.push({ path: filePath, kind: 'unexpected-entry', reason: 'a folder inside a label folder (not searched)' });
    }
  }
  return scan;
}
