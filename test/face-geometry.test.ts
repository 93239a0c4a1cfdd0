// Issue 10, point 2: where a detected face's crop comes from and how it is resized. The crop of a
// face is resized with training's own arithmetic (shared/image/warp.ts with a source region), so
// a region of a photo gives the same model input as that region cut out and resized as a whole
// image; the framing puts a detector's box into a square inside the photo; the detector's view
// (shrunk, with a border) maps back to photo pixels.

import { describe, expect, it } from 'vitest';
import type { RgbImage } from '../shared/image/decode.js';
import { resizeInto } from '../shared/image/preprocess.js';
import { clipBox, faceRegion, largeEnough } from '../app/detect/face-box.js';
import { detectionImage, toPhotoBox } from '../app/detect/detection-image.js';

function randomImage(width: number, height: number, seed = 1): RgbImage {
  let state = seed;
  const data = Uint8Array.from({ length: width * height * 3 }, () => {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    return state >> 23;
  });
  return { width, height, data };
}

function cut(image: RgbImage, left: number, top: number, width: number, height: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) data.set(image.data.subarray(((top + y) * image.width + left) * 3, ((top + y) * image.width + left + width) * 3), y * width * 3);
  return { width, height, data };
}

describe('a face crop as the model input', () => {
  it('equals the same region cut out and resized as a whole image, bit for bit', () => {
    const photo = randomImage(64, 48);
    for (const [left, top, side, size] of [[5, 3, 40, 32], [20, 10, 24, 24], [0, 0, 48, 16]] as const) {
      const fromRegion = new Float32Array(size * size * 3);
      const fromCut = new Float32Array(size * size * 3);
      resizeInto(photo, size, 'caffe', fromRegion, 0, { flip: false, region: { left, top, width: side, height: side } });
      resizeInto(cut(photo, left, top, side, side), size, 'caffe', fromCut, 0);
      expect(fromRegion).toEqual(fromCut);
    }
  });

  it('is the unchanged whole-image resize when the region is the whole photo (what --no-detect relies on)', () => {
    const photo = randomImage(37, 53, 4);
    const whole = new Float32Array(24 * 24 * 3);
    const region = new Float32Array(24 * 24 * 3);
    resizeInto(photo, 24, 'unit', whole, 0);
    resizeInto(photo, 24, 'unit', region, 0, { flip: false, region: { left: 0, top: 0, width: 37, height: 53 } });
    expect(Buffer.from(region.buffer).equals(Buffer.from(whole.buffer))).toBe(true);
  });
});

describe('framing a detector box', () => {
  it('makes a square of the larger side times the scale, centred on the box, shifted by the fraction of its height', () => {
    expect(faceRegion({ x: 100, y: 100, width: 40, height: 50 }, { scale: 1.2, shiftY: 0.1 }, 400, 400)).toEqual({ left: 90, top: 100, width: 60, height: 60 });
  });

  it('moves the square in from the photo edges instead of filling outside it', () => {
    expect(faceRegion({ x: -10, y: 180, width: 40, height: 40 }, { scale: 1.5, shiftY: 0 }, 200, 200)).toEqual({ left: 0, top: 140, width: 60, height: 60 });
  });

  it('shrinks the square to the shorter side of a photo that is smaller', () => {
    expect(faceRegion({ x: 0, y: 0, width: 90, height: 100 }, { scale: 1.3, shiftY: 0 }, 120, 80)).toEqual({ left: 5, top: 0, width: 80, height: 80 });
  });

  it('clips a box to the photo and drops one wholly outside it', () => {
    expect(clipBox({ x: -5, y: 10, width: 20, height: 100 }, 50, 60)).toEqual({ x: 0, y: 10, width: 15, height: 50 });
    expect(clipBox({ x: 60, y: 10, width: 20, height: 20 }, 50, 60)).toBeUndefined();
  });

  it('keeps faces of at least the minimum side, largest first', () => {
    const face = (side: number, x = 0) => ({ box: { x, y: 0, width: side, height: side + 2 }, score: null });
    expect(largeEnough([face(10), face(40), face(24, 5), face(23)], 24).map((f) => f.box.width)).toEqual([40, 24]);
  });
});

describe("the detector's view of a photo", () => {
  it('adds a grey border and maps a box found in it back to photo pixels', () => {
    const photo = randomImage(80, 60);
    const { image, frame } = detectionImage(photo, { maxSide: 1000, border: 0.25 });
    expect([image.width, image.height]).toEqual([120, 100]);
    expect(frame).toEqual({ scale: 1, padX: 20, padY: 20 });
    expect(image.data.subarray(0, 3)).toEqual(Uint8Array.of(128, 128, 128));
    // The photo's first pixel sits at (20, 20).
    expect(image.data.subarray((20 * 120 + 20) * 3, (20 * 120 + 20) * 3 + 3)).toEqual(photo.data.subarray(0, 3));
    expect(toPhotoBox({ x: 30, y: 25, width: 40, height: 30 }, frame)).toEqual({ x: 10, y: 5, width: 40, height: 30 });
  });

  it('shrinks a photo larger than the view first, and scales boxes back up', () => {
    const { image, frame } = detectionImage(randomImage(400, 200), { maxSide: 100, border: 0 });
    expect([image.width, image.height]).toEqual([100, 50]);
    expect(frame.scale).toBe(0.25);
    expect(toPhotoBox({ x: 10, y: 5, width: 20, height: 10 }, frame)).toEqual({ x: 40, y: 20, width: 80, height: 40 });
  });
});
