// An image's width and height from its header alone, before any pixel is decoded: so a 100
// megapixel upload is refused for its size without allocating its pixels (issue 10, "too many
// pixels"), and the message can say how large it is.

import type { ImageFormat } from './decode.js';

export interface ImageSize {
  width: number;
  height: number;
}

/** The size a header declares, or undefined where the header is cut short or malformed (the decoder then says why). */
export function readImageSize(bytes: Uint8Array, format: ImageFormat): ImageSize | undefined {
  switch (format) {
    case 'jpeg':
      return jpegSize(bytes);
    case 'png':
      return pngSize(bytes);
    case 'bmp':
      return bmpSize(bytes);
    case 'netpbm':
      return netpbmSize(bytes);
  }
}

// Start-of-frame markers (T.81 Table B.1): SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC).
function isStartOfFrame(marker: number): boolean {
  return marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
}

function jpegSize(bytes: Uint8Array): ImageSize | undefined {
  let position = 2;
  while (position + 9 < bytes.length) {
    if (bytes[position] !== 0xff) return undefined;
    const marker = bytes[position + 1]!;
    // Fill bytes (FF FF ...) may precede a marker.
    if (marker === 0xff) {
      position++;
      continue;
    }
    const length = (bytes[position + 2]! << 8) | bytes[position + 3]!;
    if (isStartOfFrame(marker)) {
      return { height: (bytes[position + 5]! << 8) | bytes[position + 6]!, width: (bytes[position + 7]! << 8) | bytes[position + 8]! };
    }
    if (marker === 0xda) return undefined; // scan data before any frame header: malformed
    position += 2 + length;
  }
  return undefined;
}

function pngSize(bytes: Uint8Array): ImageSize | undefined {
  // Signature (8), IHDR length (4) and type (4), then width and height, big-endian.
  if (bytes.length < 24 || String.fromCharCode(...bytes.subarray(12, 16)) !== 'IHDR') return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { width: view.getUint32(16), height: view.getUint32(20) };
}

function bmpSize(bytes: Uint8Array): ImageSize | undefined {
  if (bytes.length < 26) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerSize = view.getUint32(14, true);
  if (headerSize === 12) return { width: view.getUint16(18, true), height: Math.abs(view.getInt16(20, true)) };
  // A negative height means top-down rows.
  return { width: Math.abs(view.getInt32(18, true)), height: Math.abs(view.getInt32(22, true)) };
}

function netpbmSize(bytes: Uint8Array): ImageSize | undefined {
  // "P5 <width> <height> ...", with whitespace and # comments anywhere between the tokens.
  const text = new TextDecoder('latin1').decode(bytes.subarray(2, Math.min(bytes.length, 4096)));
  const tokens = text.replace(/#[^\n\r]*/g, ' ').trim().split(/\s+/);
  const width = Number(tokens[0]);
  const height = Number(tokens[1]);
  return Number.isInteger(width) && Number.isInteger(height) ? { width, height } : undefined;
}
