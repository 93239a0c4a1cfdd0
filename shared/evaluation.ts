// Evaluating a model on labelled images: per-sample cross-entropy, predictions, the confusion
// matrix. One function serves the workers' sharded validation and single-process evaluation, so
// both produce the same per-sample numbers; losses are summed in sample order by whoever
// aggregates (sumInOrder), which makes the totals identical too.

import * as tf from '@tensorflow/tfjs';
import { NUM_CLASSES } from './classes.js';
import { categoricalCrossEntropy } from './losses.js';
import { regularizationLoss } from './models/index.js';

export interface LabelledImages {
  count: number;
  /** count x size x size x 3, preprocessed. */
  images: Float32Array;
  labels: ArrayLike<number>;
}

export interface SampleEvaluation {
  count: number;
  /** Cross-entropy of each sample, in input order. */
  losses: Float64Array;
  /** Predicted class of each sample (first maximum, as argmax). */
  predictions: Int32Array;
  /** count x NUM_CLASSES probabilities, row-major. */
  probabilities: Float32Array;
  correct: number;
  /** Row-major NUM_CLASSES x NUM_CLASSES counts, true class by predicted class. */
  confusion: number[];
  /** The model's L2 penalty (Keras adds it to the reported loss). */
  regularizationLoss: number;
}

/**
 * Test-time augmentation: `none` judges each image as it is (what validation during training
 * does); `flip` averages the probabilities of the image and of its mirror image, the flip that
 * training augments with.
 */
export type TestTimeAugmentation = 'none' | 'flip';
export const TTA_CHOICES: readonly TestTimeAugmentation[] = ['none', 'flip'];

/** Runs inference in chunks of `chunkSize` (memory), returning per-sample results. */
export function evaluateImages(model: tf.LayersModel, data: LabelledImages, imageSize: number, chunkSize = 64, tta: TestTimeAugmentation = 'none'): SampleEvaluation {
  const pixels = imageSize * imageSize * 3;
  const losses = new Float64Array(data.count);
  const predictions = new Int32Array(data.count);
  const probabilities = new Float32Array(data.count * NUM_CLASSES);
  const confusion = new Array<number>(NUM_CLASSES * NUM_CLASSES).fill(0);
  let correct = 0;
  for (let start = 0; start < data.count; start += chunkSize) {
    const m = Math.min(chunkSize, data.count - start);
    const labels = Int32Array.from({ length: m }, (_, i) => data.labels[start + i]!);
    const [ce, probs] = tf.tidy(() => {
      const x = tf.tensor4d(data.images.subarray(start * pixels, (start + m) * pixels), [m, imageSize, imageSize, 3]);
      const direct = model.predict(x) as tf.Tensor2D;
      // NHWC: axis 2 is the width, so this mirrors each image left to right
      const p = (tta === 'flip' ? tf.div(tf.add(direct, model.predict(tf.reverse(x, 2)) as tf.Tensor2D), 2) : direct) as tf.Tensor2D;
      const oneHot = tf.oneHot(tf.tensor1d(labels, 'int32'), NUM_CLASSES) as tf.Tensor2D;
      return [categoricalCrossEntropy(oneHot, p).dataSync(), p.dataSync()];
    });
    probabilities.set(probs, start * NUM_CLASSES);
    for (let i = 0; i < m; i++) {
      losses[start + i] = ce[i]!;
      let best = 0;
      for (let c = 1; c < NUM_CLASSES; c++) if (probs[i * NUM_CLASSES + c]! > probs[i * NUM_CLASSES + best]!) best = c;
      predictions[start + i] = best;
      if (best === labels[i]) correct++;
      confusion[labels[i]! * NUM_CLASSES + best]!++;
    }
  }
  const regularization = tf.tidy(() => regularizationLoss(model).dataSync()[0]!);
  return { count: data.count, losses, predictions, probabilities, correct, confusion, regularizationLoss: regularization };
}

/** Samples per forward pass when evaluating: the run's micro-batch where it set one (memory), else 64. */
export function evaluationChunkSize(microBatch: number): number {
  return microBatch > 0 ? microBatch : 64;
}

/** Σ values in order, in float64: the one way every part of emotrain totals per-sample losses. */
export function sumInOrder(values: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i]!;
  return sum;
}

/** Keras' reported loss: mean cross-entropy plus the regularisation penalty. */
export function meanLoss(losses: ArrayLike<number>, regularization: number): number {
  return sumInOrder(losses) / losses.length + regularization;
}
