// Per-class precision, recall, F1 and support with accuracy, macro and weighted averages (issue 5,
// item 1), computed from a confusion matrix exactly as scikit-learn's
//   classification_report(y_true, y_pred, labels=range(7), target_names=classes, zero_division=0)
// does, and written in its text layout and its output_dict JSON shape, so the numbers read like the
// study's. Pure: no I/O.
//
// zero_division=0: a class that is never predicted has precision 0, a class with no samples has
// recall 0, and F1 = 2·TP / (2·TP + FP + FN) is 0 when that denominator is 0 — never NaN.

import type { ConfusionMatrix } from './confusion.js';

export interface ClassScores {
  precision: number;
  recall: number;
  f1: number;
  support: number;
}

export interface ClassificationReport {
  /** In class order. */
  perClass: Array<{ name: string } & ClassScores>;
  accuracy: number;
  /** All samples. */
  total: number;
  macroAvg: ClassScores;
  weightedAvg: ClassScores;
}

function ratio(numerator: number, denominator: number): number {
  return denominator === 0 ? 0 : numerator / denominator;
}

export function classificationReport(matrix: ConfusionMatrix, classes: readonly string[]): ClassificationReport {
  const n = classes.length;
  const support = matrix.map((row) => row.reduce((a, b) => a + b, 0));
  const predicted = classes.map((_, p) => matrix.reduce((sum, row) => sum + row[p]!, 0));
  const total = support.reduce((a, b) => a + b, 0);
  let correct = 0;
  const perClass = classes.map((name, c) => {
    const tp = matrix[c]![c]!;
    correct += tp;
    const fp = predicted[c]! - tp;
    const fn = support[c]! - tp;
    return { name, precision: ratio(tp, tp + fp), recall: ratio(tp, tp + fn), f1: ratio(2 * tp, 2 * tp + fp + fn), support: support[c]! };
  });
  const average = (weightOf: (c: number) => number, weightSum: number, key: 'precision' | 'recall' | 'f1') =>
    ratio(
      perClass.reduce((sum, scores, c) => sum + scores[key] * weightOf(c), 0),
      weightSum,
    );
  const macro = (key: 'precision' | 'recall' | 'f1') => average(() => 1, n, key);
  const weighted = (key: 'precision' | 'recall' | 'f1') => average((c) => support[c]!, total, key);
  return {
    perClass,
    accuracy: ratio(correct, total),
    total,
    macroAvg: { precision: macro('precision'), recall: macro('recall'), f1: macro('f1'), support: total },
    weightedAvg: { precision: weighted('precision'), recall: weighted('recall'), f1: weighted('f1'), support: total },
  };
}

/**
 * `value` with `digits` decimals as Python's format() writes it: exact binary ties (0.125, 0.625…)
 * round to even there, while JavaScript's toFixed rounds them up.
 */
export function formatFixed(value: number, digits: number): string {
  const rounded = value.toFixed(digits);
  // toFixed(100) is the exact decimal expansion of any double of magnitude above ~1e-40.
  const exact = Math.abs(value).toFixed(100);
  const point = exact.indexOf('.');
  const kept = exact.slice(0, point + (digits > 0 ? digits + 1 : 0));
  const rest = exact.slice(point + digits + 1);
  const isTie = /^50*$/.test(rest);
  if (!isTie || Number(kept.at(-1)) % 2 === 1) return rounded;
  return `${value < 0 ? '-' : ''}${kept}`;
}

const HEADERS = ['precision', 'recall', 'f1-score', 'support'] as const;
const LONGEST_AVERAGE_HEADING = 'weighted avg';

/** The report as classification_report(..., digits) prints it. */
export function formatClassificationReport(report: ClassificationReport, digits = 2): string {
  const width = Math.max(...report.perClass.map((c) => c.name.length), LONGEST_AVERAGE_HEADING.length, digits);
  const cell = (text: string) => ` ${text.padStart(9)}`;
  const row = (heading: string, scores: ClassScores) =>
    `${heading.padStart(width)} ${[scores.precision, scores.recall, scores.f1].map((v) => cell(formatFixed(v, digits))).join('')}${cell(String(scores.support))}\n`;
  let text = `${''.padStart(width)} ${HEADERS.map(cell).join('')}\n\n`;
  for (const scores of report.perClass) text += row(scores.name, scores);
  text += '\n';
  text += `${'accuracy'.padStart(width)} ${cell('')}${cell('')}${cell(formatFixed(report.accuracy, digits))}${cell(String(report.total))}\n`;
  text += row('macro avg', report.macroAvg);
  text += row('weighted avg', report.weightedAvg);
  return text;
}

type ScoresJson = { precision: number; recall: number; 'f1-score': number; support: number };

/** classification_report(..., output_dict=True): class names, "accuracy", "macro avg", "weighted avg". */
export function classificationReportJson(report: ClassificationReport): Record<string, ScoresJson | number> {
  const json = (s: ClassScores): ScoresJson => ({ precision: s.precision, recall: s.recall, 'f1-score': s.f1, support: s.support });
  const out: Record<string, ScoresJson | number> = {};
  for (const scores of report.perClass) out[scores.name] = json(scores);
  out['accuracy'] = report.accuracy;
  out['macro avg'] = json(report.macroAvg);
  out['weighted avg'] = json(report.weightedAvg);
  return out;
}
