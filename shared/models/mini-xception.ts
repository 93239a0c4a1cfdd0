// mini-Xception, the FER2013 real-time model of Arriaga et al. 2017 (arXiv 1710.07557), as
// oarriaga/face_classification's src/models/cnn.py `mini_XCEPTION` builds it in Keras: two 3x3
// 'valid' convolutions of 8 filters (no bias, BN, ReLU), then four residual modules of 16, 32, 64
// and 128 filters, each: a 1x1 stride-2 convolution + BN as the residual; SeparableConv2D 3x3 +
// BN + ReLU; SeparableConv2D 3x3 + BN; MaxPooling 3x3 stride 2 'same'; add. The ending (a 3x3
// convolution to the classes, GAP, softmax — or the study's head) is head.ts'.
//
// Regularisation is what that Keras code trains with: l2 on the two base convolutions only. It
// also passes kernel_regularizer to SeparableConv2D, but Keras' SeparableConv2D regularises only
// through depthwise_regularizer / pointwise_regularizer and ignores it (its get_config drops
// it), so the separable kernels were never regularised.
//
// Keras names that code's layers by counter (conv2d_1, batch_normalization_3, ...), which depends
// on what else the Python session built; these follow ResNet50's Keras convention instead, so
// `--freeze convK` works as for the other backbones: stage conv1 is the base, conv2..conv5 the four
// modules, `_0_` the residual branch (ResNet's shortcut), `_1_`/`_2_` the separable convolutions.
// BatchNormalization keeps Keras' defaults (momentum 0.99, epsilon 1e-3), as that code does.
import * as tf from '@tensorflow/tfjs';
import type { Backbone, BackboneOptions } from './backbone.js';
import { kerasBatchNormalization } from './keras-batch-norm.js';
import type { InitSeeds } from './seeded-init.js';
import { SeededSeparableConv2D } from './separable-conv.js';

const BASE_FILTERS = 8;
const MODULE_FILTERS = [16, 32, 64, 128] as const;

/** Two 'valid' 3x3 convolutions take 4 pixels off each side; one output pixel needs 5. */
export const MINI_XCEPTION_MIN_IMAGE_SIZE = 5;

function batchNorm(x: tf.SymbolicTensor, name: string): tf.SymbolicTensor {
  return kerasBatchNormalization({ axis: 3, name }).apply(x) as tf.SymbolicTensor;
}

function relu(x: tf.SymbolicTensor, name: string): tf.SymbolicTensor {
  return tf.layers.activation({ activation: 'relu', name }).apply(x) as tf.SymbolicTensor;
}

function conv(
  x: tf.SymbolicTensor,
  options: { filters: number; kernelSize: number; strides: number; padding: 'same' | 'valid'; l2: number; name: string },
  seeds: InitSeeds,
): tf.SymbolicTensor {
  return tf.layers
    .conv2d({
      filters: options.filters,
      kernelSize: options.kernelSize,
      strides: options.strides,
      padding: options.padding,
      useBias: false,
      kernelInitializer: seeds.glorotUniform(),
      ...(options.l2 > 0 ? { kernelRegularizer: tf.regularizers.l2({ l2: options.l2 }) } : {}),
      name: options.name,
    })
    .apply(x) as tf.SymbolicTensor;
}

function separableConv(x: tf.SymbolicTensor, filters: number, name: string, seeds: InitSeeds): tf.SymbolicTensor {
  return new SeededSeparableConv2D({
    filters,
    kernelSize: 3,
    padding: 'same',
    useBias: false,
    depthwiseInitializer: seeds.glorotUniform(),
    pointwiseInitializer: seeds.glorotUniform(),
    name,
  }).apply(x) as tf.SymbolicTensor;
}

/** One residual module: stage `stage` (conv2..conv5) with `filters` filters, halving the size. */
function residualModule(x: tf.SymbolicTensor, filters: number, stage: string, seeds: InitSeeds): tf.SymbolicTensor {
  let residual = conv(x, { filters, kernelSize: 1, strides: 2, padding: 'same', l2: 0, name: `${stage}_0_conv` }, seeds);
  residual = batchNorm(residual, `${stage}_0_bn`);
  let y = separableConv(x, filters, `${stage}_1_sepconv`, seeds);
  y = batchNorm(y, `${stage}_1_bn`);
  y = relu(y, `${stage}_1_relu`);
  y = separableConv(y, filters, `${stage}_2_sepconv`, seeds);
  y = batchNorm(y, `${stage}_2_bn`);
  y = tf.layers.maxPooling2d({ poolSize: 3, strides: 2, padding: 'same', name: `${stage}_pool` }).apply(y) as tf.SymbolicTensor;
  return tf.layers.add({ name: `${stage}_add` }).apply([y, residual]) as tf.SymbolicTensor;
}

export function buildMiniXceptionBackbone({ imageSize, l2 }: BackboneOptions, seeds: InitSeeds): Backbone {
  const input = tf.input({ shape: [imageSize, imageSize, 3], name: 'input' });
  let x = input;
  for (const index of [1, 2]) {
    x = conv(x, { filters: BASE_FILTERS, kernelSize: 3, strides: 1, padding: 'valid', l2, name: `conv1_${index}_conv` }, seeds);
    x = batchNorm(x, `conv1_${index}_bn`);
    x = relu(x, `conv1_${index}_relu`);
  }
  MODULE_FILTERS.forEach((filters, index) => {
    x = residualModule(x, filters, `conv${index + 2}`, seeds);
  });
  return { input, features: x };
}
