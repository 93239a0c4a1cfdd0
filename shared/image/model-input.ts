// Encoded image bytes → the model's input floats, augmented for training: decode, then the fused
// warp of warp.ts. One function for every place that makes model inputs — the worker's thread
// pool, `emotrain dataset preview`, the data benchmark — so they cannot drift apart.

import type { Preprocessing } from '../config.js';
import { drawAugmentation, NO_AUGMENTATION, STUDY_AUGMENTATION, type AugmentationSettings } from './augmentation.js';
import { decodeImage } from './decode.js';
import { sourceMap, warpInto } from './warp.js';

export interface InputSpec {
  imageSize: number;
  preprocessing: Preprocessing;
  /** Run seed: with the epoch and sample id, it decides each augmentation. */
  seed: number;
  /** Train-time augmentation on (it applies only where an epoch is given). */
  augment: boolean;
  /** Its knobs (default: the study's). */
  augmentation?: AugmentationSettings;
}

export interface EncodedSample {
  id: number;
  bytes: Uint8Array;
  /** Names the sample in errors (its id and path). */
  where: string;
}

/** Floats per model input image. */
export function inputLength(imageSize: number): number {
  return imageSize * imageSize * 3;
}

/**
 * Writes the input of each sample, in order, into `output` from index 0. `epoch` is set for
 * training batches (augmented when the spec says so) and undefined for evaluation.
 */
export function writeModelInputs(samples: readonly EncodedSample[], epoch: number | undefined, spec: InputSpec, output: Float32Array): void {
  const length = inputLength(spec.imageSize);
  samples.forEach((sample, i) => {
    const image = decodeImage(sample.bytes, sample.where);
    const augmentation = epoch !== undefined && spec.augment ? drawAugmentation(spec.seed, epoch, sample.id, spec.augmentation ?? STUDY_AUGMENTATION) : NO_AUGMENTATION;
    warpInto(image, spec.imageSize, sourceMap(augmentation, image.width, image.height, spec.imageSize), spec.preprocessing, output, i * length);
  });
}
