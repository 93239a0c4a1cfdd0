// `emotrain evaluate --tta flip`: each image is judged with its mirror image, the probabilities of
// the two averaged. Checked against the two forward passes done by hand, and on the CLI.

import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { NUM_CLASSES } from '../shared/classes.js';
import { evaluateImages } from '../shared/evaluation.js';

beforeAll(async () => {
  tf.env().set('PROD', true);
  await tf.setBackend('cpu');
});

const SIZE = 6;

function tinyModel(): tf.LayersModel {
  const model = tf.sequential();
  model.add(tf.layers.conv2d({ inputShape: [SIZE, SIZE, 3], filters: 4, kernelSize: 3, activation: 'relu', kernelInitializer: tf.initializers.randomNormal({ seed: 3 }) }));
  model.add(tf.layers.flatten());
  model.add(tf.layers.dense({ units: NUM_CLASSES, activation: 'softmax', kernelInitializer: tf.initializers.randomNormal({ seed: 4 }) }));
  return model;
}

/** Each image of `images` (count x SIZE x SIZE x 3) mirrored left to right. */
function mirrored(images: Float32Array, count: number): Float32Array {
  const out = new Float32Array(images.length);
  for (let n = 0; n < count; n++)
    for (let y = 0; y < SIZE; y++)
      for (let x = 0; x < SIZE; x++)
        for (let c = 0; c < 3; c++) out[((n * SIZE + y) * SIZE + (SIZE - 1 - x)) * 3 + c] = images[((n * SIZE + y) * SIZE + x) * 3 + c]!;
  return out;
}

describe('test-time augmentation', () => {
  it('averages the probabilities of each image and of its mirror image', () => {
    const model = tinyModel();
    const count = 5;
    const images = Float32Array.from({ length: count * SIZE * SIZE * 3 }, (_, i) => Math.sin(i * 0.37) * 0.5 + 0.5);
    const labels = [0, 1, 2, 3, 4];
    const plain = evaluateImages(model, { count, images, labels }, SIZE, 2);
    const mirror = evaluateImages(model, { count, images: mirrored(images, count), labels }, SIZE, 2);
    const flip = evaluateImages(model, { count, images, labels }, SIZE, 2, 'flip');
    let differs = 0;
    for (let i = 0; i < count * NUM_CLASSES; i++) {
      expect(flip.probabilities[i]).toBeCloseTo((plain.probabilities[i]! + mirror.probabilities[i]!) / 2, 6);
      if (Math.abs(plain.probabilities[i]! - mirror.probabilities[i]!) > 1e-3) differs++;
    }
    expect(differs).toBeGreaterThan(0); // the mirror images really are judged differently
    for (let i = 0; i < count; i++) expect(flip.losses[i]).toBeCloseTo(-Math.log(flip.probabilities[i * NUM_CLASSES + labels[i]!]!), 5);
    model.dispose();
  });

  it('changes nothing for an image that is its own mirror image', () => {
    const model = tinyModel();
    const images = new Float32Array(SIZE * SIZE * 3);
    for (let y = 0; y < SIZE; y++) for (let x = 0; x < SIZE; x++) for (let c = 0; c < 3; c++) images[(y * SIZE + x) * 3 + c] = Math.abs(x - (SIZE - 1) / 2) * 0.2 + y * 0.1 + c * 0.05;
    const plain = evaluateImages(model, { count: 1, images, labels: [2] }, SIZE);
    const flip = evaluateImages(model, { count: 1, images, labels: [2] }, SIZE, 64, 'flip');
    for (let i = 0; i < NUM_CLASSES; i++) expect(flip.probabilities[i]).toBeCloseTo(plain.probabilities[i]!, 6);
    model.dispose();
  });
});
