// BatchNormalization's training pass on wasm (shared/models/batch-norm-training.ts, which
// KerasBatchNormalization takes there) against tfjs' own on the cpu backend: the output, the
// gradients of x, gamma and beta, and the moving statistics.

import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { describe, expect, it } from 'vitest';
import { ModelError } from '../shared/errors.js';
import { trainingBatchNorm } from '../shared/models/batch-norm-training.js';
import { kerasBatchNormalization } from '../shared/models/keras-batch-norm.js';
import { TOLERANCE, onBackend, randomValues, relativeError, useWasmTrainingKernels } from './helpers/parity.js';

useWasmTrainingKernels();

interface BatchNormCase {
  name: string;
  x: number[];
}

const BATCH_NORM_CASES: BatchNormCase[] = [
  { name: 'odd 5x7 with 3 channels', x: [2, 5, 7, 3] },
  { name: 'batch 1, odd 9x11', x: [1, 9, 11, 4] },
  { name: 'rank 2 (after a Dense layer)', x: [6, 5] },
  { name: 'one channel', x: [3, 4, 4, 1] },
  { name: 'mini-xception size, 16 channels', x: [8, 22, 22, 16] },
];

describe('BatchNormalization training on wasm', () => {
  interface BatchNormResult {
    y: Float32Array;
    dx: Float32Array;
    dGamma: Float32Array;
    dBeta: Float32Array;
    movingMean: Float32Array;
    movingVariance: Float32Array;
    kernels: string[];
  }

  /** A training-mode pass and the gradients of sum(y * w) on the current backend, with the kernels it ran. */
  async function trainingPass(shape: number[], seed: number): Promise<BatchNormResult> {
    const channels = shape.at(-1)!;
    const bn = kerasBatchNormalization({ name: 'bn' });
    const input = tf.input({ shape: shape.slice(1) });
    const model = tf.model({ inputs: input, outputs: bn.apply(input) as tf.SymbolicTensor });
    let result: Omit<BatchNormResult, 'kernels'> | undefined;
    const profile = await tf.profile(() =>
      tf.tidy(() => {
        // Values far from 0 with a spread of ~3, so that mean and variance both matter.
        const x = tf.add(tf.mul(tf.tensor(randomValues(shape, seed), shape), 3), 5);
        const w = tf.tensor(randomValues(shape, seed + 1), shape);
        const [gamma, beta] = bn.trainableWeights;
        gamma!.write(tf.add(tf.tensor1d(randomValues([channels], seed + 2)), 1));
        beta!.write(tf.tensor1d(randomValues([channels], seed + 3)));
        const loss = (input: tf.Tensor) => tf.sum(tf.mul(model.apply(input, { training: true }) as tf.Tensor, w)) as tf.Scalar;
        const y = model.apply(x, { training: true }) as tf.Tensor;
        const { grads } = tf.variableGrads(() => loss(x), [gamma!.read() as tf.Variable, beta!.read() as tf.Variable]);
        const dx = tf.grad(loss)(x);
        result = {
          y: y.dataSync() as Float32Array,
          dx: dx.dataSync() as Float32Array,
          dGamma: grads[gamma!.name]!.dataSync() as Float32Array,
          dBeta: grads[beta!.name]!.dataSync() as Float32Array,
          movingMean: bn.getWeights()[2]!.dataSync() as Float32Array,
          movingVariance: bn.getWeights()[3]!.dataSync() as Float32Array,
        };
      }),
    );
    model.dispose();
    return { ...result!, kernels: profile.kernels.map((k) => k.name) };
  }

  it.each(BATCH_NORM_CASES)('normalises, updates the moving statistics and differentiates like the cpu backend: $name', async (c) => {
    const cpu = await onBackend('cpu', () => trainingPass(c.x, 30));
    const wasm = await onBackend('wasm', () => trainingPass(c.x, 30));
    for (const key of ['y', 'dx', 'dGamma', 'dBeta', 'movingMean', 'movingVariance'] as const) {
      expect(relativeError(wasm[key], cpu[key]), key).toBeLessThanOrEqual(TOLERANCE);
    }
    // The cpu backend takes tfjs' own path (a Tile to the input's shape); wasm takes none.
    expect(cpu.kernels).toContain('Tile');
    expect(wasm.kernels).not.toContain('Tile');
  });

  it('passes no gradient to x when each channel has one value (the output is beta whatever x is)', async () => {
    const wasm = await onBackend('wasm', () => trainingPass([1, 1, 1, 4], 40));
    expect(Array.from(wasm.dx)).toEqual([0, 0, 0, 0]);
    // A batch variance of 0, averaged in by the three training passes: 0.99^3 of the initial 1.
    for (const v of wasm.movingVariance) expect(v).toBeCloseTo(0.99 ** 3, 6);
  });

  it('keeps a frozen layer in inference mode on wasm too', async () => {
    await tf.setBackend('wasm');
    const bn = kerasBatchNormalization({ name: 'frozen' });
    const input = tf.input({ shape: [3, 3, 2] });
    const model = tf.model({ inputs: input, outputs: bn.apply(input) as tf.SymbolicTensor });
    bn.trainable = false;
    const x = tf.tensor4d(randomValues([2, 3, 3, 2], 41), [2, 3, 3, 2]);
    const before = bn.getWeights().map((w) => Array.from(w.dataSync()));
    const training = model.apply(x, { training: true }) as tf.Tensor;
    const inference = model.apply(x, { training: false }) as tf.Tensor;
    expect(Array.from(training.dataSync())).toEqual(Array.from(inference.dataSync()));
    expect(bn.getWeights().map((w) => Array.from(w.dataSync()))).toEqual(before);
    tf.dispose([x, training, inference]);
    model.dispose();
  });

  it('leaves no tensors or wasm memory behind across training passes', async () => {
    await tf.setBackend('wasm');
    await trainingPass([2, 5, 5, 3], 42);
    const tensors = tf.memory().numTensors;
    const dataIds = tf.backend().numDataIds();
    for (let i = 0; i < 3; i++) await trainingPass([2, 5, 5, 3], 43 + i);
    expect(tf.memory().numTensors).toBe(tensors);
    expect(tf.backend().numDataIds()).toBe(dataIds);
  });
});

describe('trainingBatchNorm', () => {
  it('refuses a gamma or beta that does not fit the channels of x, naming the shapes', async () => {
    await tf.setBackend('wasm');
    const x = tf.zeros([2, 3, 3, 4]);
    const three = tf.ones([3]) as tf.Tensor1D;
    const four = tf.ones([4]) as tf.Tensor1D;
    expect(() => trainingBatchNorm(x, three, four, 1e-3)).toThrow(ModelError);
    expect(() => trainingBatchNorm(x, four, three, 1e-3)).toThrow(/x has shape \[2,3,3,4\]; expected rank >= 2 and gamma, beta of its 4 channels, got \[4\] and \[3\]/);
    tf.dispose([x, three, four]);
  });
});
