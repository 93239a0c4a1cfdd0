// `emotrain dataset inspect`: the study's Figure 1 — images per class in train, val and test as a
// run would use them (after validation and the split rule) — with the class-imbalance ratio, the
// layout and every skipped file with its reason. Pure: it formats what openDataset and
// splitDataset decided.

import { EMOTION_CLASSES } from '../classes.js';
import { classCounts, type DatasetIndex, type SkippedFile } from './index.js';
import { summarizeSkipped, type SkipKind } from './sample.js';
import type { SplitPlan } from './split.js';

export interface DatasetReport {
  root: string;
  layout: string;
  splitRule: string;
  classes: readonly string[];
  /** Images per class (EMOTION_CLASSES order) in each part, and overall. */
  perClass: { train: number[]; val: number[]; test: number[]; total: number[] };
  totals: { train: number; val: number; test: number; total: number };
  /** Largest class / smallest class, over all usable images. */
  imbalanceRatio: number;
  largestClass: string;
  smallestClass: string;
  skipped: SkippedFile[];
  skippedByKind: Partial<Record<SkipKind, number>>;
}

export function datasetReport(index: DatasetIndex, split: SplitPlan): DatasetReport {
  const perClass = {
    train: classCounts(index, split.train),
    val: classCounts(index, split.val),
    test: classCounts(index, split.test),
    total: classCounts(index),
  };
  const largest = perClass.total.indexOf(Math.max(...perClass.total));
  const smallest = perClass.total.indexOf(Math.min(...perClass.total));
  const skippedByKind: Partial<Record<SkipKind, number>> = {};
  for (const file of index.skipped) skippedByKind[file.kind] = (skippedByKind[file.kind] ?? 0) + 1;
  return {
    root: index.root,
    layout: index.layout,
    splitRule: split.rule,
    classes: EMOTION_CLASSES,
    perClass,
    totals: { train: split.train.length, val: split.val.length, test: split.test.length, total: index.samples.length },
    imbalanceRatio: perClass.total[largest]! / perClass.total[smallest]!,
    largestClass: EMOTION_CLASSES[largest]!,
    smallestClass: EMOTION_CLASSES[smallest]!,
    skipped: index.skipped,
    skippedByKind,
  };
}

/** The report as a person reads it: a table, then the ratio, then the skipped files. */
export function formatDatasetReport(report: DatasetReport): string {
  const columns = ['train', 'val', 'test', 'total'] as const;
  const width = Math.max(8, ...columns.map((c) => String(report.totals[c]).length + 2));
  const row = (name: string, values: number[]) => `${name.padEnd(10)}${values.map((v) => String(v).padStart(width)).join('')}`;
  const lines = [
    `dataset   ${report.root}`,
    `layout    ${report.layout}`,
    `split     ${report.splitRule}`,
    '',
    `${'class'.padEnd(10)}${columns.map((c) => c.padStart(width)).join('')}`,
    ...report.classes.map((name, c) => row(name, columns.map((part) => report.perClass[part][c]!))),
    row('all', columns.map((part) => report.totals[part])),
    '',
    `class imbalance: ${report.imbalanceRatio.toFixed(2)} (largest ${report.largestClass} ${Math.max(...report.perClass.total)} / smallest ${report.smallestClass} ${Math.min(...report.perClass.total)})`,
  ];
  if (report.skipped.length === 0) {
    lines.push('skipped: none');
  } else {
    lines.push(`skipped ${report.skipped.length} (${summarizeSkipped(report.skipped)}):`);
    for (const file of report.skipped) lines.push(`  ${file.path}: ${file.reason}`);
  }
  return `${lines.join('\n')}\n`;
}
