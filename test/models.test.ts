import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelError } from '../shared/errors.js';
import { backboneLayers } from '../shared/models/build-model.js';
import { frozenLayerCount } from '../shared/models/freeze.js';
import {
  type FreezeSpec,
  type ModelSpec,
  buildModel,
  formatFreeze,
  parseFreeze,
  regularizationLoss,
  setDropoutSeed,
  trainableVariables,
  updatableStateVariables,
} from '../shared/models/index.js';
import { KerasBatchNormalization, kerasBatchNormalization } from '../shared/models/keras-batch-norm.js';

// ResNet50 is exercised at 32x32 (Keras' minimum for include_top=False): the architecture and
// weight shapes do not depend on the input size, and the cpu backend is slow at 224x224.
const RESNET_TEST_SIZE = 32;

function spec(overrides: Partial<ModelSpec> = {}): ModelSpec {
  return {
    name: 'resnet50',
    imageSize: RESNET_TEST_SIZE,
    seed: 1234,
    freeze: { kind: 'none' },
    dropout: 0.5,
    l2: 0.01,
    ...overrides,
  };
}

function paramCount(variables: tf.LayerVariable[]): number {
  return variables.reduce((sum, variable) => sum + variable.shape.reduce((n: number, d) => n * (d ?? 1), 1), 0);
}

function layerNamed(model: tf.LayersModel, name: string): tf.layers.Layer {
  return model.getLayer(name);
}

function weightValues(layer: tf.layers.Layer): Float32Array[] {
  return layer.getWeights().map((weight) => weight.dataSync() as Float32Array);
}

function sameBits(a: Float32Array, b: Float32Array): boolean {
  return Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
}

function expectModelError(action: () => unknown, ...fragments: string[]): void {
  let thrown: unknown;
  try {
    action();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(ModelError);
  expect((thrown as ModelError).code).toBe('MODEL_INVALID');
  for (const fragment of fragments) expect((thrown as ModelError).message).toContain(fragment);
}

/** Saves to memory and loads back with the stock loader only (no custom classes registered). */
async function roundTrip(model: tf.LayersModel): Promise<{ loaded: tf.LayersModel; topology: string }> {
  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (saved) => {
      artifacts = saved;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  const loaded = await tf.loadLayersModel(tf.io.fromMemory(artifacts!));
  return { loaded, topology: JSON.stringify(artifacts!.modelTopology) };
}

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
