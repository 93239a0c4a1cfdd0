// Procedural face drawings for the `synthetic` dataset (SPEC §5): a learnable stand-in for RAF-DB
// when no real data is at hand. Pure: a (class, seed, size) triple always gives the same pixels.
//
// The expression lives where it lives on real faces (expression.ts), and everything else (pose,
// scale, skin, hair, light, background, sensor noise; face-plan.ts) varies as a nuisance the
// classifier has to learn to ignore. The colour cue is stylised for learnability
// (learnability.ts). The painters draw through one primitive, FaceCanvas.paint (canvas.ts), in the
// order below, back to front; develop.ts turns the result into bytes.

import { NUM_CLASSES } from '../classes.js';
import { ConfigError, DatasetError } from '../errors.js';
import { deriveSeed, SeededRandom } from '../random.js';
import { FaceCanvas } from './canvas.js';
import { develop } from './develop.js';
import { sampleExpression } from './expression.js';
import { planFace } from './face-plan.js';
import { paintBrows, paintEyes, paintGlasses, paintMouth, paintNose } from './paint-features.js';
import { paintBackground, paintEars, paintHairCap, paintHead, paintLongHair, paintNeckAndShoulders } from './paint-head.js';
import { paintCheeks, paintChin, paintCrowsFeet, paintForeheadLines, paintFrownLines, paintSmileLines } from './paint-wrinkles.js';

/** Bumped whenever a change alters the pixels drawn for a (class, seed, size): caches key on it. */
export const SYNTHETIC_FACE_VERSION = 2;

const SCENE_STREAM = 1;
const EXPRESSION_STREAM = 2;
const NOISE_STREAM = 3;

/**
 * Draws one face of class `classIndex` (EMOTION_CLASSES order) as RGB bytes, row-major,
 * `size * size * 3` long. Deterministic in (classIndex, seed, size).
 */
export function drawSyntheticFace(classIndex: number, seed: number, size = 100): Uint8Array {
  if (!Number.isInteger(classIndex) || classIndex < 0 || classIndex >= NUM_CLASSES) {
    throw new DatasetError('DATASET_BAD_SAMPLE', `synthetic face class index ${classIndex} is out of range: expected an integer 0..${NUM_CLASSES - 1}`);
  }
  if (!Number.isInteger(size) || size < 16 || size > 2048) {
    throw new ConfigError('CONFIG_INVALID', `synthetic face size ${size} is invalid: expected an integer 16..2048`);
  }
  // Separate streams for who and where, for the expression, and for sensor noise: the same seed
  // shows the same person in the same scene whatever the class, so classes differ only in the face.
  const expression = sampleExpression(classIndex, new SeededRandom(deriveSeed(seed, EXPRESSION_STREAM)));
  const plan = planFace(expression, new SeededRandom(deriveSeed(seed, SCENE_STREAM)), size);
  const canvas = new FaceCanvas(plan);
  paintBackground(canvas, plan);
  if (plan.longHair) paintLongHair(canvas, plan);
  paintNeckAndShoulders(canvas, plan);
  paintEars(canvas, plan);
  paintHead(canvas, plan);
  paintForeheadLines(canvas, plan);
  paintHairCap(canvas, plan);
  paintFrownLines(canvas, plan);
  paintCrowsFeet(canvas, plan);
  paintChin(canvas, plan);
  paintCheeks(canvas, plan);
  paintSmileLines(canvas, plan);
  paintNose(canvas, plan);
  paintBrows(canvas, plan);
  paintEyes(canvas, plan);
  paintMouth(canvas, plan);
  if (plan.glasses) paintGlasses(canvas, plan);
  return develop(canvas, plan, new SeededRandom(deriveSeed(seed, NOISE_STREAM)));
}
