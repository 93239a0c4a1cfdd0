// Keras' ReduceLROnPlateau as a callback: the schedule itself is the pure core in ../plateau.ts.

import { PlateauSchedule, type PlateauOptions, type PlateauState } from '../plateau.js';
import type { Decision, EpochLogs, TrainingCallback } from './callback.js';

export class ReduceLROnPlateau implements TrainingCallback {
  readonly name = 'ReduceLROnPlateau';
  private readonly schedule: PlateauSchedule;

  constructor(initialLr: number, options: Partial<PlateauOptions>, state?: PlateauState) {
    this.schedule = new PlateauSchedule(initialLr, options, state);
  }

  get learningRate(): number {
    return this.schedule.learningRate;
  }

  snapshot(): PlateauState {
    return this.schedule.snapshot();
  }

  onEpochEnd(logs: EpochLogs): Decision[] {
    const decision = this.schedule.onEpochEnd(logs.val_loss);
    return decision.reduced ? [{ kind: 'set_learning_rate', learningRate: decision.learningRate, previous: decision.previousLr, monitor: 'val_loss' }] : [];
  }
}
