// ResNet50 as Keras builds it (layer names, order, parameters) and its --freeze forms.

import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backboneLayers } from '../shared/models/build-model.js';
import { frozenLayerCount } from '../shared/models/freeze.js';
import { type FreezeSpec, buildModel, parseFreeze, trainableVariables, updatableStateVariables } from '../shared/models/index.js';
import { RESNET_TEST_SIZE, expectModelError, layerNamed, paramCount, sameBits, spec, weightValues } from './helpers/models.js';

// Keras' ResNet50(include_top=False).layers[:40], as model.summary() lists them.
const KERAS_RESNET50_FIRST_40 = [
  'input',
  'conv1_pad',
  'conv1_conv',
  'conv1_bn',
  'conv1_relu',
  'pool1_pad',
  'pool1_pool',
  'conv2_block1_1_conv',
  'conv2_block1_1_bn',
  'conv2_block1_1_relu',
  'conv2_block1_2_conv',
  'conv2_block1_2_bn',
  'conv2_block1_2_relu',
  'conv2_block1_0_conv',
  'conv2_block1_3_conv',
  'conv2_block1_0_bn',
  'conv2_block1_3_bn',
  'conv2_block1_add',
  'conv2_block1_out',
  'conv2_block2_1_conv',
  'conv2_block2_1_bn',
  'conv2_block2_1_relu',
  'conv2_block2_2_conv',
  'conv2_block2_2_bn',
  'conv2_block2_2_relu',
  'conv2_block2_3_conv',
  'conv2_block2_3_bn',
  'conv2_block2_add',
  'conv2_block2_out',
  'conv2_block3_1_conv',
  'conv2_block3_1_bn',
  'conv2_block3_1_relu',
  'conv2_block3_2_conv',
  'conv2_block3_2_bn',
  'conv2_block3_2_relu',
  'conv2_block3_3_conv',
  'conv2_block3_3_bn',
  'conv2_block3_add',
  'conv2_block3_out',
  'conv3_block1_1_conv',
];

// Keras ResNet50(include_top=False): 23,587,712 parameters, of which 53,120 are BN moving stats.
const KERAS_RESNET50_PARAMS = 23_587_712;
const KERAS_RESNET50_NON_TRAINABLE = 53_120;
// GlobalAveragePooling (0) + Dense 2048->128 (262,272) + Dense 128->7 (903).
const HEAD_PARAMS = 263_175;

beforeAll(async () => {
  await tf.setBackend('cpu');
  tf.env().set('PROD', true);
});

