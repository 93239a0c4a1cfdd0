// Keras' EarlyStopping (keras/src/callbacks/early_stopping.py, Keras 3) as a pure callback:
//   - `min_delta` counts as its absolute value; an improvement is current - |d| > best ('max') or
//     current + |d| < best ('min'); 'auto' is 'max' for accuracies, 'min' otherwise;
//   - nothing happens before `startFromEpoch` (0-based, as Keras' start_from_epoch);
//   - with restore_best_weights, the first epoch that counts remembers its weights even without
//     an improvement ("if best weights were never set, the current weights are the best");
//   - every counted epoch adds 1 to `wait`; an improvement sets best and best epoch (and remembers
//     the weights) and resets `wait` only if it also beats `baseline` (when one is given);
//   - otherwise, once wait >= patience and it is not the first epoch, training stops;
//   - at the end of training (stopped or not), the remembered weights are put back.
// NaN never improves (the comparisons are false), as in numpy.

import type { EarlyStoppingConfig } from '../../shared/config.js';
import type { Decision, EpochLogs, TrainingCallback } from './callback.js';

export type EarlyStoppingOptions = EarlyStoppingConfig;

export const KERAS_EARLY_STOPPING_DEFAULTS: EarlyStoppingOptions = {
  monitor: 'val_loss',
  minDelta: 0,
  patience: 0,
  mode: 'auto',
  baseline: null,
  restoreBestWeights: false,
  startFromEpoch: 0,
};

/** What resume needs; the remembered weights themselves live only in the process that remembered them. */
export interface EarlyStoppingState {
  wait: number;
  best: number;
  /** 0-based, as Keras counts. */
  bestEpoch: number;
  stoppedEpoch: number;
  weightsRemembered: boolean;
}

export class EarlyStopping implements TrainingCallback {
  readonly name = 'EarlyStopping';
  readonly options: EarlyStoppingOptions;
  private readonly maximize: boolean;
  private state: EarlyStoppingState;
  /** The epoch whose weights this process remembered, if any. */
  private rememberedHere: number | undefined;

  constructor(options: Partial<EarlyStoppingOptions> = {}, state?: EarlyStoppingState) {
    this.options = { ...KERAS_EARLY_STOPPING_DEFAULTS, ...options };
    if (!Number.isInteger(this.options.patience) || this.options.patience < 0) {
      throw new RangeError(`early stopping patience must be a non-negative integer, got ${this.options.patience}`);
    }
    this.maximize = this.options.mode === 'max' || (this.options.mode === 'auto' && this.options.monitor.endsWith('accuracy'));
    this.state = state ? { ...state } : { wait: 0, best: this.maximize ? -Infinity : Infinity, bestEpoch: 0, stoppedEpoch: 0, weightsRemembered: false };
  }

  snapshot(): EarlyStoppingState {
    return { ...this.state };
  }

  get stoppedEpoch(): number {
    return this.state.stoppedEpoch;
  }

  private isImprovement(current: number, reference: number): boolean {
    const delta = Math.abs(this.options.minDelta);
    return this.maximize ? current - delta > reference : current + delta < reference;
  }

  onEpochEnd(logs: EpochLogs): Decision[] {
    const epoch = logs.epoch - 1;
    const current = logs[this.options.monitor];
    if (epoch < this.options.startFromEpoch) return [];
    const decisions: Decision[] = [];
    const remember = (): void => {
      this.state.weightsRemembered = true;
      this.rememberedHere = epoch;
      decisions.push({ kind: 'remember_weights' });
    };
    const s = this.state;
    if (this.options.restoreBestWeights && !s.weightsRemembered) {
      remember();
      s.bestEpoch = epoch;
    }
    s.wait++;
    if (this.isImprovement(current, s.best)) {
      s.best = current;
      s.bestEpoch = epoch;
      if (this.options.restoreBestWeights && this.rememberedHere !== epoch) remember();
      if (this.options.baseline === null || this.isImprovement(current, this.options.baseline)) s.wait = 0;
      return decisions;
    }
    if (s.wait >= this.options.patience && epoch > 0) {
      s.stoppedEpoch = epoch;
      decisions.push({ kind: 'stop_training', monitor: this.options.monitor, best: s.best, bestEpoch: s.bestEpoch + 1, patience: this.options.patience });
    }
    return decisions;
  }

  onTrainEnd(): Decision[] {
    if (!this.options.restoreBestWeights || !this.state.weightsRemembered) return [];
    if (this.rememberedHere !== this.state.bestEpoch) {
      // Remembered by the process before a resume: those weights are gone with it.
      return [{ kind: 'warn', code: 'RESTORE_UNAVAILABLE', message: `EarlyStopping cannot restore the weights of epoch ${this.state.bestEpoch + 1}: they were remembered before the run was resumed; the final weights are those of the last epoch` }];
    }
    return [{ kind: 'restore_weights', epoch: this.state.bestEpoch + 1, monitor: this.options.monitor, best: this.state.best }];
  }
}
