// Issue 10, point 2: "EXIF orientation is honoured". A phone's portrait photo is stored sideways
// with an Orientation tag; the app turns the pixels as the tag says before looking for faces. The
// JPEGs here get their EXIF block (a TIFF IFD with the one tag 0x0112) written by the test helper.

import { describe, expect, it } from 'vitest';
import type { RgbImage } from '../shared/image/decode.js';
import { encodeJpeg } from '../shared/image/jpeg-encode.js';
import { applyOrientation, readOrientation, type Orientation } from '../app/image/orientation.js';
import { readPhoto } from '../app/image/photo.js';
import { withOrientation } from './helpers/photos.js';

function image(width: number, height: number, pixel: (x: number, y: number) => [number, number, number]): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data.set(pixel(x, y), (y * width + x) * 3);
  return { width, height, data };
}

const at = (img: RgbImage, x: number, y: number) => Array.from(img.data.subarray((y * img.width + x) * 3, (y * img.width + x) * 3 + 3));
const mirrorX = (img: RgbImage) => image(img.width, img.height, (x, y) => at(img, img.width - 1 - x, y) as [number, number, number]);
const transpose = (img: RgbImage) => image(img.height, img.width, (x, y) => at(img, y, x) as [number, number, number]);
const rotate180 = (img: RgbImage) => mirrorX(image(img.width, img.height, (x, y) => at(img, x, img.height - 1 - y) as [number, number, number]));

describe('EXIF orientation', () => {
  // Every pixel its own colour, so any misplaced pixel shows.
  const stored = image(3, 2, (x, y) => [x * 80, y * 120, 7]);

  it('turns and mirrors pixels as each of the eight values says', () => {
    const expected: Record<Orientation, RgbImage> = {
      1: stored,
      2: mirrorX(stored),
      3: rotate180(stored),
      4: image(3, 2, (x, y) => at(stored, x, 1 - y) as [number, number, number]),
      5: transpose(stored),
      6: mirrorX(transpose(stored)), // 90° clockwise
      7: rotate180(transpose(stored)),
      8: transpose(mirrorX(stored)), // 90° counter-clockwise
    };
    for (const orientation of [1, 2, 3, 4, 5, 6, 7, 8] as const) {
      const turned = applyOrientation(stored, orientation);
      expect({ orientation, width: turned.width, height: turned.height, data: Array.from(turned.data) }).toEqual({
        orientation,
        width: expected[orientation].width,
        height: expected[orientation].height,
        data: Array.from(expected[orientation].data),
      });
    }
  });

  it('reads the tag of a JPEG, and 1 where there is none', async () => {
    const jpeg = encodeJpeg(stored.data, 3, 2);
    expect(await readOrientation(jpeg)).toEqual({ orientation: 1 });
    for (const value of [3, 6, 8]) expect(await readOrientation(withOrientation(jpeg, value))).toEqual({ orientation: value });
  });

  it('gives a sideways-stored photo upright: left half red, right half blue, tagged 6, comes out red on top', async () => {
    const sideways = image(32, 16, (x) => (x < 16 ? [220, 20, 20] : [20, 20, 220]));
    const photo = await readPhoto(withOrientation(encodeJpeg(sideways.data, 32, 16, 95), 6), 'portrait.jpg', { maxPixels: 1e6 });
    expect(photo.orientation).toBe(6);
    expect([photo.image.width, photo.image.height]).toEqual([16, 32]);
    const [r1, , b1] = at(photo.image, 8, 4);
    const [r2, , b2] = at(photo.image, 8, 28);
    expect(r1! > 150 && b1! < 90).toBe(true);
    expect(b2! > 150 && r2! < 90).toBe(true);
  });

  it('warns, and uses the photo as stored, when the tag holds a value EXIF does not define', async () => {
    const photo = await readPhoto(withOrientation(encodeJpeg(stored.data, 3, 2), 9), 'odd.jpg', { maxPixels: 1e6 });
    expect(photo.orientation).toBe(1);
    expect(photo.warnings).toEqual([expect.stringMatching(/^odd\.jpg: EXIF orientation 9 is not one of 1\.\.8; the photo is used as stored$/)]);
  });
});
