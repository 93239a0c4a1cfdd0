// mini-Xception (Arriaga et al. 2017) as oarriaga/face_classification's Keras code builds it, with
// either ending (--head paper|study): layer structure and names, parameter count, outputs,
// deterministic weights, what trains and what is state, and saving in standard Keras layers.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ModelError } from '../shared/errors.js';
import { MODEL_DEFAULTS, validateWorkerConfig, type WorkerConfig } from '../shared/config.js';
import { backboneLayers } from '../shared/models/build-model.js';
import { type ModelSpec, buildModel, parseFreeze, regularizationLoss, trainableVariables, updatableStateVariables } from '../shared/models/index.js';
import { loadLayersModelFromDir } from '../shared/model-io.js';
import { expectModelError, layerNamed, paramCount, roundTrip, sameBits, spec, weightValues } from './helpers/models.js';
import { COORDINATOR, Program, cleanUp, readCsv, readEvents, tempDir } from './helpers/processes.js';

const SIZE = 48;
const miniSpec = (overrides: Partial<ModelSpec> = {}): ModelSpec =>
  spec({ name: 'mini-xception', imageSize: SIZE, head: 'paper', dropout: 0, ...overrides });

const MODULE_LAYERS = (stage: string) => [
  `${stage}_1_sepconv`,
  `${stage}_1_bn`,
  `${stage}_1_relu`,
  `${stage}_2_sepconv`,
  `${stage}_2_bn`,
  `${stage}_0_conv`,
  `${stage}_pool`,
  `${stage}_0_bn`,
  `${stage}_add`,
];

// In tfjs' (and Keras') graph-depth order: the residual branch's 1x1 conv sits beside the second
// separable conv's BN, its BN beside the pooling.
const BACKBONE_LAYERS = [
  'input',
  'conv1_1_conv',
  'conv1_1_bn',
  'conv1_1_relu',
  'conv1_2_conv',
  'conv1_2_bn',
  'conv1_2_relu',
  ...MODULE_LAYERS('conv2'),
  ...MODULE_LAYERS('conv3'),
  ...MODULE_LAYERS('conv4'),
  ...MODULE_LAYERS('conv5'),
];

// Counted by hand from the layer shapes, and equal to what PyTorch counts for the same network
// (bench/peer/mini_xception_step.py prints 57,095 parameters + 1,472 BatchNorm running statistics):
//   base: conv 3x3x3x8 (216) + BN 4x8 + conv 3x3x8x8 (576) + BN 4x8                       =    856
//   module (in -> f): 1x1 in x f + BN 4f + (dw 9 in + pw in x f) + BN 4f + (dw 9f + pw f x f) + BN 4f
//     8 -> 16: 920; 16 -> 32: 2,864; 32 -> 64: 9,824; 64 -> 128: 36,032                 = 49,640
//   paper ending: conv 3x3x128x7 + 7 biases                                               =  8,071
// The original's grey input has 144 weights fewer in the first kernel (3x3x1x8).
const BACKBONE_PARAMS = 50_496;
const MOVING_STATISTICS = 1_472; // 2 x (8 + 8 + 3 x (16 + 32 + 64 + 128)) channels of 14 BNs
const PAPER_HEAD_PARAMS = 8_071;
const STUDY_HEAD_PARAMS = 128 * 128 + 128 + 128 * 7 + 7;

beforeAll(async () => {
  await tf.setBackend('cpu');
  tf.env().set('PROD', true);
});

