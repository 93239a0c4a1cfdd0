import { describe, expect, it } from 'vitest';
import { PNG } from 'pngjs';
import { tryDecodeImage, type DecodeOutcome } from '../shared/image/decode.js';
import { encodePng } from '../shared/image/png.js';
import { bmp24, bmpFile, faceJpeg, faceRgb, grayOf } from './helpers/datasets.js';

function decoded(outcome: DecodeOutcome) {
  if (!outcome.ok) throw new Error(`expected an image, got ${outcome.problem}: ${outcome.reason}`);
  return outcome.image;
}

function problem(outcome: DecodeOutcome) {
  if (outcome.ok) throw new Error('expected a failure, got an image');
  return outcome;
}

/** An 8-bit palette BMP, top-down (negative height), grey palette. */
function bmp8(gray: Uint8Array, width: number, height: number): Buffer {
  const stride = Math.ceil(width / 4) * 4;
  const paletteBytes = 256 * 4;
  const file = bmpFile({ width, height: -height, bitsPerPixel: 8, extra: paletteBytes, pixelBytes: stride * height });
  for (let i = 0; i < 256; i++) file.fill(i, 54 + i * 4, 54 + i * 4 + 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) file[54 + paletteBytes + y * stride + x] = gray[y * width + x]!;
  return file;
}

/** A 32-bit BI_BITFIELDS BMP with masks 0x00ff0000 (R), 0x0000ff00 (G), 0x000000ff (B). */
function bmp32(rgb: Uint8Array, width: number, height: number): Buffer {
  const file = bmpFile({ width, height, bitsPerPixel: 32, compression: 3, extra: 12, pixelBytes: width * height * 4 });
  file.writeUInt32LE(0x00ff0000, 54);
  file.writeUInt32LE(0x0000ff00, 58);
  file.writeUInt32LE(0x000000ff, 62);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const at = (y * width + x) * 3;
      file.writeUInt32LE(((rgb[at]! << 16) | (rgb[at + 1]! << 8) | rgb[at + 2]!) >>> 0, 66 + ((height - 1 - y) * width + x) * 4);
    }
  }
  return file;
}

const side = 24;
const rgb = faceRgb(3, 7, side);
const gray = grayOf(rgb);
const threeOf = (values: Uint8Array) => Uint8Array.from({ length: values.length * 3 }, (_, i) => values[Math.floor(i / 3)]!);

