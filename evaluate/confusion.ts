// Confusion matrices (issue 5, items 2 and 6): counts of true class by predicted class, their
// row-normalised form (each row divided by the class's support: recall on the diagonal), the CSV
// files, and the most confused class pairs in words. Pure: no I/O.

import { ReportError } from '../shared/errors.js';

/** matrix[t][p]: samples of true class t predicted as class p. */
export type ConfusionMatrix = number[][];

/** The confusion matrix of `labels` against `predictions`, both class indices 0..classCount-1. */
export function confusionMatrix(labels: ArrayLike<number>, predictions: ArrayLike<number>, classCount: number): ConfusionMatrix {
  if (labels.length !== predictions.length) {
    throw new ReportError('REPORT_INPUT_INVALID', `confusion matrix: ${labels.length} labels but ${predictions.length} predictions`);
  }
  const matrix = Array.from({ length: classCount }, () => new Array<number>(classCount).fill(0));
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i]!;
    const prediction = predictions[i]!;
    if (!isClassIndex(label, classCount) || !isClassIndex(prediction, classCount)) {
      throw new ReportError('REPORT_INPUT_INVALID', `confusion matrix: sample ${i} has label ${label} and prediction ${prediction}, expected 0..${classCount - 1}`);
    }
    matrix[label]![prediction]!++;
  }
  return matrix;
}

function isClassIndex(value: number, classCount: number): boolean {
  return Number.isInteger(value) && value >= 0 && value < classCount;
}

/** Each row divided by its sum; a class with no samples gives a row of zeros (never NaN). */
export function rowNormalised(matrix: ConfusionMatrix): number[][] {
  return matrix.map((row) => {
    const support = row.reduce((a, b) => a + b, 0);
    return row.map((count) => (support === 0 ? 0 : count / support));
  });
}

/**
 * CSV with a header of predicted classes and one row per true class, the first column naming it
 * (the corner reads `true\predicted`). Numbers are written in full (shortest round-trip form).
 */
export function confusionCsv(matrix: readonly (readonly number[])[], classes: readonly string[]): string {
  const lines = [['true\\predicted', ...classes].join(',')];
  matrix.forEach((row, t) => lines.push([classes[t]!, ...row.map((value) => String(value))].join(',')));
  return `${lines.join('\n')}\n`;
}

export interface ConfusedPair {
  trueClass: string;
  predictedClass: string;
  /** Samples of trueClass predicted as predictedClass. */
  count: number;
  /** All samples of trueClass. */
  support: number;
}

/**
 * The off-diagonal cells with at least one sample, most samples first (ties: the larger share of
 * the true class first, then class order), at most `limit` of them.
 */
export function mostConfusedPairs(matrix: ConfusionMatrix, classes: readonly string[], limit: number): ConfusedPair[] {
  const pairs: Array<ConfusedPair & { t: number; p: number }> = [];
  matrix.forEach((row, t) => {
    const support = row.reduce((a, b) => a + b, 0);
    row.forEach((count, p) => {
      if (t !== p && count > 0) pairs.push({ trueClass: classes[t]!, predictedClass: classes[p]!, count, support, t, p });
    });
  });
  pairs.sort((a, b) => b.count - a.count || b.count / b.support - a.count / a.support || a.t - b.t || a.p - b.p);
  return pairs.slice(0, limit).map(({ trueClass, predictedClass, count, support }) => ({ trueClass, predictedClass, count, support }));
}

/** "neutral → sad: 41 of 320", as the study discussed its confusions. */
export function describeConfusedPair(pair: ConfusedPair): string {
  return `${pair.trueClass} → ${pair.predictedClass}: ${pair.count} of ${pair.support}`;
}
