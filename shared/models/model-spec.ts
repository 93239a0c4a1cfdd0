// What a model is built from (SPEC §1): which backbone, the input size, the init seed, what to
// freeze, which ending (head) and the regularisation. Validated before any layer exists, so a bad flag fails
// with a message naming it instead of a tfjs shape error deep in a build.
import { ModelError } from '../errors.js';
import type { FreezeSpec } from './freeze.js';
import { HEAD_NAMES, type HeadName, isHeadName } from './head.js';
import { MINI_XCEPTION_MIN_IMAGE_SIZE } from './mini-xception.js';

export const MODEL_NAMES = ['small-cnn', 'resnet50', 'mini-xception'] as const;

export type ModelName = (typeof MODEL_NAMES)[number];

export interface ModelSpec {
  name: ModelName;
  /** Square input side in pixels; images are [imageSize, imageSize, 3]. */
  imageSize: number;
  /** Run seed; every initializer seed is derived from it. */
  seed: number;
  freeze: FreezeSpec;
  /** The ending: the study's head, or mini-xception's own (head.ts). */
  head: HeadName;
  /** Dropout rate of the study head; 0 leaves the dropout layer out (the paper head has none). */
  dropout: number;
  /** L2 factor on the study head's Dense 128 kernel and mini-xception's base convolutions; 0: none. */
  l2: number;
}

/** The reference study's head settings (SPEC §1). */
export const DEFAULT_DROPOUT = 0.5;
export const DEFAULT_L2 = 0.01;

// Keras refuses ResNet50 inputs below 32x32 with include_top=False (imagenet_utils.obtain_input_shape);
// the small CNN's 'same' convolutions accept any size.
const MIN_IMAGE_SIZE: Record<ModelName, number> = { 'small-cnn': 1, resnet50: 32, 'mini-xception': MINI_XCEPTION_MIN_IMAGE_SIZE };

/** The paper ending belongs to mini-xception; nobody measured it on the other backbones. */
const PAPER_HEAD_MODELS: readonly ModelName[] = ['mini-xception'];

export function isModelName(text: string): text is ModelName {
  return (MODEL_NAMES as readonly string[]).includes(text);
}

export function validateModelSpec(spec: ModelSpec): void {
  if (!isModelName(spec.name)) {
    throw new ModelError('MODEL_INVALID', `--model ${String(spec.name)} is unknown: expected one of ${MODEL_NAMES.join(', ')}`);
  }
  const minSize = MIN_IMAGE_SIZE[spec.name];
  if (!Number.isInteger(spec.imageSize) || spec.imageSize < minSize) {
    throw new ModelError(
      'MODEL_INVALID',
      `--image-size ${spec.imageSize} is invalid for ${spec.name}: expected an integer >= ${minSize}`,
    );
  }
  if (!Number.isInteger(spec.seed) || spec.seed < 0 || spec.seed > 0xffffffff) {
    throw new ModelError('MODEL_INVALID', `--seed ${spec.seed} is invalid: expected an integer in 0..4294967295`);
  }
  if (!isHeadName(spec.head)) {
    throw new ModelError('MODEL_INVALID', `--head ${String(spec.head)} is unknown: expected one of ${HEAD_NAMES.join(', ')}`);
  }
  if (spec.head === 'paper' && !PAPER_HEAD_MODELS.includes(spec.name)) {
    throw new ModelError(
      'MODEL_INVALID',
      `--head paper is mini-xception's ending (Arriaga et al. 2017) and is not built on ${spec.name}: use --head study`,
    );
  }
  if (spec.head === 'paper' && spec.dropout !== 0) {
    throw new ModelError('MODEL_INVALID', `dropout ${spec.dropout} cannot apply to --head paper, which has no dropout layer: leave --dropout out or use --head study`);
  }
  if (!(spec.dropout >= 0 && spec.dropout < 1)) {
    throw new ModelError('MODEL_INVALID', `dropout ${spec.dropout} is invalid: expected a rate in [0, 1)`);
  }
  if (!(spec.l2 >= 0 && Number.isFinite(spec.l2))) {
    throw new ModelError('MODEL_INVALID', `l2 ${spec.l2} is invalid: expected a finite factor >= 0`);
  }
}
