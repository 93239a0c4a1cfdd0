// EXIF orientation (issue 10: "EXIF orientation is honoured"). Phones store a portrait photo as
// landscape pixels plus a tag that says how to turn them; a face detector given the stored pixels
// sees faces lying on their side. The tag is read with exifr; the turn is a pure pixel remap.
// (Training never turned images: tf.io.decode_image ignores EXIF too, and dataset faces carry no tag.)

import exifr from 'exifr';
import type { RgbImage } from '../../shared/image/decode.js';
import { describeError } from '../../shared/errors.js';

/** EXIF Orientation 1..8 (TIFF tag 0x0112): 1 is as stored. */
export type Orientation = 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8;

export interface OrientationReading {
  orientation: Orientation;
  /** Why the tag could not be read, when it could not (the photo is then used as stored). */
  warning?: string;
}

export async function readOrientation(bytes: Uint8Array): Promise<OrientationReading> {
  try {
    const value: unknown = await exifr.orientation(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    if (value === undefined || value === null) return { orientation: 1 };
    if (typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= 8) return { orientation: value as Orientation };
    return { orientation: 1, warning: `EXIF orientation ${JSON.stringify(value)} is not one of 1..8; the photo is used as stored` };
  } catch (cause) {
    return { orientation: 1, warning: `the EXIF block cannot be read (${describeError(cause)}); the photo is used as stored` };
  }
}

/** The photo as it is meant to be seen: `image` (as stored) turned and mirrored as `orientation` says. */
export function applyOrientation(image: RgbImage, orientation: Orientation): RgbImage {
  if (orientation === 1) return image;
  const { width: w, height: h, data } = image;
  const swaps = orientation >= 5;
  const width = swaps ? h : w;
  const height = swaps ? w : h;
  // Where displayed pixel (x, y) is stored, per the EXIF 2.3 definitions of the eight values.
  const stored: (x: number, y: number) => number = {
    2: (x: number, y: number) => y * w + (w - 1 - x),
    3: (x: number, y: number) => (h - 1 - y) * w + (w - 1 - x),
    4: (x: number, y: number) => (h - 1 - y) * w + x,
    5: (x: number, y: number) => x * w + y,
    6: (x: number, y: number) => (h - 1 - x) * w + y,
    7: (x: number, y: number) => (h - 1 - x) * w + (w - 1 - y),
    8: (x: number, y: number) => x * w + (w - 1 - y),
  }[orientation];
  const out = new Uint8Array(width * height * 3);
  let o = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const s = stored(x, y) * 3;
      out[o++] = data[s]!;
      out[o++] = data[s + 1]!;
      out[o++] = data[s + 2]!;
    }
  }
  return { width, height, data: out };
}
