import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { applyAdam, createAdamSlots } from '../shared/adam.js';
import { float32ToHalfBits, halfBitsToFloat32 } from '../shared/fp16/codec.js';

describe('Adam on flat arrays', () => {
  it('follows the Keras update rule exactly for one step', () => {
    const lr = 1e-3;
    const g = [0.5, -0.002, 1e-6];
    const weights = new Float32Array([1, 1, 1]);
    applyAdam(weights, createAdamSlots(3), new Float32Array(g), 1, lr, 1);
    g.forEach((gi, i) => {
      const m = Math.fround(0.1 * Math.fround(gi));
      const v = Math.fround(0.001 * Math.fround(gi) ** 2);
      const alpha = (lr * Math.sqrt(1 - 0.999)) / (1 - 0.9);
      expect(weights[i]).toBe(Math.fround(1 - (alpha * m) / (Math.sqrt(v) + 1e-7)));
    });
  });

  it('agrees with tfjs AdamOptimizer where epsilon is negligible', async () => {
    // tfjs adds epsilon to the bias-corrected sqrt(v_hat), Keras to sqrt(v): the two agree
    // closely once |g| is far above epsilon. The remaining difference is float32 rounding: tfjs
    // rounds after every op, we round once per stored value.
    tf.env().set('PROD', true);
    await tf.setBackend('cpu');
    const initial = [0.5, -1.25, 2, 0.1, -3];
    const gradientsPerStep = [
      [0.1, -0.2, 0.3, 0.04, -1],
      [0.05, 0.2, -0.3, 0.01, 2],
      [-0.1, 0.07, 0.3, -0.04, 0.5],
    ];
    const weights = new Float32Array(initial);
    const slots = createAdamSlots(weights.length);
    const variable = tf.variable(tf.tensor1d(initial));
    const optimizer = tf.train.adam(0.01, 0.9, 0.999, 1e-7);
    gradientsPerStep.forEach((g, step) => {
      applyAdam(weights, slots, new Float32Array(g), 1, 0.01, step + 1);
      optimizer.applyGradients([{ name: variable.name, tensor: tf.tensor1d(g) }]);
    });
    const expected = variable.dataSync();
    for (let i = 0; i < weights.length; i++) expect(Math.abs(weights[i]! - expected[i]!)).toBeLessThan(5e-6);
  });

  it('unscales loss-scaled gradients: scale 1024 with factor 1/1024 equals the plain update', () => {
    const a = new Float32Array([1, 2, 3]);
    const b = new Float32Array([1, 2, 3]);
    applyAdam(a, createAdamSlots(3), new Float32Array([0.5, -0.25, 1e-3]), 1, 1e-3, 1);
    applyAdam(b, createAdamSlots(3), new Float32Array([512, -256, 1.024]), 1 / 1024, 1e-3, 1);
    expect(Array.from(b)).toEqual(Array.from(a));
  });

  it('refuses mismatched lengths and a zero iteration', () => {
    expect(() => applyAdam(new Float32Array(2), createAdamSlots(2), new Float32Array(3), 1, 1, 1)).toThrow(/2 weights but 3/);
    expect(() => applyAdam(new Float32Array(2), createAdamSlots(2), new Float32Array(2), 1, 1, 0)).toThrow(/iteration/);
  });

  for (const dtype of ['float32', 'fp16 halves'] as const) {
    it(`gives the bits of the update written with stores and loads (every moment read back), ${dtype} gradients`, () => {
      const n = 4099;
      let x = 7;
      const next = () => ((x = (x * 1103515245 + 12345) % 2147483648), x / 2147483648);
      const mixed = () => Float32Array.from({ length: n }, (_, i) => (i % 97 === 0 ? 0 : i % 89 === 0 ? -0 : i % 83 === 0 ? 1e-40 : (next() < 0.5 ? -1 : 1) * 10 ** (next() * 12 - 8)));
      const weights = mixed();
      const slots = { m: mixed().map((m) => m * 1e-3), v: mixed().map(Math.abs) };
      const reference = { w: weights.slice(), m: slots.m.slice(), v: slots.v.slice() };
      for (let iteration = 1; iteration <= 3; iteration++) {
        // loss-scaled as a run scales them; halves stay below fp16's largest value (65504)
        const lossScale = dtype === 'float32' ? 1024 : 4;
        const floats = mixed().map((g) => g * lossScale);
        const gradients = dtype === 'float32' ? floats : Uint16Array.from(floats, (g) => float32ToHalfBits(g));
        applyAdam(weights, slots, gradients, 1 / lossScale, 1e-3, iteration);
        // the rule as adam.ts wrote it before: each moment stored, then read back from its array
        const alpha = (1e-3 * Math.sqrt(1 - 0.999 ** iteration)) / (1 - 0.9 ** iteration);
        for (let i = 0; i < n; i++) {
          const g = (gradients instanceof Uint16Array ? halfBitsToFloat32(gradients[i]!) : gradients[i]!) * (1 / lossScale);
          reference.m[i] = reference.m[i]! + (g - reference.m[i]!) * (1 - 0.9);
          reference.v[i] = reference.v[i]! + (g * g - reference.v[i]!) * (1 - 0.999);
          reference.w[i]! -= (alpha * reference.m[i]!) / (Math.sqrt(reference.v[i]!) + 1e-7);
        }
      }
      const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));
      expect(weights.every(Number.isFinite)).toBe(true); // compared as numbers, not as NaNs
      expect(bits(weights)).toEqual(bits(reference.w));
      expect(bits(slots.m)).toEqual(bits(reference.m));
      expect(bits(slots.v)).toEqual(bits(reference.v));
    });
  }
});
