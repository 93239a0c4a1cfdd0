import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { drawAugmentation, NO_AUGMENTATION, STUDY_AUGMENTATION, type Augmentation } from '../shared/image/augmentation.js';
import type { RgbImage } from '../shared/image/decode.js';
import { writeModelInputs } from '../shared/image/model-input.js';
import { reflectIndex, sourceMap, warpInto } from '../shared/image/warp.js';
import { faceJpeg } from './helpers/datasets.js';

beforeAll(async () => {
  tf.env().set('PROD', true);
  await tf.setBackend('cpu');
});

function randomImage(width: number, height: number, seed = 1): RgbImage {
  let state = seed;
  const data = Uint8Array.from({ length: width * height * 3 }, () => (state = (state * 1103515245 + 12345) >>> 0) >>> 24);
  return { width, height, data };
}

/** x → R, y → G: a linear ramp, which bilinear sampling reproduces exactly, so positions can be read back from values. */
function rampImage(side: number): RgbImage {
  const data = new Uint8Array(side * side * 3);
  for (let y = 0; y < side; y++) for (let x = 0; x < side; x++) data.set([20 + 2 * x, 20 + 2 * y, 128], (y * side + x) * 3);
  return { width: side, height: side, data };
}

/** The warp's output in 0..255 RGB (unit preprocessing, scaled back). */
function warp(image: RgbImage, size: number, augmentation: Augmentation): Float32Array {
  const out = new Float32Array(size * size * 3);
  warpInto(image, size, sourceMap(augmentation, image.width, image.height, size), 'unit', out, 0);
  return out.map((v) => v * 255);
}

const pixel = (values: Float32Array, size: number, x: number, y: number) => Array.from(values.subarray((y * size + x) * 3, (y * size + x) * 3 + 3));
const sourcePixel = (image: RgbImage, x: number, y: number) => Array.from(image.data.subarray((y * image.width + x) * 3, (y * image.width + x) * 3 + 3));

function maxDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

/** Keras' transform (tf.raw_ops.ImageProjectiveTransformV3: bilinear, fill_mode reflect) as tfjs' cpu backend implements it. */
function kerasTransform(image: RgbImage, matrix: number[]): Float32Array {
  return tf.tidy(() => {
    const x = tf.tensor4d(Float32Array.from(image.data), [1, image.height, image.width, 3]);
    return tf.image.transform(x, tf.tensor2d([matrix]), 'bilinear', 'reflect').dataSync() as Float32Array;
  });
}

/** keras.layers.RandomRotation's get_rotation_matrix. */
function kerasRotation(angle: number, height: number, width: number): number[] {
  const cos = Math.cos(angle);
  const sin = Math.sin(angle);
  const xOffset = (width - 1 - (cos * (width - 1) - sin * (height - 1))) / 2;
  const yOffset = (height - 1 - (sin * (width - 1) + cos * (height - 1))) / 2;
  return [cos, -sin, xOffset, sin, cos, yOffset, 0, 0];
}

/** keras.layers.RandomZoom's get_zoom_matrix, width zoom = height zoom. */
function kerasZoom(zoom: number, height: number, width: number): number[] {
  return [zoom, 0, ((width - 1) / 2) * (1 - zoom), 0, zoom, ((height - 1) / 2) * (1 - zoom), 0, 0];
}

