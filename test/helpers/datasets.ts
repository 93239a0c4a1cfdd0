// Tiny generated datasets in every layout emotrain reads, with real images (synthetic faces) so
// that validation decodes them like real data.

import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { encodeJpeg } from '../../shared/image/jpeg-encode.js';
import { classToRafLabel } from '../../shared/dataset/raf-db-official.js';
import { drawSyntheticFace } from '../../shared/synthetic-face/index.js';
import { encodePng } from '../../shared/image/png.js';

export const FACE_SIDE = 24;

export function faceRgb(classIndex: number, seed: number, side = FACE_SIDE): Uint8Array {
  return drawSyntheticFace(classIndex, seed, side);
}

export function faceJpeg(classIndex: number, seed: number, side = FACE_SIDE): Uint8Array {
  return encodeJpeg(faceRgb(classIndex, seed, side), side, side, 90);
}

export function grayOf(rgb: Uint8Array): Uint8Array {
  return Uint8Array.from({ length: rgb.length / 3 }, (_, i) => Math.round((rgb[3 * i]! + rgb[3 * i + 1]! + rgb[3 * i + 2]!) / 3));
}

export function facePngGray(classIndex: number, seed: number, side = FACE_SIDE): Buffer {
  return encodePng({ width: side, height: side, data: grayOf(faceRgb(classIndex, seed, side)) });
}

/** A BMP file of `pixelBytes` after a 40-byte info header (and `extra` bytes: masks or a palette); negative height = top-down. */
export function bmpFile(options: { width: number; height: number; bitsPerPixel: number; compression?: number; extra?: number; pixelBytes: number }): Buffer {
  const pixelOffset = 54 + (options.extra ?? 0);
  const file = Buffer.alloc(pixelOffset + options.pixelBytes);
  file.write('BM', 0, 'ascii');
  file.writeUInt32LE(file.length, 2);
  file.writeUInt32LE(pixelOffset, 10);
  file.writeUInt32LE(40, 14);
  file.writeInt32LE(options.width, 18);
  file.writeInt32LE(options.height, 22);
  file.writeUInt16LE(1, 26);
  file.writeUInt16LE(options.bitsPerPixel, 28);
  file.writeUInt32LE(options.compression ?? 0, 30);
  return file;
}

/** An uncompressed 24-bit bottom-up BMP. */
export function bmp24(rgb: Uint8Array, width: number, height: number): Buffer {
  const stride = Math.ceil((width * 3) / 4) * 4;
  const file = bmpFile({ width, height, bitsPerPixel: 24, pixelBytes: stride * height });
  for (let y = 0; y < height; y++) {
    const row = 54 + (height - 1 - y) * stride;
    for (let x = 0; x < width; x++) {
      const at = (y * width + x) * 3;
      file[row + x * 3] = rgb[at + 2]!;
      file[row + x * 3 + 1] = rgb[at + 1]!;
      file[row + x * 3 + 2] = rgb[at]!;
    }
  }
  return file;
}

export function write(root: string, relative: string, bytes: Uint8Array | string): void {
  const file = path.join(root, relative);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, bytes);
}

/** RAF-DB official layout: `<name> <label>` lines and, for each, an aligned JPEG unless bytes are given (null: no file). */
export function writeRafOfficial(root: string, entries: Array<{ name: string; classIndex?: number; rafLabel?: number | string; bytes?: Uint8Array | string | null }>): void {
  const lines = entries.map((e) => `${e.name} ${e.rafLabel ?? classToRafLabel(e.classIndex!)}`);
  write(root, path.join('EmoLabel', 'list_patition_label.txt'), `${lines.join('\n')}\n`);
  entries.forEach((e, i) => {
    if (e.bytes === null) return;
    write(root, path.join('Image', 'aligned', e.name.replace(/\.jpg$/, '_aligned.jpg')), e.bytes ?? faceJpeg(e.classIndex ?? 0, i));
  });
}

/** `count` images of each class, a fifth of them test_*, in the RAF-DB official layout. */
export function rafOfficialOfEveryClass(root: string, perClass: number): void {
  const entries: Array<{ name: string; classIndex: number }> = [];
  let train = 0;
  let test = 0;
  for (let c = 0; c < 7; c++) {
    for (let k = 0; k < perClass; k++) {
      const isTest = k < Math.round(perClass / 5);
      entries.push({ name: isTest ? `test_${String(++test).padStart(4, '0')}.jpg` : `train_${String(++train).padStart(5, '0')}.jpg`, classIndex: c });
    }
  }
  writeRafOfficial(root, entries);
}
