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
import { readImageSize } from './image-size.js';
import { decodeNetpbm, isNetpbm } from './netpbm.js';

export interface RgbImage {
  width: number;
  height: number;
  /** width * height * 3 bytes, row-major RGB. */
  data: Uint8Array;
}

export type ImageFormat = 'jpeg' | 'png' | 'bmp' | 'netpbm';

/** What can be wrong with an image file, for reports that count problems by kind. */
export type ImageProblem = 'empty' | 'unsupported-format' | 'corrupt' | 'too-large';

export type DecodeOutcome = { ok: true; image: RgbImage; format: ImageFormat } | { ok: false; problem: ImageProblem; reason: string };

export const SUPPORTED_FORMATS = 'JPEG, PNG, BMP, PGM/PPM';

// A face crop is small; anything huge is a mistake or an attack, not a training sample.
const MAX_MEGAPIXELS = 40;
export const DEFAULT_MAX_PIXELS = MAX_MEGAPIXELS * 1024 * 1024;

export interface DecodeLimits {
  /** Width x height above which an image is refused from its header, before decoding (default 40 Mi). */
  maxPixels?: number;
}

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
export function tryDecodeImage(bytes: Uint8Array, limits: DecodeLimits = {}): DecodeOutcome {
  if (bytes.length === 0) return { ok: false, problem: 'empty', reason: 'empty file (0 bytes)' };
  const format = detectImageFormat(bytes);
  if (format === undefined) {
    const known = knownUnsupportedFormat(bytes);
    const reason = known
      ? `${known} images are not supported (supported: ${SUPPORTED_FORMATS})`
      : `not a ${SUPPORTED_FORMATS} image (starts with ${hexPrefix(bytes)})`;
    return { ok: false, problem: 'unsupported-format', reason };
  }
  const name = format === 'netpbm' ? 'PGM/PPM' : format.toUpperCase();
  const maxPixels = limits.maxPixels ?? DEFAULT_MAX_PIXELS;
  const size = readImageSize(bytes, format);
  if (size !== undefined && size.width * size.height > maxPixels) {
    const megapixels = (n: number) => `${(n / 1e6).toFixed(1)} megapixels`;
    return { ok: false, problem: 'too-large', reason: `the ${name} image is ${size.width}x${size.height} (${megapixels(size.width * size.height)}), more than the ${megapixels(maxPixels)} allowed` };
  }
  try {
    return { ok: true, image: decodeAs(format, bytes, maxPixels), format };
  } catch (cause) {
    const message = cause instanceof Error ? cause.message : String(cause);
    const unsupported = cause instanceof BmpFormatError && /not supported/.test(message);
    // The decoders' own words for a cut-off file ("marker was not found") say less than this.
    const why = lacksEndMarker(format, bytes) ? `truncated: it ends after ${bytes.length} bytes, before its end marker` : message;
    return { ok: false, problem: unsupported ? 'unsupported-format' : 'corrupt', reason: `cannot decode ${name} image (${why})` };
  }
}

/**
 * Whether a JPEG lacks its end-of-image marker (FF D9) or a PNG its IEND chunk: the file was cut
 * short (an interrupted upload or copy), which says more than the decoder's own complaint.
 */
function lacksEndMarker(format: ImageFormat, bytes: Uint8Array): boolean {
  // Some writers pad after the end marker, so look at the last few bytes, not only the last two.
  const tail = bytes.subarray(Math.max(0, bytes.length - 64));
  if (format === 'jpeg') return !tail.some((byte, i) => byte === 0xff && tail[i + 1] === 0xd9);
  if (format === 'png') return !Buffer.from(tail).includes('IEND');
  return false;
}

/** Decodes any supported image; `where` names the sample in the error. */
export function decodeImage(bytes: Uint8Array, where: string): RgbImage {
  const outcome = tryDecodeImage(bytes);
  if (!outcome.ok) throw new DatasetError('DATASET_BAD_SAMPLE', `${where}: ${outcome.reason}`);
  return outcome.image;
}

function decodeAs(format: ImageFormat, bytes: Uint8Array, maxPixels: number): RgbImage {
  switch (format) {
    case 'jpeg': {
      // jpeg-js counts megapixels as 10^6 pixels; its own limit is only a backstop to the header check.
      const decoded = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: false, maxResolutionInMP: Math.ceil(maxPixels / 1e6), maxMemoryUsageInMB: 512 });
      return { width: decoded.width, height: decoded.height, data: decoded.data };
    }
    case 'png': {
      const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      return { width: png.width, height: png.height, data: rgbaToRgb(png.data) };
    }
    case 'bmp':
      return decodeBmp(bytes, maxPixels);
    case 'netpbm':
      return decodeNetpbm(bytes, maxPixels);
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

