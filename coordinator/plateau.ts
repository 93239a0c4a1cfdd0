// ReduceLROnPlateau with Keras' semantics (keras/src/callbacks/reduce_lr_on_plateau.py), the
// coordinator's LR schedule (SPEC §1). Monitors val_loss in 'min' mode by default. Per epoch:
//   - in cooldown: count the cooldown down and reset the wait;
//   - an improvement is current < best - min_delta ('min') or current > best + min_delta ('max');
//   - otherwise, outside cooldown, wait += 1; at wait >= patience, if lr > min_lr (compared in
//     float32) the lr becomes max(lr * factor, min_lr), the cooldown starts and wait resets.
//     When the lr is already at min_lr nothing changes and wait keeps counting, as in Keras.
// The LR is kept as float32, like the optimizer variable Keras stores it in.

export interface PlateauOptions {
  mode: 'min' | 'max';
  factor: number;
  patience: number;
  minDelta: number;
  cooldown: number;
  minLr: number;
}

export const KERAS_PLATEAU_DEFAULTS: PlateauOptions = {
  mode: 'min',
  factor: 0.1,
  patience: 10,
  minDelta: 1e-4,
  cooldown: 0,
  minLr: 0,
};

export interface PlateauState {
  learningRate: number;
  best: number;
  wait: number;
  cooldownCounter: number;
}

export interface PlateauDecision {
  reduced: boolean;
  previousLr: number;
  learningRate: number;
  improved: boolean;
}

export class PlateauSchedule {
  readonly options: PlateauOptions;
  private state: PlateauState;

  constructor(initialLr: number, options: Partial<PlateauOptions> = {}, state?: PlateauState) {
    this.options = { ...KERAS_PLATEAU_DEFAULTS, ...options };
    if (!(this.options.factor < 1) || !(this.options.factor > 0)) {
      throw new RangeError(`plateau factor must be in (0, 1), got ${this.options.factor}`);
    }
    if (!Number.isInteger(this.options.patience) || this.options.patience < 0) {
      throw new RangeError(`plateau patience must be a non-negative integer, got ${this.options.patience}`);
    }
    this.state = state
      ? { ...state }
      : {
          learningRate: Math.fround(initialLr),
          best: this.options.mode === 'min' ? Infinity : -Infinity,
          wait: 0,
          cooldownCounter: 0,
        };
  }

  get learningRate(): number {
    return this.state.learningRate;
  }

  snapshot(): PlateauState {
    return { ...this.state };
  }

  /** Feeds one epoch's monitored value; returns what happened to the LR. */
  onEpochEnd(current: number): PlateauDecision {
    const s = this.state;
    const previousLr = s.learningRate;
    if (s.cooldownCounter > 0) {
      s.cooldownCounter--;
      s.wait = 0;
    }
    const improved = this.isImprovement(current, s.best);
    let reduced = false;
    if (improved) {
      s.best = current;
      s.wait = 0;
    } else if (s.cooldownCounter <= 0) {
      s.wait++;
      if (s.wait >= this.options.patience && previousLr > Math.fround(this.options.minLr)) {
        s.learningRate = Math.fround(Math.max(previousLr * this.options.factor, this.options.minLr));
        s.cooldownCounter = this.options.cooldown;
        s.wait = 0;
        reduced = true;
      }
    }
    return { reduced, previousLr, learningRate: s.learningRate, improved };
  }

  private isImprovement(current: number, best: number): boolean {
    // NaN never improves (numpy comparisons with NaN are false).
    return this.options.mode === 'min' ? current < best - this.options.minDelta : current > best + this.options.minDelta;
  }
}
