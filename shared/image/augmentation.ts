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
// - translate factor f (keras.layers.RandomTranslation(f, f)): shifts uniform in [-f, f] of the
//   height and of the width, applied after the zoom (the study's model has none: factor 0).
// Each knob is a flag (--flip, --rotation, --zoom, --translate); the defaults are the study's.
// The draws come in a fixed order (flip, angle, zoom, then the shifts), so changing one knob never
// changes what the others draw.

import { deriveSeed, SeededRandom } from '../random.js';

/** The knobs, as Keras' factors (flip: the probability of a mirror image). */
export interface AugmentationSettings {
  flip: number;
  rotation: number;
  zoom: number;
  translate: number;
}

/** SPEC §1: RandomFlip("horizontal"), RandomRotation(0.2), RandomZoom(0.2), no translation. */
export const STUDY_AUGMENTATION: Readonly<AugmentationSettings> = { flip: 0.5, rotation: 0.2, zoom: 0.2, translate: 0 };

export const FLIP_PROBABILITY = STUDY_AUGMENTATION.flip;
/** Fraction of 2π: ±72°. */
export const ROTATION_FACTOR = STUDY_AUGMENTATION.rotation;
/** Zoom value uniform in [0.8, 1.2]. */
export const ZOOM_FACTOR = STUDY_AUGMENTATION.zoom;

/**
 * One sample's draw. `angle` in radians; `zoom` is Keras' zoom value (1 + height factor); `shiftX`
 * and `shiftY` are fractions of the width and height the content moves by (right, down).
 */
export interface Augmentation {
  flip: boolean;
  angle: number;
  zoom: number;
  shiftX?: number;
  shiftY?: number;
}

export const NO_AUGMENTATION: Readonly<Augmentation> = { flip: false, angle: 0, zoom: 1 };

/** The augmentation of sample `sampleId` in `epoch` of a run seeded `seed`. */
export function drawAugmentation(seed: number, epoch: number, sampleId: number, settings: Readonly<AugmentationSettings> = STUDY_AUGMENTATION): Augmentation {
  const random = new SeededRandom(deriveSeed(seed, 0xa06, epoch, sampleId));
  const flip = random.bernoulli(settings.flip);
  const angle = random.uniform(-settings.rotation, settings.rotation) * 2 * Math.PI;
  const zoom = 1 + random.uniform(-settings.zoom, settings.zoom);
  if (settings.translate === 0) return { flip, angle, zoom };
  const shiftY = random.uniform(-settings.translate, settings.translate);
  const shiftX = random.uniform(-settings.translate, settings.translate);
  return { flip, angle, zoom, shiftX, shiftY };
}
