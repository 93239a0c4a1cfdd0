// What the dataset index is made of: labelled samples (image files, or pixels stored inside an
// index file as FER2013 does), and the files left out, each with a reason and a kind.

/** A split a dataset's own layout assigns (RAF-DB's test_* names, a test/ folder, FER2013's Usage). */
export type Partition = 'train' | 'val' | 'test';

/** An 8-bit grey image stored inside an index file rather than as an image file of its own. */
export interface GrayPixels {
  width: number;
  height: number;
  /** width * height bytes, row-major. */
  data: Uint8Array;
}

export interface SampleRecord {
  /** Position in the index; the id the coordinator and workers use for the sample. */
  id: number;
  /** Path relative to the dataset root; for pixels inside an index file, `<file>:<line>`. */
  path: string;
  /** Class index in EMOTION_CLASSES order. */
  label: number;
  /** The split the dataset's layout puts the sample in, if it has one. */
  partition?: Partition;
  /** Set for samples that have no file of their own (FER2013 rows): the coordinator serves them as PNG. */
  pixels?: GrayPixels;
  /** sha256 (hex) of the file's bytes, set by validation; workers with a local copy check it. */
  sha256?: string;
}

/** Why a file was left out, for summaries that count by kind. */
export type SkipKind =
  | 'missing'
  | 'empty'
  | 'corrupt'
  | 'unsupported-format'
  | 'too-large'
  | 'label-out-of-range'
  | 'label-conflict'
  | 'unknown-label-folder'
  | 'unexpected-entry'
  | 'malformed-entry';

export const SKIP_KIND_DESCRIPTIONS: Readonly<Record<SkipKind, string>> = {
  missing: 'missing files',
  empty: 'empty files',
  corrupt: 'corrupt or truncated images',
  'unsupported-format': 'files in an unsupported format',
  'too-large': 'images over the pixel limit',
  'label-out-of-range': 'labels out of range',
  'label-conflict': 'conflicting labels',
  'unknown-label-folder': 'unknown label folders',
  'unexpected-entry': 'unexpected folders',
  'malformed-entry': 'malformed index entries',
};

export interface SkippedFile {
  path: string;
  reason: string;
  kind: SkipKind;
}

export interface DatasetIndex {
  root: string;
  layout: string;
  samples: SampleRecord[];
  skipped: SkippedFile[];
}

/** "corrupt or truncated images: 3, missing files: 1" — the skipped files counted by kind, most first. */
export function summarizeSkipped(skipped: readonly SkippedFile[]): string {
  const counts = new Map<SkipKind, number>();
  for (const file of skipped) counts.set(file.kind, (counts.get(file.kind) ?? 0) + 1);
  return [...counts.entries()]
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([kind, count]) => `${SKIP_KIND_DESCRIPTIONS[kind]}: ${count}`)
    .join(', ');
}
