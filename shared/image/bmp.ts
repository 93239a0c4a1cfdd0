// Windows BMP decoding to packed RGB: the uncompressed forms (1, 4 and 8 bits through a palette;
// 16, 24 and 32 bits, with or without BI_BITFIELDS masks), bottom-up or top-down rows, any of
// the header versions (core, info, v4, v5). RLE-compressed BMPs are refused as unsupported: no
// face dataset we know of ships them. Every read is bounds-checked, so a truncated file is an
// error, never a partly garbage image.

import type { RgbImage } from './decode.js';

const BI_RGB = 0;
const BI_BITFIELDS = 3;
const BI_ALPHABITFIELDS = 6;

/** Why a BMP could not be decoded; decode.ts turns it into a DatasetError naming the file. */
export class BmpFormatError extends Error {}

export function isBmp(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x42 && bytes[1] === 0x4d;
}

export function decodeBmp(bytes: Uint8Array, maxPixels: number): RgbImage {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const need = (end: number, what: string) => {
    if (end > bytes.length) throw new BmpFormatError(`truncated: ${what} needs ${end} bytes, the file has ${bytes.length}`);
  };
  need(18, 'the headers');
  const pixelOffset = view.getUint32(10, true);
  const headerSize = view.getUint32(14, true);
  let width: number;
  let height: number;
  let bitsPerPixel: number;
  let compression = BI_RGB;
  let paletteSize = 0;
  let paletteEntryBytes = 4;
  if (headerSize === 12) {
    need(26, 'the core header');
    width = view.getUint16(18, true);
    height = view.getInt16(20, true);
    bitsPerPixel = view.getUint16(24, true);
    paletteEntryBytes = 3;
  } else if (headerSize >= 40) {
    need(14 + 40, 'the info header');
    width = view.getInt32(18, true);
    height = view.getInt32(22, true);
    bitsPerPixel = view.getUint16(28, true);
    compression = view.getUint32(30, true);
    paletteSize = view.getUint32(46, true);
  } else {
    throw new BmpFormatError(`unknown BMP header size ${headerSize}`);
  }
  const topDown = height < 0;
  height = Math.abs(height);
  if (width <= 0 || height <= 0) throw new BmpFormatError(`invalid BMP size ${width}x${height}`);
  if (width * height > maxPixels) throw new BmpFormatError(`${width}x${height} is larger than the ${maxPixels} pixels allowed`);

  let masks: [number, number, number] | undefined;
  if (compression === BI_BITFIELDS || compression === BI_ALPHABITFIELDS) {
    // With a plain 40-byte info header the three masks follow it; later headers contain them.
    need(14 + 40 + 12, 'the colour masks');
    masks = [view.getUint32(54, true), view.getUint32(58, true), view.getUint32(62, true)];
  } else if (compression !== BI_RGB) {
    throw new BmpFormatError(`BMP compression ${compression} (RLE) is not supported`);
  }
  if (![1, 4, 8, 16, 24, 32].includes(bitsPerPixel)) throw new BmpFormatError(`${bitsPerPixel} bits per pixel is not a BMP depth`);
  if (masks === undefined && bitsPerPixel === 16) masks = [0x7c00, 0x03e0, 0x001f];

  let palette: Uint8Array | undefined;
  if (bitsPerPixel <= 8) {
    const entries = paletteSize > 0 ? paletteSize : 1 << bitsPerPixel;
    const start = 14 + headerSize + (compression === BI_BITFIELDS && headerSize === 40 ? 12 : 0);
    need(start + entries * paletteEntryBytes, 'the palette');
    palette = new Uint8Array(256 * 3);
    for (let i = 0; i < Math.min(entries, 256); i++) {
      const at = start + i * paletteEntryBytes;
      palette[i * 3] = bytes[at + 2]!;
      palette[i * 3 + 1] = bytes[at + 1]!;
      palette[i * 3 + 2] = bytes[at]!;
    }
  }

  const stride = Math.floor((bitsPerPixel * width + 31) / 32) * 4;
  need(pixelOffset + stride * (height - 1) + Math.ceil((bitsPerPixel * width) / 8), 'the pixel rows');
  const rgb = new Uint8Array(width * height * 3);
  const channel = masks?.map(maskShape);
  for (let row = 0; row < height; row++) {
    const y = topDown ? row : height - 1 - row;
    const rowStart = pixelOffset + row * stride;
    let out = y * width * 3;
    for (let x = 0; x < width; x++) {
      if (palette) {
        const bitOffset = x * bitsPerPixel;
        const byte = bytes[rowStart + (bitOffset >> 3)]!;
        const index = (byte >> (8 - bitsPerPixel - (bitOffset & 7))) & ((1 << bitsPerPixel) - 1);
        rgb[out++] = palette[index * 3]!;
        rgb[out++] = palette[index * 3 + 1]!;
        rgb[out++] = palette[index * 3 + 2]!;
      } else if (channel) {
        const at = rowStart + x * (bitsPerPixel >> 3);
        const value = bitsPerPixel === 16 ? view.getUint16(at, true) : bitsPerPixel === 24 ? bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) : view.getUint32(at, true);
        for (let c = 0; c < 3; c++) rgb[out++] = extract(value, channel[c]!);
      } else {
        const at = rowStart + x * (bitsPerPixel >> 3);
        rgb[out++] = bytes[at + 2]!;
        rgb[out++] = bytes[at + 1]!;
        rgb[out++] = bytes[at]!;
      }
    }
  }
  return { width, height, data: rgb };
}

interface MaskShape {
  mask: number;
  shift: number;
  max: number;
}

function maskShape(mask: number): MaskShape {
  if (mask === 0) return { mask: 0, shift: 0, max: 1 };
  let shift = 0;
  while (((mask >>> shift) & 1) === 0) shift++;
  return { mask: mask >>> 0, shift, max: (mask >>> 0) >>> shift };
}

/** A masked channel scaled to 0..255. */
function extract(value: number, shape: MaskShape): number {
  if (shape.mask === 0) return 0;
  return Math.round((((value & shape.mask) >>> 0) >>> shape.shift) * (255 / shape.max));
}
