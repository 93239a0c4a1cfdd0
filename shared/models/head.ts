// The classification head of the reference study (SPEC §1), on top of any backbone:
// GlobalAveragePooling -> Dense 128 ReLU with L2 on the kernel -> Dropout -> Dense 7 softmax.
// It is never frozen, and its layer names are fixed so checkpoints map by name.
import * as tf from '@tensorflow/tfjs';
import { NUM_CLASSES } from '../classes.js';
import type { InitSeeds } from './seeded-init.js';
import { StepSeededDropout } from './step-seeded-dropout.js';

export const HEAD_LAYER_NAMES = ['head_pool', 'head_dense', 'head_dropout', 'predictions'] as const;

const HEAD_UNITS = 128;

export interface HeadOptions {
  dropout: number;
  l2: number;
}

export function isHeadLayer(name: string): boolean {
  return (HEAD_LAYER_NAMES as readonly string[]).includes(name);
}

export function buildHead(features: tf.SymbolicTensor, options: HeadOptions, seeds: InitSeeds): tf.SymbolicTensor {
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
