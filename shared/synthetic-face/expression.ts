// What a face expresses: the parameters a class moves (FACS action units and facial colour), the
// prototype of each class, and how one image's expression is drawn from its class's prototype.
//
// The expression lives where it lives on real faces — mouth curve and opening, brow height and
// angle, eye openness, the wrinkles of each action unit, facial colour. Each image shows its
// class's prototype at a random intensity plus per-person variation, so the geometric cues overlap
// the way real ones do: weak sadness looks neutral, fear and surprise both open the eyes and the
// mouth, anger and disgust both lower the brows.

import type { SeededRandom } from '../random.js';
import { clamp } from './geometry.js';
import { COLOUR_CUE_GAIN, SHAPE_CUE_GAIN } from './learnability.js';

/** How far a face departs from a relaxed one; a class is a prototype of these. */
export interface Expression {
  /** Lift of the mouth corners above the mouth centre (face units; negative = frown). */
  mouthSmile: number;
  /** Gap between the lips at the centre (face units). */
  mouthOpen: number;
  /** Change of the mouth half-width (stretched for fear and joy, rounded for surprise). */
  mouthWidth: number;
  /** One corner up, the other down: the one-sided upper-lip raise of disgust. */
  mouthSkew: number;
  /** How far down the opening the upper teeth show (0..1). */
  teeth: number;
  /** Brows up (positive) or drawn down. */
  browRaise: number;
  /** Inner brow ends up (positive: worry, sadness, fear) or down (anger). */
  browTilt: number;
  /** Extra arch at the middle of the brow (surprise). */
  browArch: number;
  /** Change of eye opening as a fraction of a relaxed eye (negative = squint). */
  eyeOpen: number;
  /** Wrinkles across the nose bridge (0..1). */
  noseWrinkle: number;
  /** Lines from the nose wings to the mouth corners (0..1). */
  smileLines: number;
  /** Raised, flushed cheeks (0..1). */
  cheekRaise: number;
  /** Horizontal forehead lines from raised brows, AU1+2 (0..1). */
  foreheadLines: number;
  /** Vertical lines between drawn-together brows, AU4 (0..1). */
  frownLines: number;
  /** Lines fanning from the outer eye corners when the cheeks rise, AU6 (0..1). */
  crowsFeet: number;
  /** Puckered chin and deepened crease under the lip, AU17 (0..1). */
  chinRaise: number;
  /** Change of the skin's red, green and blue (fractions): expressions change facial blood flow. */
  tintRed: number;
  tintGreen: number;
  tintBlue: number;
}

const RELAXED: Expression = {
  mouthSmile: 0,
  mouthOpen: 0,
  mouthWidth: 0,
  mouthSkew: 0,
  teeth: 0,
  browRaise: 0,
  browTilt: 0,
  browArch: 0,
  eyeOpen: 0,
  noseWrinkle: 0,
  smileLines: 0,
  cheekRaise: 0,
  foreheadLines: 0,
  frownLines: 0,
  crowsFeet: 0,
  chinRaise: 0,
  tintRed: 0,
  tintGreen: 0,
  tintBlue: 0,
};

// Prototypes in EMOTION_CLASSES order, from the FACS action units of each basic emotion. Facial
// colour does carry emotion (Benitez-Quiroz, Srinivasan and Martinez, "Facial color is an efficient
// mechanism to visually transmit emotion", PNAS 2018); here it is stylised as one hue per class,
// luminance-preserving so that it does not collide with skin lightness: red, green, magenta,
// yellow, none, blue, cyan.
const PROTOTYPES: readonly Expression[] = [
  // angry: brows down and together (AU4), lids tightened (AU7), lips pressed (AU24), chin up (AU17)
  {
    ...RELAXED,
    mouthSmile: -0.03, mouthWidth: -0.06, browRaise: -0.08, browTilt: -0.12, eyeOpen: -0.2, noseWrinkle: 0.25,
    frownLines: 1, chinRaise: 0.6, tintRed: 0.082, tintGreen: -0.041, tintBlue: -0.041,
  },
  // disgust: nose wrinkled (AU9), upper lip raised on one side (AU10), squint, brows lowered a little
  {
    ...RELAXED,
    mouthSmile: -0.05, mouthOpen: 0.02, mouthSkew: 0.06, teeth: 0.6, browRaise: -0.05, browTilt: -0.04, eyeOpen: -0.35,
    noseWrinkle: 1, smileLines: 0.5, frownLines: 0.4, tintRed: -0.041, tintGreen: 0.082, tintBlue: -0.041,
  },
  // fear: brows raised and pulled together (AU1+2+4), eyes wide (AU5), lips stretched (AU20)
  {
    ...RELAXED,
    mouthSmile: -0.05, mouthOpen: 0.07, mouthWidth: 0.06, teeth: 0.5, browRaise: 0.08, browTilt: 0.08, eyeOpen: 0.35,
    foreheadLines: 0.8, frownLines: 0.3, tintRed: 0.041, tintGreen: -0.082, tintBlue: 0.041,
  },
  // happy: corners pulled up (AU12), cheeks raised narrowing the eyes (AU6)
  {
    ...RELAXED,
    mouthSmile: 0.13, mouthOpen: 0.05, mouthWidth: 0.08, teeth: 1, browRaise: 0.01, eyeOpen: -0.25, smileLines: 0.8,
    cheekRaise: 0.8, crowsFeet: 1, tintRed: 0.041, tintGreen: 0.041, tintBlue: -0.082,
  },
  // neutral
  RELAXED,
  // sad: inner brows up (AU1), corners down (AU15), chin raised (AU17), lids heavy
  {
    ...RELAXED,
    mouthSmile: -0.1, mouthWidth: -0.02, browRaise: 0.02, browTilt: 0.1, eyeOpen: -0.2, foreheadLines: 0.3,
    chinRaise: 0.8, tintRed: -0.041, tintGreen: -0.041, tintBlue: 0.082,
  },
  // surprise: brows high and arched (AU1+2), eyes wide (AU5), jaw dropped (AU26)
  {
    ...RELAXED,
    mouthOpen: 0.14, mouthWidth: -0.1, teeth: 0.2, browRaise: 0.14, browTilt: 0.02, browArch: 0.04, eyeOpen: 0.45,
    foreheadLines: 1, tintRed: -0.082, tintGreen: 0.041, tintBlue: 0.041,
  },
];