describe('augmentation geometry (Keras RandomFlip, RandomRotation, RandomZoom, fused with the resize)', () => {
  it('without augmentation at the same size reproduces the image exactly', () => {
    const image = randomImage(20, 20);
    expect(maxDifference(warp(image, 20, NO_AUGMENTATION), image.data)).toBeLessThan(1e-3);
  });

  it('resizes as tf.image.resize does (bilinear, half-pixel centres)', () => {
    const image = randomImage(24, 18);
    const expected = tf.tidy(() => tf.image.resizeBilinear(tf.tensor4d(Float32Array.from(image.data), [1, 18, 24, 3]), [40, 40], false, true).dataSync());
    expect(maxDifference(warp(image, 40, NO_AUGMENTATION), expected)).toBeLessThan(1e-3);
  });

  it('a flip is the exact mirror image', () => {
    const image = randomImage(17, 17);
    const flipped = warp(image, 17, { ...NO_AUGMENTATION, flip: true });
    for (let y = 0; y < 17; y++) for (let x = 0; x < 17; x++) expect(pixel(flipped, 17, x, y)).toEqual(sourcePixel(image, 16 - x, y).map((v) => expect.closeTo(v, 3)));
  });

  it('rotation keeps the centre pixel and matches Keras RandomRotation (reflect fill, bilinear)', () => {
    const image = randomImage(25, 25, 3);
    for (const angle of [0.3, -1.1, 0.4 * Math.PI]) {
      const rotated = warp(image, 25, { ...NO_AUGMENTATION, angle });
      expect(pixel(rotated, 25, 12, 12)).toEqual(sourcePixel(image, 12, 12).map((v) => expect.closeTo(v, 3)));
      expect(maxDifference(rotated, kerasTransform(image, kerasRotation(angle, 25, 25)))).toBeLessThan(0.01);
    }
  });

  it('zoom keeps the centre pixel, scales about the centre and matches Keras RandomZoom', () => {
    const side = 31;
    const centre = (side - 1) / 2;
    const ramp = rampImage(side);
    for (const zoom of [0.8, 1.2, 1.05]) {
      const zoomed = warp(ramp, side, { ...NO_AUGMENTATION, zoom });
      expect(pixel(zoomed, side, 15, 15)).toEqual(sourcePixel(ramp, 15, 15).map((v) => expect.closeTo(v, 3)));
      for (let y = 0; y < side; y++) {
        for (let x = 0; x < side; x++) {
          const sx = centre + zoom * (x - centre);
          const sy = centre + zoom * (y - centre);
          if (sx < 0 || sy < 0 || sx > side - 1 || sy > side - 1) continue;
          expect(pixel(zoomed, side, x, y)[0]).toBeCloseTo(20 + 2 * sx, 3);
          expect(pixel(zoomed, side, x, y)[1]).toBeCloseTo(20 + 2 * sy, 3);
        }
      }
      expect(maxDifference(zoomed, kerasTransform(ramp, kerasZoom(zoom, side, side)))).toBeLessThan(0.01);
      expect(maxDifference(warp(randomImage(side, side), side, { ...NO_AUGMENTATION, zoom }), kerasTransform(randomImage(side, side), kerasZoom(zoom, side, side)))).toBeLessThan(0.01);
    }
  });

  it('flip, rotation and zoom together keep the centre pixel, and the resize keeps the centre of the image', () => {
    const image = randomImage(21, 21, 5);
    const all = warp(image, 21, { flip: true, angle: 0.9, zoom: 1.15 });
    expect(pixel(all, 21, 10, 10)).toEqual(sourcePixel(image, 10, 10).map((v) => expect.closeTo(v, 3)));
    const ramp = rampImage(20);
    const large = warp(ramp, 41, { flip: true, angle: -0.5, zoom: 0.9 });
    // the centre of 41 pixels (20) samples the centre of 20 pixels (9.5): R = G = 20 + 2 * 9.5
    expect(pixel(large, 41, 20, 20).slice(0, 2)).toEqual([expect.closeTo(39, 3), expect.closeTo(39, 3)]);
  });

  it('fills with the reflection of the image ([d c b a | a b c d | d c b a])', () => {
    expect([-3, -2, -1, 0, 1, 2, 3, 4, 5, 6].map((i) => reflectIndex(i, 4))).toEqual([2, 1, 0, 0, 1, 2, 3, 3, 2, 1]);
    expect(reflectIndex(-5, 1)).toBe(0);
  });

  it('draws flip p=0.5, angles uniform in ±0.2·2π (±72°) and zooms uniform in [0.8, 1.2]', () => {
    const draws = Array.from({ length: 4000 }, (_, id) => drawAugmentation(42, 3, id));
    const flips = draws.filter((d) => d.flip).length / draws.length;
    expect(flips).toBeGreaterThan(0.46);
    expect(flips).toBeLessThan(0.54);
    const degrees = draws.map((d) => (d.angle * 180) / Math.PI);
    expect(Math.min(...degrees)).toBeGreaterThanOrEqual(-72);
    expect(Math.max(...degrees)).toBeLessThanOrEqual(72);
    expect(Math.min(...degrees)).toBeLessThan(-70);
    expect(Math.max(...degrees)).toBeGreaterThan(70);
    const zooms = draws.map((d) => d.zoom);
    expect(Math.min(...zooms)).toBeGreaterThanOrEqual(0.8);
    expect(Math.max(...zooms)).toBeLessThanOrEqual(1.2);
    expect(Math.min(...zooms)).toBeLessThan(0.81);
    expect(Math.max(...zooms)).toBeGreaterThan(1.19);
  });

  it('shifts as RandomTranslation does (content moves by the fraction of the side), after the zoom', () => {
    const side = 20;
    const image = randomImage(side, side, 7);
    const [dx, dy] = [0.1 * side, -0.15 * side];
    // keras get_translation_matrix: output (x, y) samples input (x - dx, y - dy)
    expect(maxDifference(warp(image, side, { ...NO_AUGMENTATION, shiftX: 0.1, shiftY: -0.15 }), kerasTransform(image, [1, 0, -dx, 0, 1, -dy, 0, 0]))).toBeLessThan(0.01);
    // zoom then translation: Z(T(p)) = z·(p - d) + zoom offset
    const z = 0.85;
    const [a, , zx, , , zy] = kerasZoom(z, side, side);
    expect(a).toBeCloseTo(z, 12);
    const composed = [z, 0, zx! - z * dx, 0, z, zy! - z * dy, 0, 0];
    expect(maxDifference(warp(image, side, { ...NO_AUGMENTATION, zoom: z, shiftX: 0.1, shiftY: -0.15 }), kerasTransform(image, composed))).toBeLessThan(0.01);
  });

  it('draws with the knobs (--flip, --rotation, --zoom, --translate): a factor of 0 turns its draw off and leaves the others as they were', () => {
    const ids = Array.from({ length: 2000 }, (_, id) => id);
    const study = ids.map((id) => drawAugmentation(42, 1, id));
    expect(ids.map((id) => drawAugmentation(42, 1, id, STUDY_AUGMENTATION))).toEqual(study);
    expect(study.every((d) => d.shiftX === undefined)).toBe(true);
    const mild = ids.map((id) => drawAugmentation(42, 1, id, { flip: 0.5, rotation: 0.03, zoom: 0.1, translate: 0.1 }));
    expect(mild.map((d) => d.flip)).toEqual(study.map((d) => d.flip));
    const degrees = mild.map((d) => Math.abs(d.angle * 180) / Math.PI);
    expect(Math.max(...degrees)).toBeLessThanOrEqual(0.03 * 360);
    expect(Math.max(...degrees)).toBeGreaterThan(0.029 * 360);
    expect(Math.max(...mild.map((d) => Math.abs(d.zoom - 1)))).toBeLessThanOrEqual(0.1);
    const shifts = mild.flatMap((d) => [d.shiftX!, d.shiftY!]);
    expect(Math.max(...shifts.map(Math.abs))).toBeLessThanOrEqual(0.1);
    expect(Math.max(...shifts)).toBeGreaterThan(0.099);
    expect(Math.min(...shifts)).toBeLessThan(-0.099);
    const none = ids.map((id) => drawAugmentation(42, 1, id, { flip: 0, rotation: 0, zoom: 0, translate: 0 }));
    expect(none.every((d) => !d.flip && d.angle === 0 && d.zoom === 1)).toBe(true);
    const always = ids.map((id) => drawAugmentation(42, 1, id, { ...STUDY_AUGMENTATION, flip: 1 }));
    expect(always.every((d) => d.flip)).toBe(true);
  });

  it('gives the same pixels for the same (seed, epoch, sample id) and others for another epoch, seed or sample', () => {
    const bytes = faceJpeg(3, 1, 40);
    const spec = { imageSize: 32, preprocessing: 'caffe' as const, seed: 42, augment: true };
    const input = (epoch: number | undefined, id = 5, seed = 42) => {
      const out = new Float32Array(32 * 32 * 3);
      writeModelInputs([{ id, bytes, where: 'face' }], epoch, { ...spec, seed }, out);
      return out;
    };
    expect(input(2)).toEqual(input(2));
    expect(input(2)).not.toEqual(input(3));
    expect(input(2)).not.toEqual(input(2, 6));
    expect(input(2)).not.toEqual(input(2, 5, 43));
    expect(drawAugmentation(42, 2, 5)).toEqual(drawAugmentation(42, 2, 5));
    // evaluation (no epoch) is never augmented, and neither is training with augmentation off
    expect(input(undefined)).toEqual(input(undefined, 6));
    const off = new Float32Array(32 * 32 * 3);
    writeModelInputs([{ id: 5, bytes, where: 'face' }], 2, { ...spec, augment: false }, off);
    expect(off).toEqual(input(undefined));
  });
});
