// `emotrain evaluate --tta flip|flip-zoom`: each image is judged in several views (mirrored,
// zoomed as Keras' RandomZoom does), the probabilities averaged. The views are checked against a
// bilinear sampler written here from the definition, the averages against forward passes done by
// hand; the CLI is in evaluate-command.test.ts.

import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { NUM_CLASSES } from '../shared/classes.js';
import '@tensorflow/tfjs-backend-wasm';
import { evaluateImages, testViews, viewOf, type TestView } from '../shared/evaluation.js';

beforeAll(async () => {
  tf.env().set('PROD', true);
  await tf.setBackend('cpu');
});

const SIZE = 6;
/** A run trained with the study's augmentation. */
const TRAINED = { augment: true, flip: 0.5, zoom: 0.2 };

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
    const flip = evaluateImages(model, { count, images, labels }, SIZE, 2, testViews('flip', TRAINED, 'runs/r'));
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
    const flip = evaluateImages(model, { count: 1, images, labels: [2] }, SIZE, 64, testViews('flip', TRAINED, 'runs/r'));
    for (let i = 0; i < NUM_CLASSES; i++) expect(flip.probabilities[i]).toBeCloseTo(plain.probabilities[i]!, 6);
    model.dispose();
  });

  it('zooms about the centre as RandomZoom does: bilinear, the border filled by reflection', () => {
    const [count, height, width] = [2, 7, 5];
    const images = Float32Array.from({ length: count * height * width * 3 }, (_, i) => Math.sin(i * 0.61) + (i % 3) * 0.3);
    const input = tf.tensor4d(images, [count, height, width, 3]);
    for (const view of [{ flip: false, zoom: 0.8 }, { flip: false, zoom: 1.2 }, { flip: true, zoom: 1.1 }, { flip: true, zoom: 0.5 }, { flip: false, zoom: 1.9 }]) {
      const got = viewOf(input, view).dataSync();
      const want = referenceView(images, count, height, width, view);
      expect(got.length).toBe(want.length);
      let worst = 0;
      for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
      expect(worst, JSON.stringify(view)).toBeLessThan(1e-5);
    }
    // zoom 1 without a flip is the image itself
    expect(Array.from(viewOf(input, { flip: false, zoom: 1 }).dataSync())).toEqual(Array.from(images));
    input.dispose();
  });

  it('flip-zoom averages the six views at the run\'s zoom factor', () => {
    const views = testViews('flip-zoom', { ...TRAINED, zoom: 0.1 }, 'runs/r');
    expect(views.map((v) => [v.flip, Number(v.zoom.toFixed(6))])).toEqual([[false, 1], [true, 1], [false, 0.9], [true, 0.9], [false, 1.1], [true, 1.1]]);
    const model = tinyModel();
    const count = 3;
    const images = Float32Array.from({ length: count * SIZE * SIZE * 3 }, (_, i) => Math.cos(i * 0.23) * 0.5 + 0.5);
    const labels = [1, 5, 6];
    const averaged = evaluateImages(model, { count, images, labels }, SIZE, 2, views);
    const each = views.map((view) => evaluateImages(model, { count, images: referenceView(images, count, SIZE, SIZE, view), labels }, SIZE));
    for (let i = 0; i < count * NUM_CLASSES; i++) {
      expect(averaged.probabilities[i]).toBeCloseTo(each.reduce((sum, e) => sum + e.probabilities[i]!, 0) / views.length, 5);
    }
    model.dispose();
  });

  it('refuses views the run never trained with, naming the run and the setting', () => {
    expect(() => testViews('flip-zoom', { ...TRAINED, zoom: 0 }, 'runs/r')).toThrow("--tta flip-zoom zooms by the run's --zoom factor, and runs/r trained with --zoom 0: use --tta flip");
    expect(() => testViews('flip', { ...TRAINED, flip: 0 }, 'runs/r')).toThrow('--tta flip mirrors each image, and runs/r trained without mirror images (--flip 0): its model never saw one; use --tta none');
    expect(() => testViews('flip-zoom', { ...TRAINED, augment: false }, 'runs/r')).toThrow('--tta flip-zoom mirrors each image, and runs/r trained without mirror images (--no-augment)');
    expect(testViews('none', { augment: false, flip: 0, zoom: 0 }, 'runs/r')).toEqual([{ flip: false, zoom: 1 }]);
  });

  it('gives the same views on the wasm backend, the one evaluate uses', async () => {
    const [count, height, width] = [2, 9, 9];
    const images = Float32Array.from({ length: count * height * width * 3 }, (_, i) => Math.sin(i * 0.29));
    try {
      expect(await tf.setBackend('wasm')).toBe(true);
      expect(tf.getBackend()).toBe('wasm');
      const input = tf.tensor4d(images, [count, height, width, 3]);
      for (const view of [{ flip: true, zoom: 0.9 }, { flip: false, zoom: 1.1 }]) {
        const got = viewOf(input, view).dataSync();
        const want = referenceView(images, count, height, width, view);
        let worst = 0;
        for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
        expect(worst, JSON.stringify(view)).toBeLessThan(1e-5);
      }
      input.dispose();
    } finally {
      await tf.setBackend('cpu');
    }
  });
});

/**
 * `view` of NHWC `images` from the definition: output pixel (i, j) samples input position
 * (c_y + zoom (i - c_y), c_x + zoom (j - c_x)) of the (mirrored) image bilinearly, an index k
 * outside 0..n-1 reflected to -k-1 or 2n-1-k.
 */
function referenceView(images: Float32Array, count: number, height: number, width: number, view: TestView): Float32Array {
  const out = new Float32Array(images.length);
  const reflect = (k: number, n: number): number => (k < 0 ? -k - 1 : k >= n ? 2 * n - 1 - k : k);
  const at = (n: number, y: number, x: number, c: number): number => {
    const sx = view.flip ? width - 1 - reflect(x, width) : reflect(x, width);
    return images[((n * height + reflect(y, height)) * width + sx) * 3 + c]!;
  };
  const cy = (height - 1) / 2;
  const cx = (width - 1) / 2;
  for (let n = 0; n < count; n++)
    for (let i = 0; i < height; i++)
      for (let j = 0; j < width; j++) {
        const sy = cy + view.zoom * (i - cy);
        const sx = cx + view.zoom * (j - cx);
        const y0 = Math.floor(sy);
        const x0 = Math.floor(sx);
        const fy = sy - y0;
        const fx = sx - x0;
        for (let c = 0; c < 3; c++) {
          out[((n * height + i) * width + j) * 3 + c] =
            (1 - fy) * ((1 - fx) * at(n, y0, x0, c) + fx * at(n, y0, x0 + 1, c)) + fy * ((1 - fx) * at(n, y0 + 1, x0, c) + fx * at(n, y0 + 1, x0 + 1, c));
        }
      }
  return out;
}
