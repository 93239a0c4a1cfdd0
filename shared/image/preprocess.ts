// Turning RGB bytes into the model's input without augmentation (evaluation, prediction): a
// bilinear resize with TF2's half-pixel centres (tf.image.resize, what Keras' Resizing layer
// does) and the backbone's preprocessing, written straight into a batch buffer. It is the warp of
// warp.ts with the identity augmentation (or only a mirror), so training and evaluation see
// images through exactly the same arithmetic.

import type { Preprocessing } from '../config.js';
import { NO_AUGMENTATION } from './augmentation.js';
import type { RgbImage } from './decode.js';
import { sourceMap, warpInto, type SourceRegion } from './warp.js';

export interface Placement {
  /** Mirror horizontally while sampling. */
  flip: boolean;
  /** Only this rectangle of the image (a detected face), resized as if it were the whole image. */
  region?: SourceRegion;
}

/** Resizes `image` to size x size into `target` at `offset` (NHWC floats), preprocessed. */
export function resizeInto(
  image: RgbImage,
  size: number,
  preprocessing: Preprocessing,
  target: Float32Array,
  offset: number,
  placement: Placement = { flip: false },
): void {
  const map = sourceMap({ ...NO_AUGMENTATION, flip: placement.flip }, image.width, image.height, size, placement.region);
  warpInto(image, size, map, preprocessing, target, offset);
}
