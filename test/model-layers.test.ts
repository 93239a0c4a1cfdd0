// The layers with semantics of their own: Keras' BatchNormalization, step-seeded dropout, the L2 penalty.

import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildModel, parseFreeze, regularizationLoss, setDropoutSeed, trainableVariables, updatableStateVariables } from '../shared/models/index.js';
import { KerasBatchNormalization, kerasBatchNormalization } from '../shared/models/keras-batch-norm.js';
import { RESNET_TEST_SIZE, layerNamed, roundTrip, spec } from './helpers/models.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
  tf.env().set('PROD', true);
});

describe('BatchNormalization (Keras frozen-layer semantics)', () => {
  // A lone BN over 4 features; batch mean [2, 4, 6, 8], biased batch variance [1, 4, 9, 16].
  const batch = () => tf.tensor2d([[1, 2, 3, 4], [3, 6, 9, 12]]);

  function bnModel(): { model: tf.LayersModel; bn: KerasBatchNormalization } {
    const input = tf.input({ shape: [4] });
    const bn = kerasBatchNormalization({ momentum: 0.99, name: 'bn' });
    return { model: tf.model({ inputs: input, outputs: bn.apply(input) as tf.SymbolicTensor }), bn };
  }

  const movingStats = (bn: tf.layers.Layer) => bn.nonTrainableWeights.map((w) => Array.from(w.read().dataSync()));

  it('runs a frozen layer in inference mode under training=true and leaves its moving statistics alone', () => {
    const { model, bn } = bnModel();
    bn.trainable = false;
    const x = batch();
    const before = movingStats(bn);
    const training = model.apply(x, { training: true }) as tf.Tensor;
    expect(movingStats(bn)).toEqual(before);
    const inference = model.apply(x, { training: false }) as tf.Tensor;
    expect(Array.from(training.dataSync())).toEqual(Array.from(inference.dataSync()));
    tf.dispose([x, training, inference]);
    model.dispose();
  });

  it('updates a trainable layer as moving = 0.99 * moving + 0.01 * batch statistic, with the biased variance', () => {
    const { model, bn } = bnModel();
    const x = batch();
    tf.dispose(model.apply(x, { training: true }) as tf.Tensor);
    const [mean, variance] = movingStats(bn);
    [0.02, 0.04, 0.06, 0.08].forEach((expected, i) => expect(mean![i]).toBeCloseTo(expected, 6));
    [1, 1.03, 1.08, 1.15].forEach((expected, i) => expect(variance![i]).toBeCloseTo(expected, 6));
    tf.dispose(x);
    model.dispose();
  });

  it('saves as a standard BatchNormalization that plain tf.loadLayersModel reads', async () => {
    const { model, bn } = bnModel();
    bn.trainable = false;
    const { loaded, topology } = await roundTrip(model);
    expect(topology).toContain('"class_name":"BatchNormalization"');
    const loadedBn = loaded.getLayer('bn');
    expect(loadedBn.getClassName()).toBe('BatchNormalization');
    expect(loadedBn).not.toBeInstanceOf(KerasBatchNormalization);
    expect(loadedBn.trainable).toBe(false);
    model.dispose();
    loaded.dispose();
  });

  it('keeps the frozen BNs of ResNet50 (--freeze 40) fixed and updates the others in a training pass', () => {
    const model = buildModel(spec({ freeze: parseFreeze('40') }));
    const images = tf.randomUniform([2, RESNET_TEST_SIZE, RESNET_TEST_SIZE, 3], 0, 1, 'float32', 11);
    try {
      const frozen = layerNamed(model, 'conv2_block3_3_bn');
      const trained = layerNamed(model, 'conv5_block3_3_bn');
      const frozenBefore = movingStats(frozen);
      const trainedBefore = movingStats(trained);
      tf.dispose(model.apply(images, { training: true }) as tf.Tensor);
      expect(movingStats(frozen)).toEqual(frozenBefore);
      expect(movingStats(trained)).not.toEqual(trainedBefore);
      const state = updatableStateVariables(model).map((v) => v.originalName);
      expect(state).not.toContain('conv2_block3_3_bn/moving_mean');
      expect(state).toContain('conv5_block3_3_bn/moving_mean');
    } finally {
      tf.dispose(images);
      model.dispose();
    }
  });
});

