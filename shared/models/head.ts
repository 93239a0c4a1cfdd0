// The two classification heads (endings), on top of any backbone feature map. Heads are never
// frozen, and their layer names are fixed so checkpoints map by name; both end in 'predictions'.
//   study: the reference study's (SPEC §1): GlobalAveragePooling -> Dense 128 ReLU with L2 on the
//          kernel -> Dropout -> Dense 7 softmax.
//   paper: mini-Xception's (Arriaga et al. 2017, oarriaga/face_classification cnn.py): a 3x3
//          'same' convolution (with bias, not regularised: its regularizer is commented out there)
//          to the 7 classes -> GlobalAveragePooling -> softmax. No dense layer, no dropout.
import * as tf from '@tensorflow/tfjs';
import { NUM_CLASSES } from '../classes.js';
import type { InitSeeds } from './seeded-init.js';
import { StepSeededDropout } from './step-seeded-dropout.js';

export const HEAD_NAMES = ['study', 'paper'] as const;

export type HeadName = (typeof HEAD_NAMES)[number];

export const HEAD_LAYER_NAMES = ['head_conv', 'head_pool', 'head_dense', 'head_dropout', 'predictions'] as const;

const HEAD_UNITS = 128;

export interface HeadOptions {
  head: HeadName;
  /** The study head's dropout rate; 0 leaves the layer out. */
  dropout: number;
  /** L2 factor on the study head's Dense 128 kernel; 0 leaves the regularizer out. */
  l2: number;
}

export function isHeadName(text: string): text is HeadName {
  return (HEAD_NAMES as readonly string[]).includes(text);
}

export function isHeadLayer(name: string): boolean {
  return (HEAD_LAYER_NAMES as readonly string[]).includes(name);
}

export function buildHead(features: tf.SymbolicTensor, options: HeadOptions, seeds: InitSeeds): tf.SymbolicTensor {
  return options.head === 'paper' ? paperHead(features, seeds) : studyHead(features, options, seeds);
}

function studyHead(features: tf.SymbolicTensor, options: HeadOptions, seeds: InitSeeds): tf.SymbolicTensor {
  let x = tf.layers.globalAveragePooling2d({ name: 'head_pool' }).apply(features) as tf.SymbolicTensor;
  x = tf.layers
    .dense({
      units: HEAD_UNITS,
      activation: 'relu',
      kernelInitializer: seeds.glorotUniform(),
      biasInitializer: 'zeros',
      // No regularizer at l2 = 0, so regularizationLoss adds nothing rather than a zero term.
      ...(options.l2 > 0 ? { kernelRegularizer: tf.regularizers.l2({ l2: options.l2 }) } : {}),
      name: 'head_dense',
    })
    .apply(x) as tf.SymbolicTensor;
  if (options.dropout > 0) {
    x = new StepSeededDropout({ rate: options.dropout, name: 'head_dropout' }).apply(x) as tf.SymbolicTensor;
  }
  return tf.layers
    .dense({
      units: NUM_CLASSES,
      activation: 'softmax',
      kernelInitializer: seeds.glorotUniform(),
      biasInitializer: 'zeros',
      name: 'predictions',
    })
    .apply(x) as tf.SymbolicTensor;
}

function paperHead(features: tf.SymbolicTensor, seeds: InitSeeds): tf.SymbolicTensor {
  let x = tf.layers
    .conv2d({
      filters: NUM_CLASSES,
      kernelSize: 3,
      padding: 'same',
      useBias: true,
      kernelInitializer: seeds.glorotUniform(),
      biasInitializer: 'zeros',
      name: 'head_conv',
    })
    .apply(features) as tf.SymbolicTensor;
  x = tf.layers.globalAveragePooling2d({ name: 'head_pool' }).apply(x) as tf.SymbolicTensor;
  return tf.layers.activation({ activation: 'softmax', name: 'predictions' }).apply(x) as tf.SymbolicTensor;
}
