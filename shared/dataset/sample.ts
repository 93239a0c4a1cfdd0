// What the dataset index is made of: labelled image files, and the files left out with a reason.

export interface SampleRecord {
  /** Position in the index; the id the coordinator and workers use for the sample. */
  id: number;
  /** Path relative to the dataset root. */
  path: string;
  /** Class index in EMOTION_CLASSES order. */
  label: number;
}

export interface SkippedFile {
  path: string;
  reason: string;
}

export interface DatasetIndex {
  root: string;
  layout: string;
  samples: SampleRecord[];
  skipped: SkippedFile[];
}