describe('dropout', () => {
  it('repeats the same mask on every call in tfjs when given a fixed seed, so the head sets none', () => {
    const x = tf.ones([1, 64]);
    const seeded = tf.layers.dropout({ rate: 0.5, seed: 42 });
    const first = (seeded.apply(x, { training: true }) as tf.Tensor).dataSync();
    const second = (seeded.apply(x, { training: true }) as tf.Tensor).dataSync();
    expect(Array.from(second)).toEqual(Array.from(first));
    tf.dispose(x);
  });

  it('draws a fresh mask per call, and repeats one only for a repeated step seed', () => {
    const model = buildModel(spec({ name: 'small-cnn', imageSize: 16 }));
    const images = tf.randomUniform([2, 16, 16, 3], 0, 1, 'float32', 9);
    const trainingOutput = () => Array.from((model.apply(images, { training: true }) as tf.Tensor).dataSync());
    try {
      expect(trainingOutput()).not.toEqual(trainingOutput());
      setDropoutSeed(model, 100);
      const step100 = trainingOutput();
      setDropoutSeed(model, 100);
      expect(trainingOutput()).toEqual(step100);
      setDropoutSeed(model, 101);
      expect(trainingOutput()).not.toEqual(step100);
      const inference = Array.from((model.apply(images, { training: false }) as tf.Tensor).dataSync());
      expect(Array.from((model.predict(images) as tf.Tensor).dataSync())).toEqual(inference);
    } finally {
      tf.dispose(images);
      model.dispose();
    }
  });
});

describe('regularizationLoss', () => {
  const l2 = 0.01;

  it("is l2 * sum(W^2) of the head's Dense 128 kernel, with gradient 2 * l2 * W", () => {
    const model = buildModel(spec({ name: 'small-cnn', imageSize: 16, l2 }));
    try {
      const kernel = layerNamed(model, 'head_dense').trainableWeights[0]!;
      const w = kernel.read();
      const loss = regularizationLoss(model);
      expect(loss.dataSync()[0]).toBeCloseTo(l2 * tf.sum(tf.square(w)).dataSync()[0]!, 5);
      const { grads } = tf.variableGrads(() => regularizationLoss(model), [w as tf.Variable]);
      const gradient = grads[kernel.name]!;
      const expected = tf.mul(w, 2 * l2);
      expect(tf.max(tf.abs(tf.sub(gradient, expected))).dataSync()[0]).toBeLessThan(1e-7);
    } finally {
      model.dispose();
    }
  });

  it('is 0 when l2 is 0', () => {
    const model = buildModel(spec({ name: 'small-cnn', imageSize: 16, l2: 0 }));
    try {
      expect(model.calculateLosses()).toHaveLength(0);
      expect(regularizationLoss(model).dataSync()[0]).toBe(0);
    } finally {
      model.dispose();
    }
  });

  it('adds its gradient to the data loss of model.apply(training) inside tf.variableGrads', () => {
    const model = buildModel(spec({ name: 'small-cnn', imageSize: 16, l2, dropout: 0 }));
    const images = tf.randomUniform([4, 16, 16, 3], 0, 1, 'float32', 13);
    const labels = tf.oneHot(tf.tensor1d([0, 3, 6, 2], 'int32'), 7);
    const variables = trainableVariables(model).map((v) => v.read() as tf.Variable);
    try {
      const dataLoss = () =>
        tf.mean(tf.metrics.categoricalCrossentropy(labels, model.apply(images, { training: true }) as tf.Tensor)) as tf.Scalar;
      const dataOnly = tf.variableGrads(dataLoss, variables).grads;
      const total = tf.variableGrads(() => tf.add(dataLoss(), regularizationLoss(model)) as tf.Scalar, variables).grads;
      for (const variable of trainableVariables(model)) {
        const difference = tf.sub(total[variable.name]!, dataOnly[variable.name]!);
        const expected = variable.originalName === 'head_dense/kernel' ? tf.mul(variable.read(), 2 * l2) : tf.zerosLike(difference);
        expect(tf.max(tf.abs(tf.sub(difference, expected))).dataSync()[0], variable.originalName).toBeLessThan(1e-6);
      }
    } finally {
      tf.dispose([images, labels]);
      model.dispose();
    }
  });
});
