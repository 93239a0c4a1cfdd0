// Resizing packed RGB pixels to any width and height (bilinear, half-pixel centres, edges
// clamped): the photo a detector looks at when the original is very large, and the annotated
// copy of a very small one. Not the model's input: that goes through shared/image/warp.ts, as in
// training.

import type { RgbImage } from '../../shared/image/decode.js';

export function resizeRgb(image: RgbImage, width: number, height: number): RgbImage {
  if (width === image.width && height === image.height) return image;
  const out = new Uint8Array(width * height * 3);
  const kx = image.width / width;
  const ky = image.height / height;
  // Shrinking by more than 2 averages a few bilinear taps per pixel, so the detector does not see aliasing.
  const taps = Math.max(1, Math.min(4, Math.floor(Math.max(kx, ky))));
  const rowBytes = image.width * 3;
  const { data } = image;
  const sample = (sx: number, sy: number, channel: number): number => {
    const x = Math.min(Math.max(sx, 0), image.width - 1);
    const y = Math.min(Math.max(sy, 0), image.height - 1);
    const x0 = Math.floor(x);
    const y0 = Math.floor(y);
    const x1 = Math.min(x0 + 1, image.width - 1);
    const y1 = Math.min(y0 + 1, image.height - 1);
    const ax = x - x0;
    const ay = y - y0;
    const top = data[y0 * rowBytes + x0 * 3 + channel]! * (1 - ax) + data[y0 * rowBytes + x1 * 3 + channel]! * ax;
    const bottom = data[y1 * rowBytes + x0 * 3 + channel]! * (1 - ax) + data[y1 * rowBytes + x1 * 3 + channel]! * ax;
    return top * (1 - ay) + bottom * ay;
  };
  let o = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < 3; c++) {
        let sum = 0;
        for (let ty = 0; ty < taps; ty++) {
          for (let tx = 0; tx < taps; tx++) sum += sample((x + (tx + 0.5) / taps) * kx - 0.5, (y + (ty + 0.5) / taps) * ky - 0.5, c);
        }
        out[o++] = Math.round(sum / (taps * taps));
      }
    }
  }
  return { width, height, data: out };
}
