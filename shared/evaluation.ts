// Evaluating a model on labelled images: per-sample cross-entropy, predictions, the confusion
// matrix. One function serves the workers' sharded validation and single-process evaluation, so
// both produce the same per-sample numbers; losses are summed in sample order by whoever
// aggregates (sumInOrder), which makes the totals identical too.

import * as tf from '@tensorflow/tfjs';
import { NUM_CLASSES } from './classes.js';
import { categoricalCrossEntropy } from './losses.js';
import { regularizationLoss } from './models/index.js';
import { ConfigError } from './errors.js';

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
 * training augments with; `flip-zoom` averages six views: the image and its mirror image, each as
 * it is, zoomed in and zoomed out by the run's own zoom factor (Keras' RandomZoom values 1 - z and
 * 1 + z, the ends of the range training drew from).
 */
export type TestTimeAugmentation = 'none' | 'flip' | 'flip-zoom';
export const TTA_CHOICES: readonly TestTimeAugmentation[] = ['none', 'flip', 'flip-zoom'];

/** One view of an image at test time: mirrored or not, at Keras' zoom value (1: as it is). */
export interface TestView {
  flip: boolean;
  zoom: number;
}

export const AS_IT_IS: readonly TestView[] = [{ flip: false, zoom: 1 }];

/** What a run's training augmented with, as far as test-time views go (config.json). */
export interface TrainedAugmentation {
  /** False for a run trained with --no-augment. */
  augment: boolean;
  /** --flip: the probability of a mirror image. */
  flip: number;
  /** --zoom: RandomZoom's factor. */
  zoom: number;
}

/**
 * The views `tta` averages for a run trained with `trained` (`run` names it in errors). Only views
 * of the kind the model saw in training are offered: flips for a run that trained with mirror
 * images, zooms for one that trained with zoom, at the ends of its own range.
 */
export function testViews(tta: TestTimeAugmentation, trained: TrainedAugmentation, run: string): readonly TestView[] {
  if (tta === 'none') return AS_IT_IS;
  if (!trained.augment || !(trained.flip > 0)) {
    throw new ConfigError('CONFIG_INVALID', `--tta ${tta} mirrors each image, and ${run} trained without mirror images (${trained.augment ? '--flip 0' : '--no-augment'}): its model never saw one; use --tta none`);
  }
  if (tta === 'flip') return [{ flip: false, zoom: 1 }, { flip: true, zoom: 1 }];
  const z = trained.zoom;
  if (!(z > 0 && z < 1)) throw new ConfigError('CONFIG_INVALID', `--tta flip-zoom zooms by the run's --zoom factor, and ${run} trained with --zoom ${z}: use --tta flip`);
  return [1, 1 - z, 1 + z].flatMap((zoom) => [{ flip: false, zoom }, { flip: true, zoom }]);
}

/** What `tta` does, in words, for logs and reports. */
export function describeTestViews(tta: TestTimeAugmentation, zoomFactor: number): string {
  switch (tta) {
    case 'none':
      return 'each image as it is';
    case 'flip':
      return 'each image averaged with its mirror image';
    case 'flip-zoom':
      return `each image averaged over six views: as it is and mirrored, each at zoom ${formatZoom(1)}, ${formatZoom(1 - zoomFactor)} and ${formatZoom(1 + zoomFactor)}`;
  }
}

function formatZoom(zoom: number): string {
  return String(Number(zoom.toFixed(6)));
}

/**
 * `images` (NHWC, size x size) seen as `view`: mirrored left to right, then zoomed about the
 * centre as Keras' RandomZoom does: output pixel i shows input position c + zoom x (i - c), with
 * c = (size - 1) / 2, sampled bilinearly, the border filled by reflection (d c b a | a b c d).
 * A zoom above 1 shows more than the image (zoomed out), below 1 its centre (zoomed in).
 */
export function viewOf(images: tf.Tensor4D, view: TestView): tf.Tensor4D {
  return tf.tidy(() => {
    const mirrored = view.flip ? tf.reverse(images, 2) : images; // NHWC: axis 2 is the width
    if (view.zoom === 1) return mirrored;
    const [count, height, width] = mirrored.shape;
    // Per axis: symmetric padding makes reflection a crop, with enough rows (columns) that every
    // position sampled, and its bilinear neighbour, lies inside the padded image; then the crop's
    // ends as cropAndResize wants them, fractions of the padded side.
    const axis = (side: number) => {
      const centre = (side - 1) / 2;
      const pad = Math.min(side, Math.max(0, Math.ceil((view.zoom - 1) * centre)) + 1);
      const span = side + 2 * pad - 1;
      return { pad, from: (pad + centre - view.zoom * centre) / span, to: (pad + centre + view.zoom * centre) / span };
    };
    const y = axis(height);
    const x = axis(width);
    const padded = tf.mirrorPad(mirrored, [[0, 0], [y.pad, y.pad], [x.pad, x.pad], [0, 0]], 'symmetric');
    const boxes = tf.tensor2d(Array.from({ length: count }, () => [y.from, x.from, y.to, x.to]), [count, 4]);
    const indices = tf.tensor1d(Array.from({ length: count }, (_, i) => i), 'int32');
    return tf.image.cropAndResize(padded, boxes, indices, [height, width], 'bilinear');
  });
}

/**
 * Runs inference in chunks of `chunkSize` (memory), returning per-sample results. With several
 * `views`, a sample's probabilities are the mean of its views' (summed in the order given).
 */
export function evaluateImages(model: tf.LayersModel, data: LabelledImages, imageSize: number, chunkSize = 64, views: readonly TestView[] = AS_IT_IS): SampleEvaluation {
  if (views.length === 0) throw new Error('evaluateImages needs at least one view');
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
      let sum = model.predict(viewOf(x, views[0]!)) as tf.Tensor2D;
      for (const view of views.slice(1)) sum = tf.add(sum, model.predict(viewOf(x, view)) as tf.Tensor2D);
      const p = (views.length === 1 ? sum : tf.div(sum, views.length)) as tf.Tensor2D;
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
