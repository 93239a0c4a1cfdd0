// ResNet50 v1 exactly as keras.applications.ResNet50(include_top=False) builds it
// (keras/applications/resnet.py: ResNet, stack1, block1): same layer names, same construction
// order and same weight shapes. Same names and order give the same `model.layers` order as Keras
// (both sort a functional model's layers by graph depth, ties by traversal order), so
// `--freeze 40` means Keras' `base_model.layers[:40]`, and Keras' ImageNet weights
// (resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5) map onto it by layer name.
// Keras' v1 ResNet convolutions carry a bias; the stride of a stage sits in the 1x1 `_1_conv`
// and `_0_conv` of its first block.
import * as tf from '@tensorflow/tfjs';
import type { Backbone, BackboneOptions } from './backbone.js';
import { kerasBatchNormalization } from './keras-batch-norm.js';
import type { InitSeeds } from './seeded-init.js';

// BatchNormalization(axis=3, epsilon=1.001e-5) throughout resnet.py; momentum is Keras' default.
const BN_EPSILON = 1.001e-5;
const BN_MOMENTUM = 0.99;

interface ConvOptions {
  filters: number;
  kernelSize: number;
  strides?: number;
  padding?: 'valid' | 'same';
  name: string;
}

function conv(x: tf.SymbolicTensor, options: ConvOptions, seeds: InitSeeds): tf.SymbolicTensor {
  return tf.layers
    .conv2d({
      filters: options.filters,
      kernelSize: options.kernelSize,
      strides: options.strides ?? 1,
      padding: options.padding ?? 'valid',
      useBias: true,
      kernelInitializer: seeds.glorotUniform(),
      biasInitializer: 'zeros',
      name: options.name,
    })
    .apply(x) as tf.SymbolicTensor;
}

function batchNorm(x: tf.SymbolicTensor, name: string): tf.SymbolicTensor {
  return kerasBatchNormalization({ axis: 3, epsilon: BN_EPSILON, momentum: BN_MOMENTUM, name }).apply(
    x,
  ) as tf.SymbolicTensor;
}

function relu(x: tf.SymbolicTensor, name: string): tf.SymbolicTensor {
  return tf.layers.activation({ activation: 'relu', name }).apply(x) as tf.SymbolicTensor;
}

interface BlockOptions {
  stride: number;
  convShortcut: boolean;
  name: string;
}

/** resnet.py block1: the bottleneck residual block of ResNet v1. */
function bottleneckBlock(x: tf.SymbolicTensor, filters: number, options: BlockOptions, seeds: InitSeeds): tf.SymbolicTensor {
  const { stride, name } = options;
  let shortcut = x;
  if (options.convShortcut) {
    shortcut = conv(x, { filters: 4 * filters, kernelSize: 1, strides: stride, name: `${name}_0_conv` }, seeds);
    shortcut = batchNorm(shortcut, `${name}_0_bn`);
  }
  let y = conv(x, { filters, kernelSize: 1, strides: stride, name: `${name}_1_conv` }, seeds);
  y = batchNorm(y, `${name}_1_bn`);
  y = relu(y, `${name}_1_relu`);
  y = conv(y, { filters, kernelSize: 3, padding: 'same', name: `${name}_2_conv` }, seeds);
  y = batchNorm(y, `${name}_2_bn`);
  y = relu(y, `${name}_2_relu`);
  y = conv(y, { filters: 4 * filters, kernelSize: 1, name: `${name}_3_conv` }, seeds);
  y = batchNorm(y, `${name}_3_bn`);
  const sum = tf.layers.add({ name: `${name}_add` }).apply([shortcut, y]) as tf.SymbolicTensor;
  return relu(sum, `${name}_out`);
}

/** resnet.py stack1: a stage of `blocks` bottlenecks, the first with a projection shortcut. */
function stage(
  x: tf.SymbolicTensor,
  filters: number,
  blocks: number,
  firstStride: number,
  name: string,
  seeds: InitSeeds,
): tf.SymbolicTensor {
  let y = bottleneckBlock(x, filters, { stride: firstStride, convShortcut: true, name: `${name}_block1` }, seeds);
  for (let block = 2; block <= blocks; block++) {
    y = bottleneckBlock(y, filters, { stride: 1, convShortcut: false, name: `${name}_block${block}` }, seeds);
  }
  return y;
}

export function buildResNet50Backbone({ imageSize }: BackboneOptions, seeds: InitSeeds): Backbone {
  const input = tf.input({ shape: [imageSize, imageSize, 3], name: 'input' });
  let x = tf.layers.zeroPadding2d({ padding: [[3, 3], [3, 3]], name: 'conv1_pad' }).apply(input) as tf.SymbolicTensor;
  x = conv(x, { filters: 64, kernelSize: 7, strides: 2, name: 'conv1_conv' }, seeds);
  x = batchNorm(x, 'conv1_bn');
  x = relu(x, 'conv1_relu');
  x = tf.layers.zeroPadding2d({ padding: [[1, 1], [1, 1]], name: 'pool1_pad' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.maxPooling2d({ poolSize: 3, strides: 2, name: 'pool1_pool' }).apply(x) as tf.SymbolicTensor;
  x = stage(x, 64, 3, 1, 'conv2', seeds);
  x = stage(x, 128, 4, 2, 'conv3', seeds);
  x = stage(x, 256, 6, 2, 'conv4', seeds);
  x = stage(x, 512, 3, 2, 'conv5', seeds);
  return { input, features: x };
}