describe('mini-xception', () => {
  let model: tf.LayersModel;

  beforeAll(() => {
    model = buildModel(miniSpec());
  });

  afterAll(() => model.dispose());

  it('has the base, four residual modules and the paper ending, named by stage so --freeze convK works', () => {
    expect(model.layers.map((layer) => layer.name)).toEqual([...BACKBONE_LAYERS, 'head_conv', 'head_pool', 'predictions']);
    expect(backboneLayers(model).map((layer) => layer.name)).toEqual(BACKBONE_LAYERS);
    const classes = (names: string[]) => names.map((name) => layerNamed(model, name).getClassName());
    expect(classes(BACKBONE_LAYERS.slice(1, 7))).toEqual(['Conv2D', 'BatchNormalization', 'Activation', 'Conv2D', 'BatchNormalization', 'Activation']);
    expect(classes(MODULE_LAYERS('conv3'))).toEqual([
      'SeparableConv2D',
      'BatchNormalization',
      'Activation',
      'SeparableConv2D',
      'BatchNormalization',
      'Conv2D',
      'MaxPooling2D',
      'BatchNormalization',
      'Add',
    ]);
    expect(classes(['head_conv', 'head_pool', 'predictions'])).toEqual(['Conv2D', 'GlobalAveragePooling2D', 'Activation']);
  });

  it('uses the Keras code’s filters, kernels, strides, paddings and biases', () => {
    const config = (name: string) => layerNamed(model, name).getConfig();
    for (const name of ['conv1_1_conv', 'conv1_2_conv']) {
      expect(config(name)).toMatchObject({ filters: 8, kernelSize: [3, 3], strides: [1, 1], padding: 'valid', useBias: false });
    }
    [16, 32, 64, 128].forEach((filters, i) => {
      const stage = `conv${i + 2}`;
      expect(config(`${stage}_0_conv`)).toMatchObject({ filters, kernelSize: [1, 1], strides: [2, 2], padding: 'same', useBias: false });
      for (const sep of [`${stage}_1_sepconv`, `${stage}_2_sepconv`]) {
        expect(config(sep)).toMatchObject({ filters, kernelSize: [3, 3], strides: [1, 1], padding: 'same', useBias: false });
      }
      const inChannels = i === 0 ? 8 : filters / 2;
      expect(layerNamed(model, `${stage}_1_sepconv`).weights.map((w) => w.shape)).toEqual([[3, 3, inChannels, 1], [1, 1, inChannels, filters]]);
      expect(layerNamed(model, `${stage}_2_sepconv`).weights.map((w) => w.shape)).toEqual([[3, 3, filters, 1], [1, 1, filters, filters]]);
      expect(config(`${stage}_pool`)).toMatchObject({ poolSize: [3, 3], strides: [2, 2], padding: 'same' });
    });
    expect(config('head_conv')).toMatchObject({ filters: 7, kernelSize: [3, 3], padding: 'same', useBias: true });
    expect(config('predictions')['activation']).toBe('softmax');
    const batchNorms = model.layers.filter((layer) => layer.getClassName() === 'BatchNormalization');
    expect(batchNorms).toHaveLength(14);
    for (const layer of batchNorms) expect(layer.getConfig()).toMatchObject({ momentum: 0.99, epsilon: 1e-3 });
  });

  it('halves the feature map in every module: 48 -> 46 -> 44 -> 22 -> 11 -> 6 -> 3', () => {
    const side = (name: string) => (layerNamed(model, name).outputShape as number[])[1];
    expect(['conv1_1_conv', 'conv1_2_conv', 'conv2_add', 'conv3_add', 'conv4_add', 'conv5_add'].map(side)).toEqual([46, 44, 22, 11, 6, 3]);
    expect(layerNamed(model, 'conv5_add').outputShape).toEqual([null, 3, 3, 128]);
  });

  it('has 58,567 parameters with the paper ending and 67,911 with the study head, as PyTorch counts them', () => {
    const backbone = backboneLayers(model);
    expect(backbone.reduce((sum, layer) => sum + layer.countParams(), 0)).toBe(BACKBONE_PARAMS);
    expect(paramCount(backbone.flatMap((layer) => layer.nonTrainableWeights))).toBe(MOVING_STATISTICS);
    expect(model.countParams()).toBe(58_567);
    expect(model.countParams()).toBe(BACKBONE_PARAMS + PAPER_HEAD_PARAMS);
    expect(paramCount(trainableVariables(model))).toBe(57_095);
    const study = buildModel(miniSpec({ head: 'study', dropout: 0.5 }));
    try {
      expect(study.countParams()).toBe(67_911);
      expect(study.countParams()).toBe(BACKBONE_PARAMS + STUDY_HEAD_PARAMS);
      expect(study.layers.slice(BACKBONE_LAYERS.length).map((layer) => layer.name)).toEqual(['head_pool', 'head_dense', 'head_dropout', 'predictions']);
    } finally {
      study.dispose();
    }
  });

  it('outputs 7 class probabilities per image that sum to 1, with either ending', () => {
    const images = tf.randomUniform([3, SIZE, SIZE, 3], 0, 1, 'float32', 7);
    const study = buildModel(miniSpec({ head: 'study', dropout: 0.5 }));
    try {
      for (const built of [model, study]) {
        const probabilities = built.predict(images) as tf.Tensor;
        expect(probabilities.shape).toEqual([3, 7]);
        const values = probabilities.dataSync();
        expect(values.every((p) => p >= 0 && p <= 1)).toBe(true);
        for (const sum of probabilities.sum(1).arraySync() as number[]) expect(sum).toBeCloseTo(1, 5);
        probabilities.dispose();
      }
    } finally {
      tf.dispose(images);
      study.dispose();
    }
  });

  it('builds bit-identical weights from the same seed, other kernels from another, and its own for each separable kernel', () => {
    const again = buildModel(miniSpec());
    const other = buildModel(miniSpec({ seed: 1235 }));
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
      // 2 base + 4 residual convs, 8 separable convs x (depthwise + pointwise), the head's conv.
      expect(differing).toBe(2 + 4 + 16 + 1);
      // tfjs 4.22 alone would initialise the pointwise kernel with the depthwise kernel's seeded
      // initializer: both would start from the same uniform draws, only scaled (constant ratios).
      const [depthwise, pointwise] = weightValues(layerNamed(model, 'conv3_1_sepconv'));
      const ratio = pointwise![0]! / depthwise![0]!;
      expect(Array.from({ length: 8 }, (_, i) => pointwise![i]! / depthwise![i]!).every((r) => Math.abs(r - ratio) < 1e-5)).toBe(false);
    } finally {
      again.dispose();
      other.dispose();
    }
  });

  it('trains every kernel and BN scale and offset, and keeps every BN moving statistic as exchanged state', () => {
    const trainable = trainableVariables(model).map((v) => v.originalName);
    // 2 + 4 convs, 8 separable (2 kernels each), 14 BNs (gamma, beta), head conv (kernel, bias).
    expect(trainable).toHaveLength(6 + 16 + 28 + 2);
    expect(trainable.slice(0, 4)).toEqual(['conv1_1_conv/kernel', 'conv1_1_bn/gamma', 'conv1_1_bn/beta', 'conv1_2_conv/kernel']);
    expect(trainable).toContain('conv2_1_sepconv/depthwise_kernel');
    expect(trainable).toContain('conv2_1_sepconv/pointwise_kernel');
    expect(trainable.slice(-2)).toEqual(['head_conv/kernel', 'head_conv/bias']);
    const state = updatableStateVariables(model).map((v) => v.originalName);
    expect(state).toHaveLength(28);
    expect(state.slice(0, 2)).toEqual(['conv1_1_bn/moving_mean', 'conv1_1_bn/moving_variance']);
    expect(state).toContain('conv5_0_bn/moving_variance');
    expect(paramCount(updatableStateVariables(model))).toBe(MOVING_STATISTICS);
  });

  it('regularises only the two base convolutions, as the Keras SeparableConv2D ignores kernel_regularizer', () => {
    const w1 = layerNamed(model, 'conv1_1_conv').getWeights()[0]!;
    const w2 = layerNamed(model, 'conv1_2_conv').getWeights()[0]!;
    const expected = 0.01 * (tf.sum(tf.square(w1)).dataSync()[0]! + tf.sum(tf.square(w2)).dataSync()[0]!);
    expect(model.calculateLosses()).toHaveLength(2);
    expect(regularizationLoss(model).dataSync()[0]).toBeCloseTo(expected, 6);
    const unregularised = buildModel(miniSpec({ l2: 0 }));
    try {
      expect(unregularised.calculateLosses()).toHaveLength(0);
    } finally {
      unregularised.dispose();
    }
  });

  it('updates its BN moving statistics in a training pass and leaves them alone in inference', () => {
    const images = tf.randomUniform([2, SIZE, SIZE, 3], 0, 1, 'float32', 3);
    const built = buildModel(miniSpec());
    try {
      const moving = () => Array.from(layerNamed(built, 'conv3_2_bn').getWeights()[2]!.dataSync());
      const before = moving();
      tf.dispose(built.predict(images) as tf.Tensor);
      expect(moving()).toEqual(before);
      tf.dispose(built.apply(images, { training: true }) as tf.Tensor);
      expect(moving()).not.toEqual(before);
    } finally {
      tf.dispose(images);
      built.dispose();
    }
  });

  it('freezes by stage: --freeze conv3 trains conv4, conv5 and the head, and keeps only their BN statistics as state', () => {
    const frozen = buildModel(miniSpec({ freeze: parseFreeze('conv3') }));
    try {
      const backbone = backboneLayers(frozen);
      const lastFrozen = backbone.findIndex((layer) => layer.name === 'conv3_add');
      expect(backbone.slice(0, lastFrozen + 1).every((layer) => !layer.trainable)).toBe(true);
      expect(backbone.slice(lastFrozen + 1).every((layer) => layer.trainable)).toBe(true);
      expect(trainableVariables(frozen).every((v) => /^(conv4_|conv5_|head_)/.test(v.originalName))).toBe(true);
      expect(updatableStateVariables(frozen).map((v) => v.originalName.split('/')[0])).toEqual(
        ['conv4_1_bn', 'conv4_2_bn', 'conv4_0_bn', 'conv5_1_bn', 'conv5_2_bn', 'conv5_0_bn'].flatMap((name) => [name, name]),
      );
    } finally {
      frozen.dispose();
    }
  });

  it('saves as standard Keras layers that plain tf.loadLayersModel reads back with the same predictions', async () => {
    const images = tf.randomUniform([2, SIZE, SIZE, 3], 0, 1, 'float32', 5);
    const { loaded, topology } = await roundTrip(model);
    try {
      for (const className of ['SeparableConv2D', 'BatchNormalization', 'MaxPooling2D', 'Add', 'GlobalAveragePooling2D']) {
        expect(topology).toContain(`"class_name":"${className}"`);
      }
      expect(loaded.layers.map((layer) => layer.name)).toEqual(model.layers.map((layer) => layer.name));
      const expected = (model.predict(images) as tf.Tensor).dataSync();
      expect(Array.from((loaded.predict(images) as tf.Tensor).dataSync())).toEqual(Array.from(expected));
    } finally {
      tf.dispose(images);
      loaded.dispose();
    }
  });

  it('rejects an image too small for its two valid convolutions, a paper head elsewhere, and dropout on the paper head', () => {
    expectModelError(() => buildModel(miniSpec({ imageSize: 4 })), '--image-size 4', 'mini-xception', '>= 5');
    expectModelError(() => buildModel(spec({ name: 'small-cnn', imageSize: 32, head: 'paper', dropout: 0 })), '--head paper', 'small-cnn', '--head study');
    expectModelError(() => buildModel(miniSpec({ dropout: 0.5 })), 'dropout 0.5', '--head paper', 'no dropout layer');
    expectModelError(() => buildModel(miniSpec({ head: 'other' as ModelSpec['head'] })), '--head other', 'study, paper');
  });
});

