// Dynamic loss scaling (SPEC §3), with Keras LossScaleOptimizer's defaults: start at 2^15, halve
// on any non-finite or fp16-overflowing gradient (the step is skipped on every replica), double
// after 2000 good steps in a row. The coordinator owns the one instance of a run; the decision it
// makes each step travels to every worker with the reduced gradients.

import { TrainingError } from './errors.js';

export interface LossScalerOptions {
  initialScale: number;
  growthInterval: number;
  growthFactor: number;
  backoffFactor: number;
  minScale: number;
  maxScale: number;
  /** A run whose gradients overflow this many steps in a row even at minScale has diverged. */
  maxConsecutiveSkips: number;
}

export const DEFAULT_LOSS_SCALER_OPTIONS: LossScalerOptions = {
  initialScale: 2 ** 15,
  growthInterval: 2000,
  growthFactor: 2,
  backoffFactor: 0.5,
  minScale: 1,
  maxScale: 2 ** 40,
  maxConsecutiveSkips: 100,
};

export interface LossScalerState {
  scale: number;
  goodSteps: number;
  skippedSteps: number;
  consecutiveSkips: number;
}

export type StepVerdict =
  | { applied: true; scaleBefore: number; scaleAfter: number; grew: boolean }
  | { applied: false; scaleBefore: number; scaleAfter: number; reason: string };

export class LossScaler {
  private readonly options: LossScalerOptions;
  private state: LossScalerState;

  constructor(options: Partial<LossScalerOptions> = {}, state?: LossScalerState) {
    this.options = { ...DEFAULT_LOSS_SCALER_OPTIONS, ...options };
    this.state = state
      ? { ...state }
      : { scale: this.options.initialScale, goodSteps: 0, skippedSteps: 0, consecutiveSkips: 0 };
  }

  get scale(): number {
    return this.state.scale;
  }

  get skippedSteps(): number {
    return this.state.skippedSteps;
  }

  snapshot(): LossScalerState {
    return { ...this.state };
  }

  /**
   * Records the outcome of one step. `nonFiniteReason` is undefined when every worker's gradient
   * was finite and within fp16 range, otherwise a description naming the worker(s) that were not.
   */
  update(nonFiniteReason: string | undefined): StepVerdict {
    const scaleBefore = this.state.scale;
    if (nonFiniteReason === undefined) {
      this.state.goodSteps++;
      this.state.consecutiveSkips = 0;
      let grew = false;
      if (this.state.goodSteps >= this.options.growthInterval) {
        this.state.scale = Math.min(this.state.scale * this.options.growthFactor, this.options.maxScale);
        this.state.goodSteps = 0;
        grew = this.state.scale !== scaleBefore;
      }
      return { applied: true, scaleBefore, scaleAfter: this.state.scale, grew };
    }
    this.state.skippedSteps++;
    this.state.consecutiveSkips++;
    this.state.goodSteps = 0;
    this.state.scale = Math.max(this.state.scale * this.options.backoffFactor, this.options.minScale);
    if (scaleBefore <= this.options.minScale && this.state.consecutiveSkips >= this.options.maxConsecutiveSkips) {
      throw new TrainingError(
        'TRAINING_DIVERGED',
        `gradients were non-finite for ${this.state.consecutiveSkips} steps in a row even at the minimum ` +
          `loss scale ${this.options.minScale}; the run has diverged (last: ${nonFiniteReason})`,
      );
    }
    return { applied: false, scaleBefore, scaleAfter: this.state.scale, reason: nonFiniteReason };
  }
}
