// Train-time augmentation with Keras semantics (SPEC §1: RandomFlip("horizontal"),
// RandomRotation(0.2), RandomZoom(0.2), their default fill_mode "reflect" and bilinear
// interpolation), drawn from (run seed, epoch, sample id) so that a sample looks the same in an
// epoch on any worker, in any thread, and after a resume.
//
// What the factors mean (keras.layers.RandomRotation / RandomZoom):
// - rotation factor 0.2 is a fraction of a full turn: the angle is uniform in
//   [-0.2 · 2π, +0.2 · 2π] = ±72°, about the image centre;
// - zoom factor 0.2 draws the height zoom uniform in [1 - 0.2, 1 + 0.2]; width_factor=None keeps
//   the aspect ratio (width zoom = height zoom). The zoom value z is how much of the input one
//   output pixel spans: z = 1.2 shows 120% of the image (zoomed out, the face 1/1.2 = 0.83 times
//   its size, the border filled by reflection), z = 0.8 shows the central 80% (zoomed in, 1.25
//   times the size). Positive factors zoom out, as Keras says.
// - flip: a mirror image left-right with probability 0.5.

import { deriveSeed, SeededRandom } from '../random.js';

export const FLIP_PROBABILITY = 0.5;
/** Fraction of 2π: ±72°. */
export const ROTATION_FACTOR = 0.2;
/** Zoom value uniform in [0.8, 1.2]. */
export const ZOOM_FACTOR = 0.2;

/** One sample's draw. `angle` in radians; `zoom` is Keras' zoom value (1 + height factor). */
export interface Augmentation {
  flip: boolean;
  angle: number;
  zoom: number;
}

export const NO_AUGMENTATION: Readonly<Augmentation> = { flip: false, angle: 0, zoom: 1 };

/** The augmentation of sample `sampleId` in `epoch` of a run seeded `seed`. */
export function drawAugmentation(seed: number, epoch: number, sampleId: number): Augmentation {
  const random = new SeededRandom(deriveSeed(seed, 0xa06, epoch, sampleId));
  const flip = random.bernoulli(FLIP_PROBABILITY);
  const angle = random.uniform(-ROTATION_FACTOR, ROTATION_FACTOR) * 2 * Math.PI;
  const zoom = 1 + random.uniform(-ZOOM_FACTOR, ZOOM_FACTOR);
  return { flip, angle, zoom };
}