describe('ResNet50', () => {
  let model: tf.LayersModel;

  beforeAll(() => {
    model = buildModel(spec());
  });

  afterAll(() => model.dispose());

  it('has 175 backbone layers including the InputLayer, as Keras builds it, then the 4 head layers', () => {
    expect(backboneLayers(model)).toHaveLength(175);
    expect(model.layers.slice(175).map((layer) => layer.name)).toEqual([
      'head_pool',
      'head_dense',
      'head_dropout',
      'predictions',
    ]);
  });

  it("orders its first 40 layers as Keras' base_model.layers[:40]", () => {
    expect(model.layers.slice(0, 40).map((layer) => layer.name)).toEqual(KERAS_RESNET50_FIRST_40);
  });

  it('has the 23,587,712 parameters of Keras ResNet50 without top, 53,120 of them moving statistics', () => {
    const backbone = backboneLayers(model);
    expect(backbone.reduce((sum, layer) => sum + layer.countParams(), 0)).toBe(KERAS_RESNET50_PARAMS);
    expect(paramCount(backbone.flatMap((layer) => layer.nonTrainableWeights))).toBe(KERAS_RESNET50_NON_TRAINABLE);
    expect(model.countParams()).toBe(KERAS_RESNET50_PARAMS + HEAD_PARAMS);
  });

  it("uses Keras' layer types, strides, BN epsilon and weight shapes", () => {
    const shapes = (name: string) => layerNamed(model, name).weights.map((w) => w.shape);
    expect(shapes('conv1_conv')).toEqual([[7, 7, 3, 64], [64]]);
    expect(shapes('conv1_bn')).toEqual([[64], [64], [64], [64]]);
    expect(shapes('conv2_block1_0_conv')).toEqual([[1, 1, 64, 256], [256]]);
    expect(shapes('conv4_block1_2_conv')).toEqual([[3, 3, 256, 256], [256]]);
    expect(shapes('conv5_block3_3_conv')).toEqual([[1, 1, 512, 2048], [2048]]);
    const strides = (name: string) => layerNamed(model, name).getConfig()['strides'];
    expect(strides('conv2_block1_1_conv')).toEqual([1, 1]);
    for (const stage of ['conv3', 'conv4', 'conv5']) {
      expect(strides(`${stage}_block1_0_conv`)).toEqual([2, 2]);
      expect(strides(`${stage}_block1_1_conv`)).toEqual([2, 2]);
      expect(strides(`${stage}_block1_2_conv`)).toEqual([1, 1]);
    }
    const batchNorms = model.layers.filter((layer) => layer.getClassName() === 'BatchNormalization');
    expect(batchNorms).toHaveLength(53);
    for (const layer of batchNorms) expect(layer.getConfig()['epsilon']).toBeCloseTo(1.001e-5, 10);
    expect(model.layers.filter((layer) => layer.getClassName() === 'Conv2D')).toHaveLength(53);
    expect(model.outputs[0]!.shape).toEqual([null, 7]);
  });

  it('outputs 7 class probabilities per image that sum to 1', () => {
    const images = tf.randomUniform([3, RESNET_TEST_SIZE, RESNET_TEST_SIZE, 3], 0, 255, 'float32', 7);
    const probabilities = model.predict(images) as tf.Tensor;
    expect(probabilities.shape).toEqual([3, 7]);
    const sums = probabilities.sum(1).arraySync() as number[];
    for (const sum of sums) expect(sum).toBeCloseTo(1, 5);
    tf.dispose([images, probabilities]);
  });

  it('trains every weight and updates every BN moving statistic when nothing is frozen', () => {
    const trainable = trainableVariables(model);
    // 53 convolutions (kernel, bias) + 53 BatchNorms (gamma, beta) + 2 Dense (kernel, bias).
    expect(trainable).toHaveLength(216);
    expect(paramCount(trainable)).toBe(KERAS_RESNET50_PARAMS - KERAS_RESNET50_NON_TRAINABLE + HEAD_PARAMS);
    expect(trainable.map((v) => v.id)).toEqual(model.trainableWeights.map((w) => w.id));
    expect(trainable.slice(0, 6).map((v) => v.originalName)).toEqual([
      'conv1_conv/kernel',
      'conv1_conv/bias',
      'conv1_bn/gamma',
      'conv1_bn/beta',
      'conv2_block1_1_conv/kernel',
      'conv2_block1_1_conv/bias',
    ]);
    expect(trainable.slice(-4).map((v) => v.originalName)).toEqual([
      'head_dense/kernel',
      'head_dense/bias',
      'predictions/kernel',
      'predictions/bias',
    ]);
    const state = updatableStateVariables(model);
    expect(state).toHaveLength(106);
    expect(state.slice(0, 2).map((v) => v.originalName)).toEqual(['conv1_bn/moving_mean', 'conv1_bn/moving_variance']);
    expect(state.every((v) => !v.trainable)).toBe(true);
  });

  it('builds bit-identical weights from the same seed, other weights from another seed', () => {
    const again = buildModel(spec());
    const other = buildModel(spec({ seed: 1235 }));
    try {
      let differing = 0;
      model.layers.forEach((layer, index) => {
        const ours = weightValues(layer);
        const twins = weightValues(again.layers[index]!);
        const others = weightValues(other.layers[index]!);
        ours.forEach((values, w) => {
          expect(sameBits(values, twins[w]!), `${layer.name} weight ${w}`).toBe(true);
          if (!sameBits(values, others[w]!)) differing += 1;
        });
      });
      // Every kernel (53 conv + 2 dense) differs; constant-initialised biases and BN weights do not.
      expect(differing).toBe(55);
      // Same-shaped kernels of different layers get their own seeds.
      const [kernelA] = weightValues(layerNamed(model, 'conv2_block2_1_conv'));
      const [kernelB] = weightValues(layerNamed(model, 'conv2_block3_1_conv'));
      expect(sameBits(kernelA!, kernelB!)).toBe(false);
    } finally {
      again.dispose();
      other.dispose();
    }
  });
});

