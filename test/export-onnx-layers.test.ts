// Issue 10, point 4: the ONNX exporter converts each Keras layer type emotrain's models are made
// of (and mini-xception's: depthwise and separable convolutions, BatchNorm, max pooling, residual
// adds) so that onnxruntime computes what tfjs computes. Each case is a small model built here,
// with random weights (BatchNorm with random statistics), run by both on random inputs.

import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { ExportError } from '../shared/errors.js';
import { tfjsModelToOnnx } from '../export/onnx/tfjs-to-onnx.js';

const TOLERANCE = 1e-5;

beforeAll(async () => {
  tf.env().set('PROD', true);
  await tf.setBackend('cpu');
});

/** The largest absolute difference between tfjs' and onnxruntime's outputs of `model` on `batch` random inputs. */
async function maxDifference(model: tf.LayersModel, batch = 3): Promise<number> {
  const shape = [batch, ...(model.inputs[0]!.shape.slice(1) as number[])];
  const input = tf.randomUniform(shape, -1, 1, 'float32', 7);
  const expected = (model.predict(input) as tf.Tensor).dataSync();
  const exported = tfjsModelToOnnx(model);
  const session = await ort.InferenceSession.create(exported.bytes);
  const outputs = await session.run({ [exported.inputName]: new ort.Tensor('float32', input.dataSync() as Float32Array, shape) });
  const actual = outputs[exported.outputName]!.data as Float32Array;
  await session.release();
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < actual.length; i++) worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!));
  input.dispose();
  return worst;
}

/** input [h, w, c] → layers in sequence. */
function sequential(inputShape: number[], ...layers: tf.layers.Layer[]): tf.LayersModel {
  const input = tf.input({ shape: inputShape });
  let x: tf.SymbolicTensor = input;
  for (const layer of layers) x = layer.apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: x });
}

/** Replaces every BatchNormalization's weights with random ones (moving variance positive). */
function randomiseBatchNorm(model: tf.LayersModel): tf.LayersModel {
  for (const layer of model.layers) {
    if (layer.getClassName() !== 'BatchNormalization') continue;
    layer.setWeights(layer.weights.map((w, i) => (w.name.endsWith('moving_variance') ? tf.randomUniform(w.shape as number[], 0.5, 2, 'float32', i) : tf.randomNormal(w.shape as number[], 0, 1, 'float32', i))));
  }
  return model;
}

