// Everything about one picture apart from its expression's pixels: who is shown (skin, hair, eyes,
// the proportions of the face), how the head is posed, and how it was photographed (background,
// light, colour cast, sensor noise). These vary as nuisances the classifier has to learn to ignore.

import type { SeededRandom } from '../random.js';
import { mixPalette, randomColour, scaleRgb, towardsGrey, type Rgb } from './colour.js';
import type { Expression } from './expression.js';
import { clamp } from './geometry.js';
import { COLOUR_VARIETY, NUISANCE } from './learnability.js';

const SKIN_TONES: readonly Rgb[] = [
  [250, 222, 200],
  [236, 192, 160],
  [205, 150, 112],
  [150, 102, 72],
  [96, 64, 46],
];

const HAIR_COLOURS: readonly Rgb[] = [
  [28, 24, 22],
  [62, 42, 30],
  [112, 78, 50],
  [196, 160, 100],
  [150, 146, 140],
  [140, 64, 34],
];

const IRIS_COLOURS: readonly Rgb[] = [
  [70, 45, 30],
  [100, 70, 40],
  [70, 110, 140],
  [80, 110, 70],
  [40, 30, 25],
];

/** Everything about one picture: who, which expression, how it was photographed. */
export interface FacePlan {
  size: number;
  /** Head centre in pixels, rotation, and pixels per face unit (a face unit = half the head width). */
  centreX: number;
  centreY: number;
  cos: number;
  sin: number;
  pixelsPerUnit: number;
  /** Turn of the head: shifts the features sideways and compresses the far side. */
  yaw: number;
  headAspect: number;
  expression: Expression;
  skin: Rgb;
  lips: Rgb;
  hair: Rgb;
  brows: Rgb;
  iris: Rgb;
  clothes: Rgb;
  hairline: number;
  hairlineCurve: number;
  longHair: boolean;
  eyeSpacing: number;
  eyeY: number;
  eyeHalfWidth: number;
  eyeHalfHeight: number;
  gazeX: number;
  browY: number;
  browHalfThickness: number;
  noseLength: number;
  mouthY: number;
  mouthHalfWidth: number;
  lipThickness: number;
  glasses: boolean;
  backgroundA: Rgb;
  backgroundB: Rgb;
  backgroundColumns: Float32Array;
  backgroundRows: Float32Array;
  brightness: number;
  lightX: number;
  lightY: number;
  colourCast: Rgb;
  grayscale: boolean;
  noiseAmplitude: number;
}

/** Draws who, where and how for one image from its scene stream, given its expression. */
export function planFace(expression: Expression, random: SeededRandom, size: number): FacePlan {
  const angle = clamp(random.normal(0, 0.1 * NUISANCE), -0.3, 0.3);
  const baseSkin = mixPalette(SKIN_TONES, 0.4 + (random.next() - 0.4) * COLOUR_VARIETY);
  const skin: Rgb = [baseSkin[0] * (1 + expression.tintRed), baseSkin[1] * (1 + expression.tintGreen), baseSkin[2] * (1 + expression.tintBlue)];
  const hairChoice = random.int(HAIR_COLOURS.length);
  // Hair is the largest colour area after skin; below half colour variety everyone is dark brown.
  const hair = HAIR_COLOURS[COLOUR_VARIETY >= 0.5 ? hairChoice : 1]!;
  const backgroundA = towardsGrey(randomColour(random), 0.6 * COLOUR_VARIETY);
  const backgroundB = random.bernoulli(0.3) ? backgroundA : towardsGrey(randomColour(random), 0.6 * COLOUR_VARIETY);
  const eyeOpenness = Math.max(0.2, 1 + expression.eyeOpen + random.normal(0, 0.08));
  const grayscale = random.bernoulli(0.06 * COLOUR_VARIETY);
  return {
    size,
    centreX: size * (0.5 + random.uniform(-0.04, 0.04) * NUISANCE),
    centreY: size * (0.47 + random.uniform(-0.04, 0.04) * NUISANCE),
    cos: Math.cos(angle),
    sin: Math.sin(angle),
    pixelsPerUnit: size * random.uniform(0.44, 0.52),
    yaw: random.uniform(-0.5, 0.5) * NUISANCE,
    headAspect: random.uniform(1.15, 1.32),
    expression,
    skin,
    lips: [skin[0] * 0.82 + 20, skin[1] * 0.58, skin[2] * 0.6],
    hair,
    brows: scaleRgb(hair, random.uniform(0.55, 0.85)),
    iris: IRIS_COLOURS[random.int(IRIS_COLOURS.length)]!,
    clothes: randomColour(random),
    hairline: random.uniform(-0.95, -0.68),
    hairlineCurve: random.uniform(0.15, 0.55),
    longHair: random.bernoulli(0.4),
    eyeSpacing: random.uniform(0.33, 0.4),
    eyeY: random.uniform(-0.06, 0.02),
    eyeHalfWidth: random.uniform(0.16, 0.2),
    eyeHalfHeight: random.uniform(0.085, 0.105) * eyeOpenness,
    gazeX: random.uniform(-0.04, 0.04),
    browY: random.uniform(-0.3, -0.24),
    browHalfThickness: random.uniform(0.03, 0.05),
    noseLength: random.uniform(0.3, 0.4),
    mouthY: random.uniform(0.64, 0.72),
    mouthHalfWidth: Math.max(0.12, random.uniform(0.28, 0.34) + expression.mouthWidth),
    lipThickness: random.uniform(0.045, 0.07),
    glasses: random.bernoulli(0.08),
    backgroundA,
    backgroundB,
    backgroundColumns: randomWave(random, size),
    backgroundRows: randomWave(random, size),
    brightness: 1 + random.uniform(-0.2, 0.12) * NUISANCE,
    lightX: random.uniform(-0.25, 0.25) * NUISANCE,
    lightY: random.uniform(-0.2, 0.2) * NUISANCE,
    colourCast: [random.uniform(0.94, 1.06), random.uniform(0.96, 1.04), random.uniform(0.92, 1.08)],
    grayscale,
    noiseAmplitude: random.uniform(1.5, 6) * NUISANCE,
  };
}

/** A smooth random texture along one axis: two sinusoids of a few cycles per image. */
function randomWave(random: SeededRandom, size: number): Float32Array {
  const wave = new Float32Array(size);
  const amplitude = random.uniform(0, 0.35) * NUISANCE;
  const cycles = [random.uniform(0.3, 2.5), random.uniform(2, 6)];
  const phases = [random.uniform(0, 2 * Math.PI), random.uniform(0, 2 * Math.PI)];
  const mix = random.uniform(0, 0.4);
  for (let i = 0; i < size; i++) {
    const t = (i / size) * 2 * Math.PI;
    wave[i] = amplitude * ((1 - mix) * Math.sin(cycles[0]! * t + phases[0]!) + mix * Math.sin(cycles[1]! * t + phases[1]!));
  }
  return wave;
}
