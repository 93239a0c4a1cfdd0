// What a detector is shown (pure): the photo, shrunk when it is very large (a detector needs
// ~100 pixels a face, not 12 megapixels; OpenCV's cascade slows with the square of the side), and
// with a plain border around it. The border is for photos that are already face crops — the
// measured photos are news photos cropped to the head, and every detector misses a face that
// fills the frame far more often than one with some room around it (README "The app").

import type { RgbImage } from '../../shared/image/decode.js';
import { resizeRgb } from '../image/resize-rgb.js';
import type { FaceBox } from './face-box.js';

export interface DetectionView {
  /** Longest side the detector sees; larger photos are shrunk to it. */
  maxSide: number;
  /** Border on each side, as a fraction of the (shrunk) photo's longer side. */
  border: number;
}

/** Photo pixel p is detection pixel p · scale + pad. */
export interface DetectionFrame {
  scale: number;
  padX: number;
  padY: number;
}

/** Mid grey: neither a dark nor a bright edge the detector could take for a face's outline. */
const BORDER_GREY = 128;

export function detectionImage(photo: RgbImage, view: DetectionView): { image: RgbImage; frame: DetectionFrame } {
  const scale = Math.min(1, view.maxSide / Math.max(photo.width, photo.height));
  const inner = scale < 1 ? resizeRgb(photo, Math.max(1, Math.round(photo.width * scale)), Math.max(1, Math.round(photo.height * scale))) : photo;
  const pad = Math.round(Math.max(inner.width, inner.height) * view.border);
  if (pad === 0) return { image: inner, frame: { scale: inner.width / photo.width, padX: 0, padY: 0 } };
  const width = inner.width + 2 * pad;
  const height = inner.height + 2 * pad;
  const data = new Uint8Array(width * height * 3).fill(BORDER_GREY);
  for (let y = 0; y < inner.height; y++) {
    data.set(inner.data.subarray(y * inner.width * 3, (y + 1) * inner.width * 3), ((y + pad) * width + pad) * 3);
  }
  return { image: { width, height, data }, frame: { scale: inner.width / photo.width, padX: pad, padY: pad } };
}

/**
 * A box found in the detection image, in photo pixels. It may reach past the photo's edges (a
 * face cut off by the frame): the crop is framed on the whole face, and only the box shown is clipped.
 */
export function toPhotoBox(box: FaceBox, frame: DetectionFrame): FaceBox {
  return { x: (box.x - frame.padX) / frame.scale, y: (box.y - frame.padY) / frame.scale, width: box.width / frame.scale, height: box.height / frame.scale };
}
