// Categorical cross-entropy on probabilities, as Keras computes it (from_logits=False): the
// predictions are renormalised to sum to 1 and clipped to [1e-7, 1 - 1e-7] before the log, so a
// confident wrong answer costs at most -log(1e-7) ≈ 16.1 rather than infinity.

import * as tf from '@tensorflow/tfjs';

export const KERAS_EPSILON = 1e-7;

/** Per-sample loss, shape [n]. */
export function categoricalCrossEntropy(oneHot: tf.Tensor2D, probabilities: tf.Tensor2D): tf.Tensor1D {
  return tf.tidy(() => {
    const normalised = tf.div(probabilities, tf.sum(probabilities, -1, true));
    const clipped = tf.clipByValue(normalised, KERAS_EPSILON, 1 - KERAS_EPSILON);
    return tf.neg(tf.sum(tf.mul(oneHot, tf.log(clipped)), -1)) as tf.Tensor1D;
  });
}
