// Image decoding to packed RGB, whatever the source format: JPEG (baseline and progressive,
// through jpeg-js), PNG (any bit depth, palette, grey, alpha — through pngjs), BMP and Netpbm
// PGM/PPM (our own decoders). Grey images come out as three equal channels and alpha is dropped,
// as tf.io.decode_image(channels=3) does. Pure JS, installed from npm alone, and measured fast
// enough for face crops (BACKENDS.md "Images", `npm run bench:data`).
//
// The format is taken from the bytes, never from the file name: a PNG saved as .jpg decodes, a
// text file saved as .jpg is reported as not an image.

import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { DatasetError } from '../errors.js';
import { BmpFormatError, decodeBmp, isBmp } from './bmp.js';
import { decodeNetpbm, isNetpbm } from './netpbm.js';

export interface RgbImage {
  width: number;
  height: number;
  /** width * height * 3 bytes, row-major RGB. */
  data: Uint8Array;
}

export type ImageFormat = 'jpeg' | 'png' | 'bmp' | 'netpbm';

/** What can be wrong with an image file, for reports that count problems by kind. */
export type ImageProblem = 'empty' | 'unsupported-format' | 'corrupt';

export type DecodeOutcome = { ok: true; image: RgbImage; format: ImageFormat } | { ok: false; problem: ImageProblem; reason: string };

export const SUPPORTED_FORMATS = 'JPEG, PNG, BMP, PGM/PPM';

// A face crop is small; anything huge is a mistake or an attack, not a training sample.
const MAX_MEGAPIXELS = 40;
const MAX_PIXELS = MAX_MEGAPIXELS * 1024 * 1024;

export function detectImageFormat(bytes: Uint8Array): ImageFormat | undefined {
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  if (bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) return 'png';
  if (isBmp(bytes)) return 'bmp';
  if (isNetpbm(bytes)) return 'netpbm';
  return undefined;
}

/** Formats recognised by their signature but not decoded, so the report can name them. */
function knownUnsupportedFormat(bytes: Uint8Array): string | undefined {
  const ascii = (start: number, end: number) => String.fromCharCode(...bytes.subarray(start, end));
  if (ascii(0, 4) === 'GIF8') return 'GIF';
  if (ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return 'WebP';
  if (ascii(0, 4) === 'II*\0' || ascii(0, 4) === 'MM\0*') return 'TIFF';
  if (ascii(4, 12) === 'ftypheic' || ascii(4, 12) === 'ftypavif' || ascii(4, 12) === 'ftypmif1') return 'HEIF/AVIF';
  return undefined;
}

/** Decodes any supported image; failures are described, not thrown. */
export function tryDecodeImage(bytes: Uint8Array): DecodeOutcome {
  if (bytes.length === 0) return { ok: false, problem: 'empty', reason: 'empty file (0 bytes)' };
  const format = detectImageFormat(bytes);
  if (format === undefined) {
    const known = knownUnsupportedFormat(bytes);
    const reason = known
      ? `${known} images are not supported (supported: ${SUPPORTED_FORMATS})`
      : `not a ${SUPPORTED_FORMATS} image (starts with ${hexPrefix(bytes)})`;
    return { ok: false, problem: 'unsupported-format', reason };
  }
  try {
    return { ok: true, image: decodeAs(format, bytes), format };
  } catch (cause) {
    const message = cause instanceof Error ? cause.message : String(cause);
    const unsupported = cause instanceof BmpFormatError && /not supported/.test(message);
    return { ok: false, problem: unsupported ? 'unsupported-format' : 'corrupt', reason: `cannot decode ${format === 'netpbm' ? 'PGM/PPM' : format.toUpperCase()} image (${message})` };
  }
}

/** Decodes any supported image; `where` names the sample in the error. */
export function decodeImage(bytes: Uint8Array, where: string): RgbImage {
  const outcome = tryDecodeImage(bytes);
  if (!outcome.ok) throw new DatasetError('DATASET_BAD_SAMPLE', `${where}: ${outcome.reason}`);
  return outcome.image;
}

function decodeAs(format: ImageFormat, bytes: Uint8Array): RgbImage {
  switch (format) {
    case 'jpeg': {
      const decoded = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: false, maxResolutionInMP: MAX_MEGAPIXELS, maxMemoryUsageInMB: 512 });
      return { width: decoded.width, height: decoded.height, data: decoded.data };
    }
    case 'png': {
      const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      if (png.width * png.height > MAX_PIXELS) throw new Error(`${png.width}x${png.height} is larger than ${MAX_MEGAPIXELS} megapixels`);
      return { width: png.width, height: png.height, data: rgbaToRgb(png.data) };
    }
    case 'bmp':
      return decodeBmp(bytes, MAX_PIXELS);
    case 'netpbm':
      return decodeNetpbm(bytes, MAX_PIXELS);
  }
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

