// Netpbm grey and colour maps (PGM P2/P5, PPM P3/P6) to packed RGB: the format older face sets
// and research tools write. Samples above 8 bits (maxval up to 65535) are scaled to 0..255.

import type { RgbImage } from './decode.js';

export class NetpbmFormatError extends Error {}

const MAGICS = ['P2', 'P3', 'P5', 'P6'] as const;

export function isNetpbm(bytes: Uint8Array): boolean {
  if (bytes.length < 3 || bytes[0] !== 0x50) return false;
  const kind = `P${String.fromCharCode(bytes[1]!)}`;
  return (MAGICS as readonly string[]).includes(kind) && isSpace(bytes[2]!);
}

function isSpace(byte: number): boolean {
  return byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d || byte === 0x0b || byte === 0x0c;
}

export function decodeNetpbm(bytes: Uint8Array, maxPixels: number): RgbImage {
  const kind = String.fromCharCode(bytes[1]!);
  let position = 2;
  /** The next whitespace-separated header or ASCII-raster token, skipping # comments. */
  const token = (what: string): number => {
    for (;;) {
      while (position < bytes.length && isSpace(bytes[position]!)) position++;
      if (bytes[position] !== 0x23) break;
      while (position < bytes.length && bytes[position] !== 0x0a && bytes[position] !== 0x0d) position++;
    }
    const start = position;
    while (position < bytes.length && bytes[position]! >= 0x30 && bytes[position]! <= 0x39) position++;
    if (position === start) throw new NetpbmFormatError(position >= bytes.length ? `truncated: no ${what}` : `expected a number for the ${what} at byte ${start}`);
    return Number(new TextDecoder().decode(bytes.subarray(start, position)));
  };
  const width = token('width');
  const height = token('height');
  const maxval = token('maximum value');
  if (width <= 0 || height <= 0) throw new NetpbmFormatError(`invalid size ${width}x${height}`);
  if (width * height > maxPixels) throw new NetpbmFormatError(`${width}x${height} is larger than the ${maxPixels} pixels allowed`);
  if (maxval < 1 || maxval > 65535) throw new NetpbmFormatError(`maximum value ${maxval} is outside 1..65535`);
  const channels = kind === '3' || kind === '6' ? 3 : 1;
  const samples = width * height * channels;
  const scale = 255 / maxval;
  const values = new Uint8Array(samples);
  if (kind === '5' || kind === '6') {
    position++; // the single whitespace byte that ends the header
    const wide = maxval > 255;
    const end = position + samples * (wide ? 2 : 1);
    if (end > bytes.length) throw new NetpbmFormatError(`truncated: the raster needs ${end} bytes, the file has ${bytes.length}`);
    for (let i = 0; i < samples; i++) {
      const value = wide ? (bytes[position + 2 * i]! << 8) | bytes[position + 2 * i + 1]! : bytes[position + i]!;
      values[i] = Math.min(255, Math.round(value * scale));
    }
  } else {
    for (let i = 0; i < samples; i++) values[i] = Math.min(255, Math.round(token('sample') * scale));
  }
  if (channels === 3) return { width, height, data: values };
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) rgb[i * 3] = rgb[i * 3 + 1] = rgb[i * 3 + 2] = values[i]!;
  return { width, height, data: rgb };
}