const EXPRESSION_KEYS = Object.keys(RELAXED) as (keyof Expression)[];
const COLOUR_CUES = new Set<keyof Expression>(['tintRed', 'tintGreen', 'tintBlue']);
const WRINKLE_CUES = new Set<keyof Expression>(['noseWrinkle', 'smileLines', 'foreheadLines', 'frownLines', 'crowsFeet', 'chinRaise']);

/** Spread of each expression parameter between people showing the same expression. */
const PERSONAL_SPREAD: Expression = {
  mouthSmile: 0.025,
  mouthOpen: 0.012,
  mouthWidth: 0.025,
  mouthSkew: 0.01,
  teeth: 0.15,
  browRaise: 0.03,
  browTilt: 0.03,
  browArch: 0.015,
  eyeOpen: 0.1,
  noseWrinkle: 0.1,
  smileLines: 0.1,
  cheekRaise: 0.1,
  foreheadLines: 0.1,
  frownLines: 0.1,
  crowsFeet: 0.1,
  chinRaise: 0.1,
  tintRed: 0.015,
  tintGreen: 0.015,
  tintBlue: 0.015,
};

/** How strongly an expression is shown, as a fraction of its prototype: subtle ones overlap neutral. */
const INTENSITY_RANGE = [0.3, 1.2] as const;

function cueGain(key: keyof Expression): number {
  if (COLOUR_CUES.has(key)) return COLOUR_CUE_GAIN;
  return WRINKLE_CUES.has(key) ? 1 : SHAPE_CUE_GAIN;
}

/** One image's expression: its class's prototype at a random intensity, plus per-person spread. */
export function sampleExpression(classIndex: number, random: SeededRandom): Expression {
  const prototype = PROTOTYPES[classIndex]!;
  const intensity = random.uniform(INTENSITY_RANGE[0], INTENSITY_RANGE[1]);
  const expression = { ...RELAXED };
  for (const key of EXPRESSION_KEYS) {
    expression[key] = prototype[key] * intensity * cueGain(key) + random.normal(0, PERSONAL_SPREAD[key]);
  }
  // An open smile or a closed one; skew goes either way; some anger shows clenched teeth.
  if (classIndex === 3 && random.bernoulli(0.5)) expression.mouthOpen = random.normal(0, 0.01);
  if (classIndex === 0 && random.bernoulli(0.25)) {
    expression.mouthOpen = 0.03 * intensity;
    expression.teeth = 1;
  }
  if (random.bernoulli(0.5)) expression.mouthSkew = -expression.mouthSkew;
  expression.mouthOpen = Math.max(0, expression.mouthOpen);
  expression.teeth = clamp(expression.teeth, 0, 1);
  expression.noseWrinkle = clamp(expression.noseWrinkle, 0, 1);
  expression.smileLines = clamp(expression.smileLines, 0, 1);
  expression.cheekRaise = clamp(expression.cheekRaise, 0, 1);
  expression.foreheadLines = clamp(expression.foreheadLines, 0, 1);
  expression.frownLines = clamp(expression.frownLines, 0, 1);
  expression.crowsFeet = clamp(expression.crowsFeet, 0, 1);
  expression.chinRaise = clamp(expression.chinRaise, 0, 1);
  return expression;
}
