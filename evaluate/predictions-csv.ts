// <split>-predictions.csv: one row per evaluated image — its file, true and predicted class, and
// the seven probabilities as float32 gives them (9 significant digits read back to the same
// float32) — so a prediction can be traced to its image, and `emotrain predict --no-detect` on that
// image checked against it (issue 10, acceptance d).

import { EMOTION_CLASSES, NUM_CLASSES } from '../shared/classes.js';
import type { SplitOutcome } from './split-evaluation.js';

export function predictionsCsv(outcome: SplitOutcome, pathOf: (sampleId: number) => string): string {
  const header = ['path', 'label', 'predicted', ...EMOTION_CLASSES].join(',');
  const rows = outcome.sampleIds.map((id, i) => {
    const probabilities = Array.from(outcome.probabilities.subarray(i * NUM_CLASSES, (i + 1) * NUM_CLASSES), (p) => p.toPrecision(9));
    return [csvField(pathOf(id)), EMOTION_CLASSES[outcome.labels[i]!], EMOTION_CLASSES[outcome.predictions[i]!], ...probabilities].join(',');
  });
  return `${header}\n${rows.join('\n')}\n`;
}

/** RFC 4180: quoted when it holds a comma, quote or line break. */
function csvField(text: string): string {
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}
