// Photos for the app's tests: the committed astronaut portrait (test/fixtures/README.md says where
// it comes from), and photos made in the test from its pixels.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { PNG } from 'pngjs';
import type { RgbImage } from '../../shared/image/decode.js';
import { ROOT } from './processes.js';

export const ASTRONAUT = path.join(ROOT, 'test', 'fixtures', 'astronaut.png');

/** Between Eileen Collins' eyes and mouth in astronaut.png (512 x 512). */
export const ASTRONAUT_FACE_CENTRE = { x: 225, y: 115 };

export function astronautPixels(): RgbImage {
  const png = PNG.sync.read(readFileSync(ASTRONAUT));
  const data = new Uint8Array(png.width * png.height * 3);
  for (let p = 0; p < png.width * png.height; p++) data.set(png.data.subarray(p * 4, p * 4 + 3), p * 3);
  return { width: png.width, height: png.height, data };
}

/** `jpeg` with an APP1 Exif segment (a TIFF IFD holding only tag 0x0112) saying Orientation = `orientation`, right after SOI. */
export function withOrientation(jpeg: Uint8Array, orientation: number): Uint8Array {
  const tiff = Buffer.from([0x4d, 0x4d, 0x00, 0x2a, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, orientation, 0, 0, 0, 0, 0, 0]);
  const payload = Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), tiff]);
  const length = Buffer.alloc(2);
  length.writeUInt16BE(payload.length + 2);
  return Buffer.concat([jpeg.subarray(0, 2), Buffer.from([0xff, 0xe1]), length, payload, jpeg.subarray(2)]);
}

/**
 * A YUV4MPEG2 video of `frames` copies of `image` — the format Chromium's fake camera plays
 * (--use-file-for-fake-video-capture): 4:2:0 (the default colour space, 420jpeg), full-range
 * BT.601 as JPEG's YCbCr, chroma averaged over 2x2 pixels. Width and height must be even.
 */
export function y4mVideo(image: RgbImage, frames = 2): Buffer {
  const { width, height, data } = image;
  if (width % 2 !== 0 || height % 2 !== 0) throw new RangeError(`y4m needs even sides, got ${width}x${height}`);
  const luma = new Uint8Array(width * height);
  const cb = new Uint8Array((width / 2) * (height / 2));
  const cr = new Uint8Array((width / 2) * (height / 2));
  for (let p = 0; p < width * height; p++) {
    const [r, g, b] = [data[p * 3]!, data[p * 3 + 1]!, data[p * 3 + 2]!];
    luma[p] = Math.round(0.299 * r + 0.587 * g + 0.114 * b);
  }
  for (let y = 0; y < height / 2; y++) {
    for (let x = 0; x < width / 2; x++) {
      let u = 0;
      let v = 0;
      for (const [dx, dy] of [[0, 0], [1, 0], [0, 1], [1, 1]] as const) {
        const p = ((2 * y + dy) * width + 2 * x + dx) * 3;
        const [r, g, b] = [data[p]!, data[p + 1]!, data[p + 2]!];
        u += 128 - 0.168736 * r - 0.331264 * g + 0.5 * b;
        v += 128 + 0.5 * r - 0.418688 * g - 0.081312 * b;
      }
      cb[y * (width / 2) + x] = Math.min(255, Math.max(0, Math.round(u / 4)));
      cr[y * (width / 2) + x] = Math.min(255, Math.max(0, Math.round(v / 4)));
    }
  }
  const frame = Buffer.concat([Buffer.from('FRAME\n'), luma, cb, cr]);
  return Buffer.concat([Buffer.from(`YUV4MPEG2 W${width} H${height} F30:1 Ip A1:1\n`), ...Array.from({ length: frames }, () => frame)]);
}
