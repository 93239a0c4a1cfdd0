// Photos for the app's tests: the committed astronaut portrait (test/fixtures/README.md says where
// it comes from), and photos made in the test from its pixels.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { PNG } from 'pngjs';
import type { RgbImage } from '../../shared/image/decode.js';
import { ROOT } from './processes.js';

export const ASTRONAUT = path.join(ROOT, 'test', 'fixtures', 'astronaut.png');

/** Between Eileen Collins' eyes and mouth in astronaut.png (512 x 512). */
export const ASTRONAUT_FACE_CENTRE = { x: 225, y: 115 };

export function astronautPixels(): RgbImage {
  const png = PNG.sync.read(readFileSync(ASTRONAUT));
  const data = new Uint8Array(png.width * png.height * 3);
  for (let p = 0; p < png.width * png.height; p++) data.set(png.data.subarray(p * 4, p * 4 + 3), p * 3);
  return { width: png.width, height: png.height, data };
}