describe('decoding images of every supported format to RGB', () => {
  it('decodes JPEG', () => {
    const image = decoded(tryDecodeImage(faceJpeg(3, 7, side)));
    expect([image.width, image.height, image.data.length]).toEqual([side, side, side * side * 3]);
  });

  it('turns grey PNG into three equal channels and drops alpha', () => {
    expect(decoded(tryDecodeImage(encodePng({ width: side, height: side, data: gray }))).data).toEqual(threeOf(gray));
    const rgba = new PNG({ width: 2, height: 1 });
    rgba.data = Buffer.from([10, 20, 30, 0, 40, 50, 60, 128]);
    expect(decoded(tryDecodeImage(PNG.sync.write(rgba))).data).toEqual(Uint8Array.from([10, 20, 30, 40, 50, 60]));
  });

  it('decodes BMP: 24-bit bottom-up, 8-bit palette top-down, 32-bit bit fields', () => {
    expect(decoded(tryDecodeImage(bmp24(rgb, side, side))).data).toEqual(rgb);
    expect(decoded(tryDecodeImage(bmp24(rgb.subarray(0, 5 * 3 * 3), 5, 3))).data).toEqual(rgb.subarray(0, 45));
    expect(decoded(tryDecodeImage(bmp8(gray, side, side))).data).toEqual(threeOf(gray));
    expect(decoded(tryDecodeImage(bmp32(rgb, side, side))).data).toEqual(rgb);
  });

  it('decodes PGM and PPM, binary and ASCII, 8 and 16 bits', () => {
    const header = (magic: string, maxval: number) => Buffer.from(`${magic}\n# a comment\n${side} ${side}\n${maxval}\n`);
    expect(decoded(tryDecodeImage(Buffer.concat([header('P5', 255), Buffer.from(gray)]))).data).toEqual(threeOf(gray));
    expect(decoded(tryDecodeImage(Buffer.concat([header('P6', 255), Buffer.from(rgb)]))).data).toEqual(rgb);
    expect(decoded(tryDecodeImage(Buffer.concat([header('P2', 255), Buffer.from(Array.from(gray).join(' '))]))).data).toEqual(threeOf(gray));
    const wide = Buffer.alloc(gray.length * 2);
    gray.forEach((v, i) => wide.writeUInt16BE(v * 257, i * 2));
    expect(decoded(tryDecodeImage(Buffer.concat([header('P5', 65535), wide]))).data).toEqual(threeOf(gray));
  });

  it('tells empty, wrong-format, unsupported, corrupt and truncated files apart', () => {
    const jpeg = faceJpeg(3, 7, side);
    expect(problem(tryDecodeImage(new Uint8Array(0)))).toMatchObject({ problem: 'empty' });
    expect(problem(tryDecodeImage(Buffer.from('hello, not an image')))).toMatchObject({ problem: 'unsupported-format', reason: expect.stringMatching(/not a JPEG, PNG, BMP, PGM\/PPM image \(starts with 68 65 6c 6c\)/) });
    expect(problem(tryDecodeImage(Buffer.from('GIF89a....')))).toMatchObject({ problem: 'unsupported-format', reason: expect.stringMatching(/^GIF images are not supported/) });
    expect(problem(tryDecodeImage(jpeg.subarray(0, Math.floor(jpeg.length * 0.6))))).toMatchObject({ problem: 'corrupt', reason: expect.stringMatching(/^cannot decode JPEG image/) });
    const scrambled = Uint8Array.from(jpeg);
    for (let i = 200; i < scrambled.length - 2; i++) scrambled[i] = (i * 37) & 0xff;
    expect(problem(tryDecodeImage(scrambled))).toMatchObject({ problem: 'corrupt' });
    const png = encodePng({ width: side, height: side, data: rgb });
    expect(problem(tryDecodeImage(png.subarray(0, png.length - 30)))).toMatchObject({ problem: 'corrupt', reason: expect.stringMatching(/^cannot decode PNG image/) });
    const bmp = bmp24(rgb, side, side);
    expect(problem(tryDecodeImage(bmp.subarray(0, bmp.length - 100)))).toMatchObject({ problem: 'corrupt', reason: expect.stringMatching(/truncated/) });
  });

  it('says a JPEG or PNG cut short is truncated, and how many bytes it has', () => {
    const jpeg = faceJpeg(3, 7, side);
    const cut = jpeg.subarray(0, Math.floor(jpeg.length * 0.6));
    expect(problem(tryDecodeImage(cut)).reason).toBe(`cannot decode JPEG image (truncated: it ends after ${cut.length} bytes, before its end marker)`);
    const png = encodePng({ width: side, height: side, data: rgb });
    expect(problem(tryDecodeImage(png.subarray(0, png.length - 30))).reason).toMatch(/^cannot decode PNG image \(truncated: it ends after \d+ bytes, before its end marker\)$/);
  });

  it('refuses an image over the pixel limit from its header alone, naming its size', () => {
    const limits = { maxPixels: side * side - 1 };
    const netpbm = Buffer.concat([Buffer.from(`P6\n# a comment\n${side} ${side}\n255\n`), Buffer.from(rgb)]);
    for (const bytes of [faceJpeg(3, 7, side), encodePng({ width: side, height: side, data: rgb }), bmp24(rgb, side, side), bmp8(gray, side, side), netpbm]) {
      expect(problem(tryDecodeImage(bytes, limits))).toMatchObject({ problem: 'too-large', reason: expect.stringMatching(new RegExp(`image is ${side}x${side} \\(0\\.0 megapixels\\), more than the 0\\.0 megapixels allowed$`)) });
      expect(decoded(tryDecodeImage(bytes, { maxPixels: side * side })).width).toBe(side);
    }
    // The header is read, not the pixels: a PNG declaring 100000 x 100000 is refused without a byte of its data.
    const huge = encodePng({ width: 2, height: 2, data: new Uint8Array(12) });
    huge.writeUInt32BE(100_000, 16);
    huge.writeUInt32BE(100_000, 20);
    expect(problem(tryDecodeImage(huge))).toMatchObject({ problem: 'too-large', reason: expect.stringContaining('100000x100000 (10000.0 megapixels)') });
  });
});
