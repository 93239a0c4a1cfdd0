// Keras' ModelCheckpoint as the run uses it (SPEC §1, §6): checkpoints/best whenever val_accuracy
// beats the best so far (strictly, as save_best_only with mode 'max'), and checkpoints/last after
// every epoch — last in the list of callbacks, so that it captures every other callback's state.

import type { Decision, EpochLogs, TrainingCallback } from './callback.js';

export class ModelCheckpoint implements TrainingCallback {
  readonly name = 'ModelCheckpoint';

  /** `best`: the best val_accuracy so far (-Infinity for a fresh run). */
  constructor(private best: number = -Infinity) {}

  get bestValAccuracy(): number {
    return this.best;
  }

  onEpochEnd(logs: EpochLogs): Decision[] {
    const decisions: Decision[] = [];
    if (logs.val_accuracy > this.best) {
      const previous = this.best;
      this.best = logs.val_accuracy;
      decisions.push({ kind: 'save_checkpoint', checkpoint: 'best', monitor: 'val_accuracy', value: logs.val_accuracy, previousBest: Number.isFinite(previous) ? previous : null });
    }
    decisions.push({ kind: 'save_checkpoint', checkpoint: 'last' });
    return decisions;
  }
}
