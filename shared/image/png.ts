// PNG encoding of 8-bit grey and RGB pixels (pngjs): how the coordinator serves images that have
// no file of their own (FER2013 csv rows), and how previews embed samples in a picture.

import { PNG } from 'pngjs';

export interface PixelImage {
  width: number;
  height: number;
  /** width * height * channels bytes, row-major. */
  data: Uint8Array;
}

/** Encodes grey (1 byte per pixel) or RGB (3 bytes per pixel) pixels, told apart by their length. */
export function encodePng(image: PixelImage): Buffer {
  const channels = image.data.length / (image.width * image.height);
  if (channels !== 1 && channels !== 3) throw new RangeError(`${image.data.length} bytes are neither grey nor RGB pixels of ${image.width}x${image.height}`);
  const colorType = channels === 1 ? 0 : 2;
  const png = new PNG({ width: image.width, height: image.height });
  png.data = Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength);
  return PNG.sync.write(png, { colorType, inputColorType: colorType, inputHasAlpha: false });
}
