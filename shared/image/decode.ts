// Image decoding to packed RGB. JPEG through jpeg-js and PNG through pngjs: pure JS, installed
// from npm alone, and measured fast enough for 100x100 faces (BACKENDS.md "Images").

import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { DatasetError } from '../errors.js';

export interface RgbImage {
  width: number;
  height: number;
  /** width * height * 3 bytes, row-major RGB. */
  data: Uint8Array;
}

// A face crop is small; anything huge is a mistake or an attack, not a training sample.
const MAX_MEGAPIXELS = 40;

export function detectImageFormat(bytes: Uint8Array): 'jpeg' | 'png' | undefined {
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  if (bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) return 'png';
  return undefined;
}

/** Decodes JPEG or PNG bytes; `where` names the sample in the error. */
export function decodeImage(bytes: Uint8Array, where: string): RgbImage {
  if (bytes.length === 0) throw new DatasetError('DATASET_BAD_SAMPLE', `${where}: empty file (0 bytes)`);
  const format = detectImageFormat(bytes);
  try {
    if (format === 'jpeg') {
      const decoded = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: false, maxResolutionInMP: MAX_MEGAPIXELS, maxMemoryUsageInMB: 512 });
      return { width: decoded.width, height: decoded.height, data: decoded.data };
    }
    if (format === 'png') {
      const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      return { width: png.width, height: png.height, data: rgbaToRgb(png.data) };
    }
  } catch (cause) {
    throw new DatasetError('DATASET_BAD_SAMPLE', `${where}: cannot decode ${format} image (${(cause as Error).message})`, { cause });
  }
  throw new DatasetError('DATASET_BAD_SAMPLE', `${where}: not a JPEG or PNG image (starts with ${hexPrefix(bytes)})`);
}

function rgbaToRgb(rgba: Uint8Array): Uint8Array {
  const pixels = rgba.length / 4;
  const rgb = new Uint8Array(pixels * 3);
  for (let p = 0; p < pixels; p++) {
    rgb[p * 3] = rgba[p * 4]!;
    rgb[p * 3 + 1] = rgba[p * 4 + 1]!;
    rgb[p * 3 + 2] = rgba[p * 4 + 2]!;
  }
  return rgb;
}

function hexPrefix(bytes: Uint8Array): string {
  return Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
}