describe('the ONNX exporter, layer by layer', () => {
  const cases: Array<[string, () => tf.LayersModel]> = [
    ['Conv2D, same padding, stride 2, odd input, relu', () => sequential([9, 7, 3], tf.layers.conv2d({ filters: 5, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu' }))],
    ['Conv2D, valid padding, 1x2 stride, no bias', () => sequential([8, 8, 2], tf.layers.conv2d({ filters: 4, kernelSize: [3, 2], strides: [1, 2], padding: 'valid', useBias: false }))],
    ['Conv2D, 7x7 stride 2 with dilation 1 (ResNet\'s stem)', () => sequential([16, 16, 3], tf.layers.conv2d({ filters: 4, kernelSize: 7, strides: 2, padding: 'valid' }))],
    ['Conv2D, dilation 2', () => sequential([10, 10, 2], tf.layers.conv2d({ filters: 3, kernelSize: 3, dilationRate: 2, padding: 'same' }))],
    ['DepthwiseConv2D, multiplier 2, same, stride 2', () => sequential([9, 9, 3], tf.layers.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2, strides: 2, padding: 'same' }))],
    ['DepthwiseConv2D, valid, no bias, relu6 activation', () => sequential([8, 8, 4], tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'valid', useBias: false, activation: 'relu6' }))],
    ['SeparableConv2D, same, no bias (mini-Xception)', () => sequential([8, 8, 4], tf.layers.separableConv2d({ filters: 6, kernelSize: 3, padding: 'same', useBias: false }))],
    ['SeparableConv2D, multiplier 2, stride 2, bias, relu', () => sequential([9, 9, 3], tf.layers.separableConv2d({ filters: 5, kernelSize: 3, strides: 2, depthMultiplier: 2, padding: 'same', activation: 'relu' }))],
    ['BatchNormalization with moving statistics, epsilon 1.001e-5', () => randomiseBatchNorm(sequential([6, 6, 4], tf.layers.batchNormalization({ epsilon: 1.001e-5 })))],
    ['BatchNormalization without scale or centre', () => randomiseBatchNorm(sequential([6, 6, 3], tf.layers.batchNormalization({ scale: false, center: false })))],
    ['BatchNormalization on features (after Dense)', () => randomiseBatchNorm(sequential([4, 4, 2], tf.layers.flatten(), tf.layers.dense({ units: 6 }), tf.layers.batchNormalization({})))],
    ['MaxPooling2D 3x3 stride 2 same (mini-Xception)', () => sequential([9, 9, 3], tf.layers.maxPooling2d({ poolSize: 3, strides: 2, padding: 'same' }))],
    // Regression: onnxruntime folded the zero padding into the pool, ignoring it; inputs here go negative.
    ['MaxPooling2D 3x3 stride 2 valid after ZeroPadding2D (ResNet\'s pool1), with negative inputs', () => sequential([8, 8, 2], tf.layers.zeroPadding2d({ padding: [[1, 1], [1, 1]] }), tf.layers.maxPooling2d({ poolSize: 3, strides: 2 }))],
    ['AveragePooling2D 2x2, same on an odd size (padding left out of the mean)', () => sequential([7, 7, 2], tf.layers.averagePooling2d({ poolSize: 2, strides: 2, padding: 'same' }))],
    ['GlobalAveragePooling2D', () => sequential([5, 6, 4], tf.layers.globalAveragePooling2d({}))],
    ['GlobalMaxPooling2D', () => sequential([5, 6, 4], tf.layers.globalMaxPooling2d({}))],
    ['ZeroPadding2D asymmetric', () => sequential([4, 5, 2], tf.layers.zeroPadding2d({ padding: [[1, 2], [3, 0]] }))],
    ['Flatten (NHWC order) then Dense softmax', () => sequential([3, 4, 5], tf.layers.flatten(), tf.layers.dense({ units: 7, activation: 'softmax' }))],
    ['Dense without bias, tanh', () => sequential([2, 2, 3], tf.layers.globalAveragePooling2d({}), tf.layers.dense({ units: 4, useBias: false, activation: 'tanh' }))],
    ['Dropout as identity', () => sequential([4, 4, 3], tf.layers.dropout({ rate: 0.5 }), tf.layers.conv2d({ filters: 2, kernelSize: 1 }), tf.layers.dropout({ rate: 0.2 }))],
    ['Activation layers: relu, sigmoid, elu, selu, softplus, softsign, hardSigmoid, swish, linear', () =>
      sequential([4, 4, 3], ...['relu', 'sigmoid', 'elu', 'selu', 'softplus', 'softsign', 'hardSigmoid', 'swish', 'linear'].map((a) => tf.layers.activation({ activation: a as 'relu' })))],
    ['Activation softmax over channels of an image-like tensor', () => sequential([3, 3, 5], tf.layers.activation({ activation: 'softmax' }))],
    ['ReLU layer with max value, LeakyReLU, ELU, Softmax layer', () =>
      sequential([4, 4, 3], tf.layers.reLU({ maxValue: 0.5 }), tf.layers.leakyReLU({ alpha: 0.2 }), tf.layers.elu({}), tf.layers.softmax({ axis: -1 }))],
  ];
  for (const [name, build] of cases) {
    it(`converts ${name}`, async () => {
      const model = build();
      expect(await maxDifference(model)).toBeLessThan(TOLERANCE);
      model.dispose();
    });
  }

  it('converts residual adds, concatenation and multiplication (a functional graph with branches)', async () => {
    const input = tf.input({ shape: [8, 8, 4] });
    const a = tf.layers.separableConv2d({ filters: 8, kernelSize: 3, padding: 'same', useBias: false }).apply(input) as tf.SymbolicTensor;
    const pooled = tf.layers.maxPooling2d({ poolSize: 3, strides: 2, padding: 'same' }).apply(a) as tf.SymbolicTensor;
    const shortcut = tf.layers.conv2d({ filters: 8, kernelSize: 1, strides: 2, padding: 'same', useBias: false }).apply(input) as tf.SymbolicTensor;
    const residual = tf.layers.add().apply([pooled, shortcut]) as tf.SymbolicTensor;
    const joined = tf.layers.concatenate({ axis: -1 }).apply([residual, shortcut]) as tf.SymbolicTensor;
    const gated = tf.layers.multiply().apply([joined, joined]) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: tf.layers.globalAveragePooling2d({}).apply(gated) as tf.SymbolicTensor });
    expect(await maxDifference(model)).toBeLessThan(TOLERANCE);
  });

  it('refuses a layer type it does not convert, naming the layer and its class', () => {
    const model = sequential([4, 4, 3], tf.layers.upSampling2d({ size: [2, 2], name: 'grow' }));
    expect(() => tfjsModelToOnnx(model)).toThrow(ExportError);
    expect(() => tfjsModelToOnnx(model)).toThrow(/layer grow is a UpSampling2D, which the ONNX exporter does not convert \(it converts Conv2D, DepthwiseConv2D/);
  });

  it('refuses an activation it does not convert, naming it', () => {
    const model = sequential([4, 4, 3], tf.layers.conv2d({ filters: 2, kernelSize: 1, activation: 'mish', name: 'odd' }));
    expect(() => tfjsModelToOnnx(model)).toThrow(/layer odd \(Conv2D\): activation "mish" is not exported/);
  });
});
