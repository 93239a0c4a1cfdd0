// Adam on flat Float32Arrays, applied identically by every worker and by the coordinator's
// shadow copy. Plain JS arithmetic in float64, stored as float32, is the same on every machine
// and backend, which is what keeps the replicas bit-identical (SPEC §2) — a tfjs optimizer would
// round differently on a GPU than on the CPU. Update rule as Keras' Adam (epsilon 1e-7):
//   alpha = lr * sqrt(1 - beta2^t) / (1 - beta1^t)
//   m += (g - m) * (1 - beta1);  v += (g^2 - v) * (1 - beta2);  w -= alpha * m / (sqrt(v) + eps)

export interface AdamHyperparameters {
  beta1: number;
  beta2: number;
  epsilon: number;
}

export const KERAS_ADAM: AdamHyperparameters = { beta1: 0.9, beta2: 0.999, epsilon: 1e-7 };

export interface AdamSlots {
  m: Float32Array;
  v: Float32Array;
}

export function createAdamSlots(size: number): AdamSlots {
  return { m: new Float32Array(size), v: new Float32Array(size) };
}

/**
 * One Adam update in place. `gradients` may be loss-scaled: each is multiplied by `gradientScale`
 * (1 / lossScale) before use. `iteration` is the 1-based count of applied updates (skipped steps
 * do not count, as with Keras' LossScaleOptimizer).
 */
export function applyAdam(
  weights: Float32Array,
  slots: AdamSlots,
  gradients: Float32Array,
  gradientScale: number,
  learningRate: number,
  iteration: number,
  hyper: AdamHyperparameters = KERAS_ADAM,
): void {
  const { m, v } = slots;
  const n = weights.length;
  if (m.length !== n || v.length !== n || gradients.length !== n) {
    throw new RangeError(`adam: ${n} weights but ${gradients.length} gradients, ${m.length}/${v.length} slots`);
  }
  if (!(iteration >= 1)) throw new RangeError(`adam: iteration must be >= 1, got ${iteration}`);
  const { beta1, beta2, epsilon } = hyper;
  const alpha = (learningRate * Math.sqrt(1 - beta2 ** iteration)) / (1 - beta1 ** iteration);
  const oneMinusBeta1 = 1 - beta1;
  const oneMinusBeta2 = 1 - beta2;
  for (let i = 0; i < n; i++) {
    const g = gradients[i]! * gradientScale;
    const mi = m[i]! + (g - m[i]!) * oneMinusBeta1;
    const vi = v[i]! + (g * g - v[i]!) * oneMinusBeta2;
    m[i] = mi;
    v[i] = vi;
    // Use the float32-rounded moments, exactly as stored, so a resumed run continues identically.
    weights[i]! -= (alpha * m[i]!) / (Math.sqrt(v[i]!) + epsilon);
  }
}

/**
 * Adam's moments and iteration count with the one update rule above: the coordinator's shadow copy
 * and every replica apply reduced gradients through this, so they cannot drift apart.
 */
export class AdamOptimizer {
  readonly slots: AdamSlots;
  /** Applied updates so far (skipped steps do not count). */
  iteration = 0;

  constructor(
    size: number,
    private readonly hyper: AdamHyperparameters = KERAS_ADAM,
  ) {
    this.slots = createAdamSlots(size);
  }

  /** One update of `weights` from gradients scaled by `lossScale`; returns the new iteration. */
  step(weights: Float32Array, gradients: Float32Array, lossScale: number, learningRate: number): number {
    this.iteration++;
    applyAdam(weights, this.slots, gradients, 1 / lossScale, learningRate, this.iteration, this.hyper);
    return this.iteration;
  }
}
