// Issue 5, acceptance a: every number of the evaluation report — confusion matrix, precision,
// recall, F1, supports, averages — against hand-computed values, for a fixture of known predictions
// that includes a class the model never predicts.

import { describe, expect, it } from 'vitest';
import {
  classificationReport,
  classificationReportJson,
  formatClassificationReport,
  formatFixed,
} from '../evaluate/classification-report.js';
import { confusionCsv, confusionMatrix, describeConfusedPair, mostConfusedPairs, rowNormalised } from '../evaluate/confusion.js';
import { EMOTION_CLASSES } from '../shared/classes.js';

// Rows: true class, columns: predicted class, in EMOTION_CLASSES order. Nothing is ever predicted
// as disgust (column 1 is all zeros), and both disgust samples are wrong.
const FIXTURE: number[][] = [
  [4, 0, 1, 0, 0, 0, 0], // angry     5
  [1, 0, 0, 0, 1, 0, 0], // disgust   2
  [0, 0, 2, 0, 0, 0, 1], // fear      3
  [0, 0, 0, 6, 0, 0, 0], // happy     6
  [0, 0, 0, 1, 3, 2, 0], // neutral   6
  [0, 0, 0, 0, 1, 3, 0], // sad       4
  [0, 0, 1, 0, 0, 0, 3], // surprise  4
];

/** The fixture as sample lists, in a scrambled order (the matrix must not depend on order). */
function fixtureSamples(): { labels: number[]; predictions: number[] } {
  const pairs: Array<[number, number]> = [];
  FIXTURE.forEach((row, t) => row.forEach((count, p) => {
    for (let k = 0; k < count; k++) pairs.push([t, p]);
  }));
  pairs.sort((a, b) => ((a[0] * 7 + a[1]) * 37) % 11 - ((b[0] * 7 + b[1]) * 37) % 11);
  return { labels: pairs.map(([t]) => t), predictions: pairs.map(([, p]) => p) };
}

// Hand-computed: precision = TP / column sum, recall = TP / row sum, F1 = 2TP / (row + column sum).
const EXPECTED = {
  angry: { precision: 4 / 5, recall: 4 / 5, f1: 8 / 10, support: 5 },
  disgust: { precision: 0, recall: 0, f1: 0, support: 2 },
  fear: { precision: 2 / 4, recall: 2 / 3, f1: 4 / 7, support: 3 },
  happy: { precision: 6 / 7, recall: 6 / 6, f1: 12 / 13, support: 6 },
  neutral: { precision: 3 / 5, recall: 3 / 6, f1: 6 / 11, support: 6 },
  sad: { precision: 3 / 5, recall: 3 / 4, f1: 6 / 9, support: 4 },
  surprise: { precision: 3 / 4, recall: 3 / 4, f1: 6 / 8, support: 4 },
};
const MACRO = {
  precision: (4 / 5 + 0 + 2 / 4 + 6 / 7 + 3 / 5 + 3 / 5 + 3 / 4) / 7, // 0.58673…
  recall: (4 / 5 + 0 + 2 / 3 + 1 + 3 / 6 + 3 / 4 + 3 / 4) / 7, // 0.63809…
  f1: (8 / 10 + 0 + 4 / 7 + 12 / 13 + 6 / 11 + 6 / 9 + 6 / 8) / 7, // 0.60808…
};
const WEIGHTED = {
  precision: ((4 / 5) * 5 + 0 * 2 + (2 / 4) * 3 + (6 / 7) * 6 + (3 / 5) * 6 + (3 / 5) * 4 + (3 / 4) * 4) / 30, // 0.65476…
  recall: 21 / 30,
  f1: ((8 / 10) * 5 + 0 * 2 + (4 / 7) * 3 + (12 / 13) * 6 + (6 / 11) * 6 + (6 / 9) * 4 + (6 / 8) * 4) / 30, // 0.67307…
};

// What scikit-learn's classification_report(digits=2) prints for this fixture.
const EXPECTED_TEXT = [
  '              precision    recall  f1-score   support',
  '',
  '       angry       0.80      0.80      0.80         5',
  '     disgust       0.00      0.00      0.00         2',
  '        fear       0.50      0.67      0.57         3',
  '       happy       0.86      1.00      0.92         6',
  '     neutral       0.60      0.50      0.55         6',
  '         sad       0.60      0.75      0.67         4',
  '    surprise       0.75      0.75      0.75         4',
  '',
  '    accuracy                           0.70        30',
  '   macro avg       0.59      0.64      0.61        30',
  'weighted avg       0.65      0.70      0.67        30',
  '',
].join('\n');

