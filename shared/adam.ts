// Adam on flat Float32Arrays, applied identically by every worker and by the coordinator's
// shadow copy. Plain JS arithmetic in float64, stored as float32, is the same on every machine
// and backend, which is what keeps the replicas bit-identical (SPEC §2) — a tfjs optimizer would
// round differently on a GPU than on the CPU. Update rule as Keras' Adam (epsilon 1e-7):
//   alpha = lr * sqrt(1 - beta2^t) / (1 - beta1^t)
//   m += (g - m) * (1 - beta1);  v += (g^2 - v) * (1 - beta2);  w -= alpha * m / (sqrt(v) + eps)

import { halfBitsToFloat32 } from './fp16/codec.js';

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

/** Float32s in shared memory, so that an Adam thread can update them in place (adam-thread.ts). */
export function sharedFloat32(size: number): Float32Array {
  return new Float32Array(new SharedArrayBuffer(size * 4));
}

export function createAdamSlots(size: number): AdamSlots {
  return { m: sharedFloat32(size), v: sharedFloat32(size) };
}

/** Reduced gradients as they travel: float32 values, or the bits of fp16 halves (decoded as used). */
export type WireGradients = Float32Array | Uint16Array;

/**
 * One Adam update in place. `gradients` may be loss-scaled: each is multiplied by `gradientScale`
 * (1 / lossScale) before use; fp16 bits are decoded first, to exactly the float32 a decode would
 * store. `iteration` is the 1-based count of applied updates (skipped steps do not count, as with
 * Keras' LossScaleOptimizer).
 */
export function applyAdam(
  weights: Float32Array,
  slots: AdamSlots,
  gradients: WireGradients,
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
  // Two loops, each over one array type, so that each stays monomorphic (and fast) in V8. The
  // moments are used rounded to float32, exactly as stored (so a resumed run continues
  // identically); Math.fround gives those bits without reading the arrays back, which V8 cannot
  // skip since the arrays might overlap (a quarter faster for ResNet50's 23.8M values).
  if (gradients instanceof Uint16Array) {
    for (let i = 0; i < n; i++) {
      const g = halfBitsToFloat32(gradients[i]!) * gradientScale;
      const m0 = m[i]!;
      const v0 = v[i]!;
      const mi = Math.fround(m0 + (g - m0) * oneMinusBeta1);
      const vi = Math.fround(v0 + (g * g - v0) * oneMinusBeta2);
      m[i] = mi;
      v[i] = vi;
      weights[i] = weights[i]! - (alpha * mi) / (Math.sqrt(vi) + epsilon);
    }
    return;
  }
  for (let i = 0; i < n; i++) {
    const g = gradients[i]! * gradientScale;
    const m0 = m[i]!;
    const v0 = v[i]!;
    const mi = Math.fround(m0 + (g - m0) * oneMinusBeta1);
    const vi = Math.fround(v0 + (g * g - v0) * oneMinusBeta2);
    m[i] = mi;
    v[i] = vi;
    weights[i] = weights[i]! - (alpha * mi) / (Math.sqrt(vi) + epsilon);
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
    readonly hyper: AdamHyperparameters = KERAS_ADAM,
  ) {
    this.slots = createAdamSlots(size);
  }

  /** One update of `weights` from gradients scaled by `lossScale`; returns the new iteration. */
  step(weights: Float32Array, gradients: WireGradients, lossScale: number, learningRate: number): number {
    this.iteration++;
    applyAdam(weights, this.slots, gradients, 1 / lossScale, learningRate, this.iteration, this.hyper);
    return this.iteration;
  }
}