describe('mini-xception run settings', () => {
  const workerConfig = (overrides: Partial<WorkerConfig> = {}): WorkerConfig => ({
    model: 'mini-xception',
    imageSize: 48,
    freeze: 'none',
    head: 'paper',
    dropout: 0,
    l2: 0.01,
    seed: 42,
    precision: 'fp16',
    microBatch: 0,
    augment: true,
    preprocessing: 'unit',
    ...overrides,
  });

  it("defaults to the paper's FER2013 recipe: 48 px, nothing frozen, Adam 1e-3, x / 255, its own ending", () => {
    expect(MODEL_DEFAULTS['mini-xception']).toEqual({ imageSize: 48, freeze: 'none', learningRate: 1e-3, preprocessing: 'unit', head: 'paper' });
    expect(MODEL_DEFAULTS['resnet50'].head).toBe('study');
    expect(MODEL_DEFAULTS['small-cnn'].head).toBe('study');
  });

  it('checks a worker configuration against the model, before any dataset is read', () => {
    expect(validateWorkerConfig(workerConfig())).toEqual(workerConfig());
    expect(() => validateWorkerConfig(workerConfig({ dropout: 0.5 }))).toThrow(/dropout 0\.5 cannot apply to --head paper/);
    expect(() => validateWorkerConfig(workerConfig({ model: 'resnet50', imageSize: 224 }))).toThrow(/--head paper is mini-xception's ending/);
    expect(() => validateWorkerConfig(workerConfig({ imageSize: 16, head: 'study', dropout: 0.5 }))).not.toThrow();
    expect(() => validateWorkerConfig(workerConfig({ head: 'other' as WorkerConfig['head'] }))).toThrow(ModelError);
  });
});

describe('mini-xception in a distributed run', () => {
  afterEach(cleanUp);

  it('trains end to end on two wasm workers, keeping their BatchNorm statistics in step', async () => {
    const runs = tempDir('runs');
    const coordinator = new Program(COORDINATOR, [
      '--gpus', '2', '--epochs', '2', '--steps-per-epoch', '2', '--dataset', 'synthetic', '--synthetic-count', '700',
      '--model', 'mini-xception', '--runs', runs, '--run-id', 'mini', '--progress', 'lines',
    ]);
    const { code } = await coordinator.exit(120_000);
    expect(code, coordinator.output).toBe(0);
    const runDir = path.join(runs, 'mini');
    const config = JSON.parse(readFileSync(path.join(runDir, 'config.json'), 'utf8')) as Record<string, unknown>;
    expect(config).toMatchObject({ model: 'mini-xception', head: 'paper', dropout: 0, imageSize: 48, freeze: 'none', learningRate: 1e-3, preprocessing: 'unit', gpus: 2 });

    const events = readEvents(runDir);
    expect(events.filter((e) => e.event === 'epoch_end')).toHaveLength(2);
    // Every replica's weights and BN statistics hash like the coordinator's after each epoch: the
    // statistics each worker moved on its own shard were averaged and written back everywhere.
    expect(events.filter((e) => e.event === 'replicas_verified').map((e) => e['workers'])).toEqual([2, 2]);
    expect(events.at(-1)!.event).toBe('run_finished');
    for (const row of readCsv(path.join(runDir, 'metrics.csv'))) {
      for (const column of ['loss', 'accuracy', 'val_loss', 'val_accuracy']) expect(Number.isFinite(row[column]), column).toBe(true);
    }

    const best = await loadLayersModelFromDir(path.join(runDir, 'checkpoints', 'best'));
    const images = tf.randomUniform([2, SIZE, SIZE, 3], 0, 1, 'float32', 9);
    try {
      const probabilities = best.predict(images) as tf.Tensor2D;
      expect(probabilities.shape).toEqual([2, 7]);
      for (const row of probabilities.arraySync()) expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
      // Trained statistics: finite, and no longer the initial mean 0 / variance 1.
      const [, , movingMean, movingVariance] = best.getLayer('conv1_1_bn').getWeights().map((w) => Array.from(w.dataSync()));
      expect(movingMean!.every(Number.isFinite) && movingVariance!.every((v) => Number.isFinite(v) && v >= 0)).toBe(true);
      expect(movingMean!.some((m) => m !== 0)).toBe(true);
      expect(movingVariance!.some((v) => v !== 1)).toBe(true);
    } finally {
      tf.dispose(images);
      best.dispose();
    }
  });
});