describe('the classification report of known predictions', () => {
  const { labels, predictions } = fixtureSamples();
  const matrix = confusionMatrix(labels, predictions, EMOTION_CLASSES.length);
  const report = classificationReport(matrix, EMOTION_CLASSES);

  it('counts the confusion matrix cell by cell', () => {
    expect(matrix).toEqual(FIXTURE);
  });

  it('row-normalises the matrix by each class support', () => {
    const normalised = rowNormalised(matrix);
    expect(normalised[0]).toEqual([4 / 5, 0, 1 / 5, 0, 0, 0, 0]);
    expect(normalised[1]).toEqual([1 / 2, 0, 0, 0, 1 / 2, 0, 0]);
    expect(normalised[4]).toEqual([0, 0, 0, 1 / 6, 3 / 6, 2 / 6, 0]);
    normalised.forEach((row) => expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12));
  });

  it('gives every class the hand-computed precision, recall, F1 and support', () => {
    expect(report.perClass.map((c) => c.name)).toEqual([...EMOTION_CLASSES]);
    for (const scores of report.perClass) {
      const expected = EXPECTED[scores.name as keyof typeof EXPECTED];
      expect(scores.precision, `${scores.name} precision`).toBeCloseTo(expected.precision, 14);
      expect(scores.recall, `${scores.name} recall`).toBeCloseTo(expected.recall, 14);
      expect(scores.f1, `${scores.name} f1`).toBeCloseTo(expected.f1, 14);
      expect(scores.support, `${scores.name} support`).toBe(expected.support);
    }
  });

  it('gives a class that is never predicted precision 0 and F1 0, not NaN', () => {
    const disgust = report.perClass[1]!;
    expect(disgust).toEqual({ name: 'disgust', precision: 0, recall: 0, f1: 0, support: 2 });
    const json = JSON.stringify(classificationReportJson(report));
    expect(json).not.toMatch(/NaN|null|Infinity/);
  });

  it('computes accuracy and the macro and weighted averages', () => {
    expect(report.accuracy).toBe(21 / 30);
    expect(report.total).toBe(30);
    for (const key of ['precision', 'recall', 'f1'] as const) {
      expect(report.macroAvg[key], `macro ${key}`).toBeCloseTo(MACRO[key], 14);
      expect(report.weightedAvg[key], `weighted ${key}`).toBeCloseTo(WEIGHTED[key], 14);
    }
    expect(report.macroAvg.support).toBe(30);
    expect(report.weightedAvg.support).toBe(30);
  });

  it("prints it in scikit-learn's classification_report layout", () => {
    expect(formatClassificationReport(report)).toBe(EXPECTED_TEXT);
  });

  it("writes it as JSON in scikit-learn's output_dict shape", () => {
    const json = classificationReportJson(report);
    expect(Object.keys(json)).toEqual([...EMOTION_CLASSES, 'accuracy', 'macro avg', 'weighted avg']);
    expect(json['fear']).toEqual({ precision: 2 / 4, recall: 2 / 3, 'f1-score': 4 / 7, support: 3 });
    expect(json['accuracy']).toBe(21 / 30);
    expect((json['weighted avg'] as { recall: number }).recall).toBeCloseTo(0.7, 14);
  });

  it('lists the most confused pairs in words, most samples first', () => {
    const pairs = mostConfusedPairs(matrix, EMOTION_CLASSES, 4).map(describeConfusedPair);
    expect(pairs).toEqual(['neutral → sad: 2 of 6', 'disgust → angry: 1 of 2', 'disgust → neutral: 1 of 2', 'fear → surprise: 1 of 3']);
    expect(mostConfusedPairs(matrix, EMOTION_CLASSES, 100)).toHaveLength(8);
  });

  it('writes the matrices as CSV with class names on both axes', () => {
    const lines = confusionCsv(matrix, EMOTION_CLASSES).trim().split('\n');
    expect(lines[0]).toBe('true\\predicted,angry,disgust,fear,happy,neutral,sad,surprise');
    expect(lines[5]).toBe('neutral,0,0,0,1,3,2,0');
    expect(confusionCsv(rowNormalised(matrix), EMOTION_CLASSES).split('\n')[2]).toBe('disgust,0.5,0,0,0,0.5,0,0');
  });
});

describe('edge cases of the report', () => {
  it('gives a class with no samples and no predictions zeros everywhere, and counts it in the macro average', () => {
    const matrix = [
      [2, 1, 0],
      [0, 3, 0],
      [0, 0, 0],
    ];
    const report = classificationReport(matrix, ['a', 'b', 'c']);
    expect(report.perClass[2]).toEqual({ name: 'c', precision: 0, recall: 0, f1: 0, support: 0 });
    expect(report.macroAvg.recall).toBeCloseTo((2 / 3 + 1 + 0) / 3, 14);
    expect(report.weightedAvg.recall).toBeCloseTo(5 / 6, 14);
    expect(rowNormalised(matrix)[2]).toEqual([0, 0, 0]);
  });

  it('gives an empty evaluation zeros, not NaN', () => {
    const report = classificationReport(confusionMatrix([], [], 2), ['a', 'b']);
    expect(report.accuracy).toBe(0);
    expect(report.weightedAvg).toEqual({ precision: 0, recall: 0, f1: 0, support: 0 });
  });

  it("rounds exact binary ties to even, as Python's format does", () => {
    expect([0.125, 0.375, 0.625, 0.875].map((v) => formatFixed(v, 2))).toEqual(['0.12', '0.38', '0.62', '0.88']);
    expect(formatFixed(0.25, 1)).toBe('0.2');
    expect(formatFixed(0.5, 0)).toBe('0');
    expect(formatFixed(1.5, 0)).toBe('2');
    expect(formatFixed(2 / 3, 2)).toBe('0.67');
    expect(formatFixed(1, 2)).toBe('1.00');
    expect(formatFixed(0, 4)).toBe('0.0000');
  });

  it('rejects a prediction outside the classes, naming the sample', () => {
    expect(() => confusionMatrix([0, 1], [0, 7], 7)).toThrow(/sample 1 has label 1 and prediction 7, expected 0..6/);
  });
});
