// BatchNormalization's training-mode forward and its gradient in a few fast passes, for the wasm
// backend. tfjs-layers normalises with tf.moments + tf.batchNorm, whose gradient tfjs-core
// composes from ~20 element-wise ops — among them a Tile of the inverse standard deviation to the
// input's full shape, which wasm runs as a generic loop at ~90 ns per element: 44% of a
// mini-xception step (bench/model-step.ts --profile, in docs/architecture.md). Here the same math
// runs as XNNPACK passes, each 0.2-0.6 ns per element on wasm (bench/kernels.ts):
//   per-channel means: AvgPool over all positions of a [1, 1, positions, C] view;
//   per-channel affine maps (x * a + b): a 1x1 FusedDepthwiseConv2D with a bias.
// Forward: mean; centred = x - mean; variance = mean(centred²) (the biased variance, as tfjs);
// y = centred * gamma / sqrt(variance + epsilon) + beta. Backward, with s = gamma / sigma:
//   dbeta = Σ dy,  dgamma = Σ dy * centred / sigma,
//   dx = s * (dy - mean(dy) - centred * mean(dy * centred) / sigma²)
// which is the exact gradient through the batch statistics (as the composed one is).

import * as tf from '@tensorflow/tfjs';
import { ModelError } from '../errors.js';

export interface TrainingBatchNorm {
  y: tf.Tensor;
  /** The batch statistics, kept for the moving averages: the caller disposes them. */
  mean: tf.Tensor1D;
  variance: tf.Tensor1D;
}

/** Means over every position of `x4` [1, 1, positions, C]: one XNNPACK average pool. */
function channelMeans(x4: tf.Tensor4D): tf.Tensor1D {
  const positions = x4.shape[2];
  return tf.reshape(tf.avgPool(x4, [1, positions], [1, positions], 'valid'), [x4.shape[3]]);
}

/** x4 * scale + shift per channel, in one XNNPACK pass (a 1x1 depthwise convolution). */
function channelAffine(x4: tf.Tensor4D, scale: tf.Tensor1D, shift?: tf.Tensor1D): tf.Tensor4D {
  const filter = tf.reshape(scale, [1, 1, scale.shape[0], 1]) as tf.Tensor4D;
  return tf.fused.depthwiseConv2d({ x: x4, filter, strides: 1, pad: 'valid', ...(shift ? { bias: shift } : {}) });
}

/**
 * Normalises `x` over all axes but the last with its batch statistics, as a training-mode
 * BatchNormalization does, with the gradient above for x, gamma and beta.
 */
export function trainingBatchNorm(x: tf.Tensor, gamma: tf.Tensor1D, beta: tf.Tensor1D, epsilon: number): TrainingBatchNorm {
  const channels = x.shape[x.rank - 1]!;
  if (x.rank < 2 || gamma.size !== channels || beta.size !== channels) {
    throw new ModelError('MODEL_INVALID', `trainingBatchNorm: x has shape [${x.shape}]; expected rank >= 2 and gamma, beta of its ${channels} channels, got [${gamma.shape}] and [${beta.shape}]`);
  }
  const positions = x.size / channels;
  let mean: tf.Tensor1D | undefined;
  let variance: tf.Tensor1D | undefined;
  const normalize = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [input, scale, offset, save] = args as [tf.Tensor, tf.Tensor1D, tf.Tensor1D, tf.GradSaveFunc];
    const x4 = tf.reshape(input, [1, 1, positions, channels]) as tf.Tensor4D;
    mean = tf.keep(channelMeans(x4));
    const centred = channelAffine(x4, tf.onesLike(mean), tf.neg(mean));
    variance = tf.keep(channelMeans(tf.square(centred)));
    const inverseSigma = tf.rsqrt(tf.add(variance, epsilon)) as tf.Tensor1D;
    const y = channelAffine(centred, tf.mul(scale, inverseSigma), offset);
    save([centred, inverseSigma, scale]);
    return {
      value: tf.reshape(y, input.shape),
      gradFunc: (dy, saved) => {
        const [centredSaved, inverse, gammaSaved] = saved as [tf.Tensor4D, tf.Tensor1D, tf.Tensor1D];
        const dy4 = tf.reshape(dy as tf.Tensor, [1, 1, positions, channels]) as tf.Tensor4D;
        const meanDy = channelMeans(dy4);
        const meanDyCentred = channelMeans(tf.mul(dy4, centredSaved) as tf.Tensor4D);
        const s = tf.mul(gammaSaved, inverse) as tf.Tensor1D;
        const correction = channelAffine(centredSaved, tf.neg(tf.mul(meanDyCentred, tf.square(inverse))) as tf.Tensor1D, tf.neg(meanDy));
        const dx = channelAffine(tf.add(dy4, correction) as tf.Tensor4D, s);
        return [
          tf.reshape(dx, (dy as tf.Tensor).shape),
          tf.mul(tf.mul(meanDyCentred, inverse), positions),
          tf.mul(meanDy, positions),
        ];
      },
    };
  });
  const y = normalize(x, gamma, beta);
  return { y, mean: mean!, variance: variance! };
}
