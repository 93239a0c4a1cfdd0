// Colours of the synthetic faces: RGB triples in 0..255 floats, and the few ways they are derived
// from one another (shading, palettes, muted random colours).

import type { SeededRandom } from '../random.js';

export type Rgb = readonly [number, number, number];

export function towardsGrey(c: Rgb, k: number): Rgb {
  return [128 + (c[0] - 128) * k, 128 + (c[1] - 128) * k, 128 + (c[2] - 128) * k];
}

export function randomColour(random: SeededRandom): Rgb {
  return [random.uniform(20, 240), random.uniform(20, 240), random.uniform(20, 240)];
}

export function mixPalette(palette: readonly Rgb[], t: number): Rgb {
  const position = t * (palette.length - 1);
  const index = Math.min(palette.length - 2, Math.floor(position));
  const f = position - index;
  const a = palette[index]!;
  const b = palette[index + 1]!;
  return [a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f, a[2] + (b[2] - a[2]) * f];
}

export function scaleRgb(colour: Rgb, factor: number): Rgb {
  return [colour[0] * factor, colour[1] * factor, colour[2] * factor];
}
