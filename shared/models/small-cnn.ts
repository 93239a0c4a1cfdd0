// The CPU/test model's backbone: four 3x3 ReLU convolutions, no BatchNorm. Without BatchNorm the
// forward pass of a sample does not depend on the other samples of its shard, which the
// "1 worker x 128 == 2 workers x 64" test (SPEC §3) relies on. Layers are named convK_conv so
// `--freeze convK` works as it does for ResNet50.
import * as tf from '@tensorflow/tfjs';
import type { Backbone, BackboneOptions } from './backbone.js';
import type { InitSeeds } from './seeded-init.js';

const SMALL_CNN_STAGES = [
  { filters: 16, strides: 2 },
  { filters: 32, strides: 2 },
  { filters: 64, strides: 2 },
  { filters: 128, strides: 1 },
] as const;

export function buildSmallCnnBackbone({ imageSize }: BackboneOptions, seeds: InitSeeds): Backbone {
  const input = tf.input({ shape: [imageSize, imageSize, 3], name: 'input' });
  let x: tf.SymbolicTensor = input;
  SMALL_CNN_STAGES.forEach(({ filters, strides }, index) => {
    x = tf.layers
      .conv2d({
        filters,
        kernelSize: 3,
        strides,
        padding: 'same',
        activation: 'relu',
        kernelInitializer: seeds.glorotUniform(),
        biasInitializer: 'zeros',
        name: `conv${index + 1}_conv`,
      })
      .apply(x) as tf.SymbolicTensor;
  });
  return { input, features: x };
}
