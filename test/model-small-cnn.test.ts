// small-cnn, and the --freeze parser every model shares.

import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { type ModelSpec, buildModel, formatFreeze, parseFreeze, trainableVariables, updatableStateVariables } from '../shared/models/index.js';
import { expectModelError, layerNamed, roundTrip, spec } from './helpers/models.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
  tf.env().set('PROD', true);
});

describe('parseFreeze', () => {
  it('reads none, a layer count and a stage name', () => {
    expect(parseFreeze('none')).toEqual({ kind: 'none' });
    expect(parseFreeze('40')).toEqual({ kind: 'count', layers: 40 });
    expect(parseFreeze('0')).toEqual({ kind: 'count', layers: 0 });
    expect(parseFreeze('conv4')).toEqual({ kind: 'stage', stage: 'conv4' });
    for (const text of ['none', '40', 'conv4']) expect(formatFreeze(parseFreeze(text))).toBe(text);
  });

  it('rejects a malformed value with a ModelError naming it and the accepted forms', () => {
    for (const text of ['abc', '-1', '4.5', 'conv', 'layer3', '', 'None']) {
      expectModelError(() => parseFreeze(text), `--freeze ${JSON.stringify(text)}`, 'none, a layer count');
    }
  });
});

describe('small-cnn', () => {
  const smallSpec = (overrides: Partial<ModelSpec> = {}) => spec({ name: 'small-cnn', imageSize: 64, ...overrides });

  it('is four 3x3 ReLU convolutions without BatchNorm under the head', () => {
    const model = buildModel(smallSpec());
    try {
      expect(model.layers.map((layer) => layer.name)).toEqual([
        'input',
        'conv1_conv',
        'conv2_conv',
        'conv3_conv',
        'conv4_conv',
        'head_pool',
        'head_dense',
        'head_dropout',
        'predictions',
      ]);
      const convs = model.layers.slice(1, 5);
      expect(convs.map((layer) => layer.getConfig()['filters'])).toEqual([16, 32, 64, 128]);
      expect(convs.map((layer) => layer.getConfig()['strides'])).toEqual([[2, 2], [2, 2], [2, 2], [1, 1]]);
      expect(convs.every((layer) => layer.getConfig()['activation'] === 'relu')).toBe(true);
      expect(convs.every((layer) => layer.getConfig()['padding'] === 'same')).toBe(true);
      expect(layerNamed(model, 'conv4_conv').outputShape).toEqual([null, 8, 8, 128]);
      expect(model.layers.some((layer) => layer.getClassName() === 'BatchNormalization')).toBe(false);
      expect(updatableStateVariables(model)).toEqual([]);
      expect(model.outputs[0]!.shape).toEqual([null, 7]);
    } finally {
      model.dispose();
    }
  });

  it('gives each sample the same output whatever else is in its batch', () => {
    const model = buildModel(smallSpec({ dropout: 0 }));
    const images = tf.randomUniform([4, 64, 64, 3], 0, 1, 'float32', 3);
    try {
      const whole = model.apply(images, { training: true }) as tf.Tensor;
      const half = model.apply(images.slice(0, 2), { training: true }) as tf.Tensor;
      expect(tf.max(tf.abs(tf.sub(whole.slice(0, 2), half))).dataSync()[0]).toBeLessThan(1e-6);
    } finally {
      tf.dispose(images);
      model.dispose();
    }
  });

  it('leaves the dropout layer out when the dropout rate is 0', () => {
    const model = buildModel(smallSpec({ dropout: 0 }));
    try {
      expect(model.layers.map((layer) => layer.name)).not.toContain('head_dropout');
    } finally {
      model.dispose();
    }
  });

  it('exchanges the unfrozen kernels and biases in layer order with --freeze conv2', () => {
    const model = buildModel(smallSpec({ freeze: parseFreeze('conv2') }));
    try {
      expect(trainableVariables(model).map((v) => v.originalName)).toEqual([
        'conv3_conv/kernel',
        'conv3_conv/bias',
        'conv4_conv/kernel',
        'conv4_conv/bias',
        'head_dense/kernel',
        'head_dense/bias',
        'predictions/kernel',
        'predictions/bias',
      ]);
    } finally {
      model.dispose();
    }
  });

  it('leaves tf.variableGrads exactly the trainable variables to differentiate when part is frozen', () => {
    const model = buildModel(smallSpec({ imageSize: 16, freeze: parseFreeze('conv2') }));
    const images = tf.randomUniform([2, 16, 16, 3], 0, 1, 'float32', 17);
    const labels = tf.oneHot(tf.tensor1d([1, 5], 'int32'), 7);
    try {
      // No variable list: tfjs differentiates every registered tf.Variable still marked trainable.
      const { value, grads } = tf.variableGrads(
        () => tf.mean(tf.metrics.categoricalCrossentropy(labels, model.apply(images, { training: true }) as tf.Tensor)) as tf.Scalar,
      );
      expect(Object.keys(grads)).toEqual(trainableVariables(model).map((v) => v.name));
      tf.dispose([value, grads]);
    } finally {
      tf.dispose([images, labels]);
      model.dispose();
    }
  });

  it('rejects a freeze beyond its 5 backbone layers or a stage it does not have', () => {
    expectModelError(() => buildModel(smallSpec({ freeze: parseFreeze('6') })), '--freeze 6', 'small-cnn', '0..5');
    expectModelError(() => buildModel(smallSpec({ freeze: parseFreeze('conv5') })), '--freeze conv5', 'conv1, conv2, conv3, conv4');
  });

  it('rejects an image size, dropout or l2 it cannot build, naming the value', () => {
    expectModelError(() => buildModel(smallSpec({ imageSize: 0 })), '--image-size 0');
    expectModelError(() => buildModel(spec({ imageSize: 31 })), '--image-size 31', '>= 32');
    expectModelError(() => buildModel(smallSpec({ dropout: 1 })), 'dropout 1');
    expectModelError(() => buildModel(smallSpec({ l2: -0.1 })), 'l2 -0.1');
  });

  it('saves as standard layers that plain tf.loadLayersModel reads back with the same predictions', async () => {
    const model = buildModel(smallSpec({ imageSize: 16 }));
    const images = tf.randomUniform([2, 16, 16, 3], 0, 1, 'float32', 5);
    const { loaded, topology } = await roundTrip(model);
    try {
      expect(topology).toContain('"class_name":"Dropout"');
      const expected = (model.predict(images) as tf.Tensor).dataSync();
      expect(Array.from((loaded.predict(images) as tf.Tensor).dataSync())).toEqual(Array.from(expected));
    } finally {
      tf.dispose(images);
      model.dispose();
      loaded.dispose();
    }
  });
});