describe('ResNet50 freezing', () => {
  function frozenModel(freeze: FreezeSpec): tf.LayersModel {
    return buildModel(spec({ freeze }));
  }

  it('freezes the first 40 layers of the backbone with --freeze 40, as base_model.layers[:40]', () => {
    const model = frozenModel(parseFreeze('40'));
    try {
      const backbone = backboneLayers(model);
      expect(backbone.slice(0, 40).every((layer) => !layer.trainable)).toBe(true);
      expect(backbone.slice(40).every((layer) => layer.trainable)).toBe(true);
      expect(backbone[40]!.name).toBe('conv3_block1_1_bn');
      const trainable = trainableVariables(model);
      // 12 convolutions and 11 BatchNorms lie in layers[:40].
      expect(trainable).toHaveLength(216 - 2 * 12 - 2 * 11);
      expect(paramCount(trainable)).toBe(23_538_055);
      expect(trainable[0]!.originalName).toBe('conv3_block1_1_bn/gamma');
      expect(updatableStateVariables(model)).toHaveLength(2 * (53 - 11));
      // tf.variableGrads with no variable list takes the tf.Variables flagged trainable: exactly these.
      const exchanged = new Set(trainable.map((v) => v.id));
      for (const weight of model.weights) expect((weight.read() as tf.Variable).trainable).toBe(exchanged.has(weight.id));
    } finally {
      model.dispose();
    }
  });

  it('trains only conv5 and the head with --freeze conv4', () => {
    const model = frozenModel(parseFreeze('conv4'));
    try {
      const trainable = trainableVariables(model);
      expect(trainable).toHaveLength(2 * 10 + 2 * 10 + 4);
      expect(paramCount(trainable)).toBe(14_976_000 + HEAD_PARAMS);
      expect(trainable.every((v) => /^(conv5_|head_|predictions)/.test(v.originalName))).toBe(true);
      const state = updatableStateVariables(model);
      expect(state).toHaveLength(20);
      expect(state.every((v) => v.originalName.startsWith('conv5_'))).toBe(true);
    } finally {
      model.dispose();
    }
  });

  it('never freezes the head, even when the whole backbone is frozen', () => {
    const model = frozenModel({ kind: 'count', layers: 175 });
    try {
      expect(trainableVariables(model).map((v) => v.originalName)).toEqual([
        'head_dense/kernel',
        'head_dense/bias',
        'predictions/kernel',
        'predictions/bias',
      ]);
      expect(updatableStateVariables(model)).toEqual([]);
    } finally {
      model.dispose();
    }
  });

  it('rejects a count beyond the backbone or an unknown stage, naming the value and the valid range', () => {
    expectModelError(() => frozenModel({ kind: 'count', layers: 176 }), '--freeze 176', 'resnet50', '0..175');
    const names = KERAS_RESNET50_FIRST_40.concat(['conv5_block1_1_conv']);
    expectModelError(
      () => frozenLayerCount({ kind: 'stage', stage: 'conv6' }, names, 'resnet50'),
      '--freeze conv6',
      'conv1, conv2, conv3, conv5',
    );
    expect(frozenLayerCount({ kind: 'stage', stage: 'conv1' }, names, 'resnet50')).toBe(5);
  });
});
