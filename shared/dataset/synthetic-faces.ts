// Procedural face drawings for the `synthetic` dataset (SPEC §5): a learnable stand-in for RAF-DB
// when no real data is at hand. Pure: a (class, seed, size) triple always gives the same pixels.
//
// The expression lives where it lives on real faces — mouth curve and opening, brow height and
// angle, eye openness, the wrinkles of each FACS action unit, facial colour — and everything else
// (pose, scale, skin, hair, light, background, sensor noise) varies as a nuisance the classifier
// has to learn to ignore. Each image shows its class's prototype at a random intensity plus
// per-person variation, so the geometric cues overlap the way real ones do: weak sadness looks
// neutral, fear and surprise both open the eyes and the mouth, anger and disgust both lower the
// brows. The colour cue is stylised for learnability; see "Learnability" below.
//
// Shapes are shaded from signed distances (coverage = distance to the edge in pixels, clamped),
// which anti-aliases them without supersampling and keeps a 100x100 face well under a millisecond.

import { ConfigError, DatasetError } from '../errors.js';
import { NUM_CLASSES } from '../classes.js';
import { deriveSeed, SeededRandom } from '../random.js';

/** Bumped whenever a change alters the pixels drawn for a (class, seed, size): caches key on it. */
export const SYNTHETIC_FACE_VERSION = 2;

type Rgb = readonly [number, number, number];

/** How far a face departs from a relaxed one; a class is a prototype of these. */
interface Expression {
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

// Learnability. The demo recipe (the small CNN trained from scratch at 64x64, batch 128, Adam 1e-3,
// 4000 images: 25 steps an epoch) learns within a few epochs only cues that move whole-image colour
// statistics; on the realistic variant (all four factors 1) it stayed at the majority class (0.388)
// for 20 epochs. With these values it passed 0.80 val accuracy by epoch 4 and reached 0.875-0.93
// by epoch 5 (three seeds), epoch 1 staying below 0.5. Bump SYNTHETIC_FACE_VERSION with any change.
/** Scales the geometric cues (mouth, brows, eyes) relative to their FACS prototypes. */
const SHAPE_CUE_GAIN = 1.5;
/** Scales the facial colour cue: 1 is a plausible flush or pallor, 3 and up a colour code. */
const COLOUR_CUE_GAIN = 3.5;
/** Scales pose, lighting, background-texture and sensor-noise variation (1 = full ranges). */
const NUISANCE = 0.5;
/** Scales skin-tone and background-colour variety (1 = full palettes; hair varies from 0.5). */
const COLOUR_VARIETY = 0.3;

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
interface FacePlan {
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

const SCENE_STREAM = 1;
const EXPRESSION_STREAM = 2;
const NOISE_STREAM = 3;

function planFace(expression: Expression, random: SeededRandom, size: number): FacePlan {
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

function cueGain(key: keyof Expression): number {
  if (COLOUR_CUES.has(key)) return COLOUR_CUE_GAIN;
  return WRINKLE_CUES.has(key) ? 1 : SHAPE_CUE_GAIN;
}

function sampleExpression(classIndex: number, random: SeededRandom): Expression {
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

/**
 * A float RGB image plus, per pixel, its position in the head's frame (rotated, scaled, centred
 * on the head) and in the features' frame (the head frame bent by yaw), so that each shape is a
 * function of face coordinates and pose comes for free.
 */
class FaceCanvas {
  readonly size: number;
  readonly rgb: Float32Array;
  readonly headX: Float32Array;
  readonly headY: Float32Array;
  readonly featureX: Float32Array;
  readonly featureY: Float32Array;
  /** Squared elliptical radius in the head outline: 0 at the centre, 1 on the outline. */
  readonly headRadius2: Float32Array;
  /** 1 where the opaque middle of the head hides whatever lies behind it, which is then not drawn. */
  readonly hiddenByHead: Uint8Array;
  /** Converts a distance in face units into pixels, for edge coverage. */
  readonly pixelsPerUnit: number;
  private readonly plan: FacePlan;

  constructor(plan: FacePlan) {
    const { size, cos, sin, pixelsPerUnit, yaw } = plan;
    this.plan = plan;
    this.size = size;
    this.pixelsPerUnit = pixelsPerUnit;
    const buffers = scratchBuffers(size);
    this.rgb = buffers.rgb;
    this.headX = buffers.headX;
    this.headY = buffers.headY;
    this.featureX = buffers.featureX;
    this.featureY = buffers.featureY;
    this.headRadius2 = buffers.headRadius2;
    this.hiddenByHead = buffers.hiddenByHead;
    const inverseScale = 1 / pixelsPerUnit;
    for (let py = 0; py < size; py++) {
      const dy = py + 0.5 - plan.centreY;
      for (let px = 0; px < size; px++) {
        const dx = px + 0.5 - plan.centreX;
        const hx = (cos * dx + sin * dy) * inverseScale;
        const hy = (-sin * dx + cos * dy) * inverseScale;
        const i = py * size + px;
        this.headX[i] = hx;
        this.headY[i] = hy;
        this.featureX[i] = (hx - 0.14 * yaw) * (1 + 0.2 * yaw * hx);
        this.featureY[i] = hy;
        const headRadius2 = headRadiusSquared(plan, hx, hy);
        this.headRadius2[i] = headRadius2;
        this.hiddenByHead[i] = headRadius2 < 0.8 ? 1 : 0;
      }
    }
  }

  /** The pixel rectangle [x0, x1) x [y0, y1) covering a face-unit box, with slack for the yaw bend. */
  box(centreX: number, centreY: number, halfWidth: number, halfHeight: number): [number, number, number, number] {
    const { cos, sin, pixelsPerUnit, centreX: cx, centreY: cy, yaw } = this.plan;
    // The yaw bend moves a feature point by at most this much (shift plus far-side compression).
    const slack = Math.abs(yaw) * (0.14 + 0.3 * (Math.abs(centreX) + halfWidth)) + 2 / pixelsPerUnit;
    const hw = halfWidth + slack;
    const hh = halfHeight + slack;
    let x0 = Infinity;
    let x1 = -Infinity;
    let y0 = Infinity;
    let y1 = -Infinity;
    for (const [ux, uy] of [[-hw, -hh], [hw, -hh], [-hw, hh], [hw, hh]] as const) {
      const fx = centreX + ux;
      const fy = centreY + uy;
      const px = cx + (cos * fx - sin * fy) * pixelsPerUnit;
      const py = cy + (sin * fx + cos * fy) * pixelsPerUnit;
      x0 = Math.min(x0, px);
      x1 = Math.max(x1, px);
      y0 = Math.min(y0, py);
      y1 = Math.max(y1, py);
    }
    const s = this.size;
    return [clampInt(Math.floor(x0), 0, s), clampInt(Math.ceil(x1), 0, s), clampInt(Math.floor(y0), 0, s), clampInt(Math.ceil(y1), 0, s)];
  }

  /** Coverage of a shape at a pixel whose centre is `distance` face units outside its edge. */
  coverage(distance: number): number {
    const c = 0.5 - distance * this.pixelsPerUnit;
    return c <= 0 ? 0 : c >= 1 ? 1 : c;
  }

  blend(pixel: number, colour: Rgb, alpha: number): void {
    if (alpha <= 0) return;
    const o = pixel * 3;
    const rgb = this.rgb;
    if (alpha >= 1) {
      // Exact replacement, so an opaque layer erases the reused buffer's earlier contents bit for bit.
      rgb[o] = colour[0];
      rgb[o + 1] = colour[1];
      rgb[o + 2] = colour[2];
      return;
    }
    rgb[o] = rgb[o]! + (colour[0] - rgb[o]!) * alpha;
    rgb[o + 1] = rgb[o + 1]! + (colour[1] - rgb[o + 1]!) * alpha;
    rgb[o + 2] = rgb[o + 2]! + (colour[2] - rgb[o + 2]!) * alpha;
  }

  /** Multiplies a pixel's colour by `factor` (shading) with weight `alpha`. */
  shade(pixel: number, factor: number, alpha: number): void {
    if (alpha <= 0) return;
    const o = pixel * 3;
    const k = 1 + (factor - 1) * alpha;
    const rgb = this.rgb;
    rgb[o] = rgb[o]! * k;
    rgb[o + 1] = rgb[o + 1]! * k;
    rgb[o + 2] = rgb[o + 2]! * k;
  }
}

interface ScratchBuffers {
  size: number;
  rgb: Float32Array;
  headX: Float32Array;
  headY: Float32Array;
  featureX: Float32Array;
  featureY: Float32Array;
  headRadius2: Float32Array;
  hiddenByHead: Uint8Array;
}

let scratch: ScratchBuffers | undefined;

/**
 * Working buffers reused from one face to the next: allocating them per face cost more than
 * drawing it. Every pixel of each is overwritten before it is read, so reuse cannot leak state.
 */
function scratchBuffers(size: number): ScratchBuffers {
  if (scratch?.size !== size) {
    const pixels = size * size;
    scratch = {
      size,
      rgb: new Float32Array(pixels * 3),
      headX: new Float32Array(pixels),
      headY: new Float32Array(pixels),
      featureX: new Float32Array(pixels),
      featureY: new Float32Array(pixels),
      headRadius2: new Float32Array(pixels),
      hiddenByHead: new Uint8Array(pixels),
    };
  }
  return scratch;
}

function paintBackground(canvas: FaceCanvas, plan: FacePlan): void {
  const { size, backgroundA, backgroundB, backgroundColumns, backgroundRows } = plan;
  const rgb = canvas.rgb;
  for (let py = 0; py < size; py++) {
    const row = backgroundRows[py]!;
    for (let px = 0; px < size; px++) {
      if (canvas.hiddenByHead[py * size + px]) continue;
      const t = clamp(0.5 + row + backgroundColumns[px]!, 0, 1);
      const o = (py * size + px) * 3;
      rgb[o] = backgroundA[0] + (backgroundB[0] - backgroundA[0]) * t;
      rgb[o + 1] = backgroundA[1] + (backgroundB[1] - backgroundA[1]) * t;
      rgb[o + 2] = backgroundA[2] + (backgroundB[2] - backgroundA[2]) * t;
    }
  }
}

function paintLongHair(canvas: FaceCanvas, plan: FacePlan): void {
  const [x0, x1, y0, y1] = canvas.box(0, 0.1, 1.35, 1.5);
  const { headX, headY, size } = canvas;
  for (let py = y0; py < y1; py++) {
    for (let px = x0; px < x1; px++) {
      const i = py * size + px;
      if (canvas.hiddenByHead[i]) continue;
      const hx = headX[i]!;
      const hy = headY[i]!;
      // A rounded mass behind the head that ends around the jaw line.
      const d = Math.max(ellipseDistance(hx, hy + 0.05, 1.28, 1.45), hy - 0.95);
      canvas.blend(i, plan.hair, canvas.coverage(d));
    }
  }
}

function paintNeckAndShoulders(canvas: FaceCanvas, plan: FacePlan): void {
  const [x0, x1, y0, y1] = canvas.box(0, 1.6, 2.2, 0.9);
  const { headX, headY, size } = canvas;
  const neck = scaleRgb(plan.skin, 0.78);
  for (let py = y0; py < y1; py++) {
    for (let px = x0; px < x1; px++) {
      const i = py * size + px;
      if (canvas.hiddenByHead[i]) continue;
      const hx = headX[i]!;
      const hy = headY[i]!;
      canvas.blend(i, neck, canvas.coverage(Math.max(Math.abs(hx) - 0.55, 0.7 - hy)));
      const shoulders = ellipseDistance(hx, hy - 2.35, 2.1, 0.95);
      canvas.blend(i, plan.clothes, canvas.coverage(shoulders));
    }
  }
}

function paintEars(canvas: FaceCanvas, plan: FacePlan): void {
  const earColour = scaleRgb(plan.skin, 0.9);
  for (const side of [-1, 1]) {
    const earX = side * 0.98 - 0.08 * plan.yaw;
    const [x0, x1, y0, y1] = canvas.box(earX, 0.05, 0.16, 0.26);
    const { headX, headY, size } = canvas;
    for (let py = y0; py < y1; py++) {
      for (let px = x0; px < x1; px++) {
        const i = py * size + px;
        if (canvas.hiddenByHead[i]) continue;
        canvas.blend(i, earColour, canvas.coverage(ellipseDistance(headX[i]! - earX, headY[i]! - 0.05, 0.14, 0.24)));
      }
    }
  }
}

function paintHead(canvas: FaceCanvas, plan: FacePlan): void {
  const aspect = plan.headAspect;
  const skin: [number, number, number] = [0, 0, 0];
  const [x0, x1, y0, y1] = canvas.box(0, 0, 1, aspect);
  const { headX, headY, headRadius2, hiddenByHead, size } = canvas;
  for (let py = y0; py < y1; py++) {
    for (let px = x0; px < x1; px++) {
      const i = py * size + px;
      const r2 = headRadius2[i]!;
      // Well outside the outline (at least 0.1 face units): nothing to draw.
      if (r2 > 1.3) continue;
      const hx = headX[i]! + HEAD_YAW_SHIFT * plan.yaw;
      const hy = headY[i]!;
      const alpha = hiddenByHead[i] ? 1 : canvas.coverage(ellipseDistance(hx, hy, jawWidth(hy, aspect), aspect));
      if (alpha <= 0) continue;
      // Rounded shading: darker toward the rim, as a lit sphere would be.
      const shading = 1 - 0.22 * r2 * r2;
      skin[0] = plan.skin[0] * shading;
      skin[1] = plan.skin[1] * shading;
      skin[2] = plan.skin[2] * shading;
      canvas.blend(i, skin, alpha);
    }
  }
}

/** The head outline turns a little against the features when the head turns. */
const HEAD_YAW_SHIFT = 0.04;

/** A jaw narrower than the temples: the head ellipse is squeezed below the eyes. */
function jawWidth(headY: number, aspect: number): number {
  return headY > 0 ? 1 - 0.12 * (headY / aspect) : 1;
}

/** Squared elliptical radius in the head outline (1 on the outline). */
function headRadiusSquared(plan: FacePlan, headX: number, headY: number): number {
  const x = (headX + HEAD_YAW_SHIFT * plan.yaw) / jawWidth(headY, plan.headAspect);
  const y = headY / plan.headAspect;
  return x * x + y * y;
}

function paintForeheadLines(canvas: FaceCanvas, plan: FacePlan): void {
  const strength = plan.expression.foreheadLines * 0.6;
  if (strength <= 0.02) return;
  const crease = scaleRgb(plan.skin, 0.7);
  const halfLength = 0.42;
  const topY = plan.browY - plan.expression.browRaise - 0.16;
  const [x0, x1, y0, y1] = canvas.box(0, topY - 0.1, halfLength, 0.16);
  const { featureX, featureY, size } = canvas;
  for (let py = y0; py < y1; py++) {
    for (let px = x0; px < x1; px++) {
      const i = py * size + px;
      const fx = featureX[i]!;
      const along = fx / halfLength;
      if (along <= -1 || along >= 1) continue;
      // Three arched lines, fading toward their ends.
      const arch = 0.04 * (1 - along * along);
      let d = Infinity;
      for (let k = 0; k < 3; k++) d = Math.min(d, Math.abs(featureY[i]! - (topY - 0.085 * k - arch)));
      canvas.blend(i, crease, strength * (1 - along * along * along * along) * canvas.coverage(d - 0.011));
    }
  }
}

function paintFrownLines(canvas: FaceCanvas, plan: FacePlan): void {
  const strength = plan.expression.frownLines * 0.7;
  if (strength <= 0.02) return;
  const crease = scaleRgb(plan.skin, 0.65);
  const top = plan.browY - plan.expression.browRaise - 0.04;
  const bottom = top + 0.16;
  const [x0, x1, y0, y1] = canvas.box(0, (top + bottom) / 2, 0.12, 0.12);
  const { featureX, featureY, size } = canvas;
  for (let py = y0; py < y1; py++) {
    for (let px = x0; px < x1; px++) {
      const i = py * size + px;
      const fx = featureX[i]!;
      const fy = featureY[i]!;
      const d = Math.min(segmentDistance(fx, fy, -0.05, top, -0.035, bottom), segmentDistance(fx, fy, 0.05, top, 0.035, bottom));
      canvas.blend(i, crease, strength * canvas.coverage(d - 0.011));
    }
  }
}

function paintCrowsFeet(canvas: FaceCanvas, plan: FacePlan): void {
  const strength = plan.expression.crowsFeet * 0.6;
  if (strength <= 0.02) return;
  const crease = scaleRgb(plan.skin, 0.68);
  for (const side of [-1, 1]) {
    const startX = side * (plan.eyeSpacing + plan.eyeHalfWidth + 0.03);
    const startY = plan.eyeY;
    const [x0, x1, y0, y1] = canvas.box(startX + side * 0.05, startY, 0.1, 0.1);
    const { featureX, featureY, size } = canvas;
    for (let py = y0; py < y1; py++) {
      for (let px = x0; px < x1; px++) {
        const i = py * size + px;
        const fx = featureX[i]!;
        const fy = featureY[i]!;
        let d = Infinity;
        for (const slope of [-0.5, 0, 0.5]) d = Math.min(d, segmentDistance(fx, fy, startX, startY + slope * 0.02, startX + side * 0.09, startY + slope * 0.09));
        canvas.blend(i, crease, strength * canvas.coverage(d - 0.01));
      }
    }
  }
}

function paintChin(canvas: FaceCanvas, plan: FacePlan): void {
  const strength = plan.expression.chinRaise * 0.5;
  if (strength <= 0.02) return;
  const crease = scaleRgb(plan.skin, 0.68);
  const creaseY = plan.mouthY + plan.lipThickness * 1.15 + plan.expression.mouthOpen + 0.07;
  const [x0, x1, y0, y1] = canvas.box(0, creaseY + 0.12, 0.25, 0.18);
  const { featureX, featureY, size } = canvas;
  for (let py = y0; py < y1; py++) {
    for (let px = x0; px < x1; px++) {
      const i = py * size + px;
      const fx = featureX[i]!;
      const fy = featureY[i]!;
      // The deepened crease under the lower lip, then the dimpled (darker, blotchy) chin boss.
      const along = fx / 0.2;
      if (along > -1 && along < 1) {
        const line = Math.abs(fy - (creaseY - 0.03 * (1 - along * along)));
        canvas.blend(i, crease, strength * (1 - along * along) * canvas.coverage(line - 0.012));
      }
      const bossX = fx / 0.16;
      const bossY = (fy - creaseY - 0.13) / 0.08;
      const falloff = 1 - (bossX * bossX + bossY * bossY);
      if (falloff > 0) canvas.blend(i, crease, strength * 0.5 * falloff);
    }
  }
}

function paintHairCap(canvas: FaceCanvas, plan: FacePlan): void {
  const [x0, x1, y0, y1] = canvas.box(0, -0.9, 1.2, 0.8);
  const { headX, headY, size } = canvas;
  for (let py = y0; py < y1; py++) {
    for (let px = x0; px < x1; px++) {
      const i = py * size + px;
      const hx = headX[i]!;
      const hy = headY[i]!;
      const hairline = hy - (plan.hairline + plan.hairlineCurve * hx * hx);
      if (hairline > 0.1) continue;
      const outline = ellipseDistance(hx, hy + 0.06, 1.07, plan.headAspect + 0.1);
      canvas.blend(i, plan.hair, canvas.coverage(Math.max(outline, hairline)));
    }
  }
}

function paintCheeks(canvas: FaceCanvas, plan: FacePlan): void {
  const strength = plan.expression.cheekRaise * 0.35;
  if (strength <= 0.01) return;
  const blush: Rgb = [plan.skin[0], plan.skin[1] * 0.8, plan.skin[2] * 0.82];
  for (const side of [-1, 1]) {
    const cx = side * 0.48;
    const cy = 0.3;
    const [x0, x1, y0, y1] = canvas.box(cx, cy, 0.25, 0.2);
    const { featureX, featureY, size } = canvas;
    for (let py = y0; py < y1; py++) {
      for (let px = x0; px < x1; px++) {
        const i = py * size + px;
        const dx = (featureX[i]! - cx) / 0.22;
        const dy = (featureY[i]! - cy) / 0.16;
        const falloff = 1 - (dx * dx + dy * dy);
        if (falloff > 0) canvas.blend(i, blush, strength * falloff);
      }
    }
  }
}

function paintSmileLines(canvas: FaceCanvas, plan: FacePlan): void {
  const strength = plan.expression.smileLines * 0.5;
  if (strength <= 0.02) return;
  const crease = scaleRgb(plan.skin, 0.7);
  const endY = plan.mouthY - plan.expression.mouthSmile + 0.04;
  for (const side of [-1, 1]) {
    const ax = side * 0.16;
    const ay = plan.noseLength + 0.02;
    const bx = side * (plan.mouthHalfWidth + 0.09);
    const by = endY;
    const [x0, x1, y0, y1] = canvas.box((ax + bx) / 2, (ay + by) / 2, Math.abs(bx - ax) / 2 + 0.05, Math.abs(by - ay) / 2 + 0.05);
    const { featureX, featureY, size } = canvas;
    for (let py = y0; py < y1; py++) {
      for (let px = x0; px < x1; px++) {
        const i = py * size + px;
        const d = segmentDistance(featureX[i]!, featureY[i]!, ax, ay, bx, by) - 0.012;
        canvas.blend(i, crease, strength * canvas.coverage(d));
      }
    }
  }
}

function paintNose(canvas: FaceCanvas, plan: FacePlan): void {
  const shift = 0.08 * plan.yaw;
  const tipY = plan.noseLength;
  const shadow = scaleRgb(plan.skin, 0.72);
  const nostril = scaleRgb(plan.skin, 0.35);
  const wrinkle = plan.expression.noseWrinkle;
  const [x0, x1, y0, y1] = canvas.box(shift, tipY / 2 - 0.05, 0.25, tipY / 2 + 0.15);
  const { featureX, featureY, size } = canvas;
  for (let py = y0; py < y1; py++) {
    for (let px = x0; px < x1; px++) {
      const i = py * size + px;
      const fx = featureX[i]! - shift;
      const fy = featureY[i]!;
      // The shadowed side of the bridge, then the wings and nostrils.
      const bridge = segmentDistance(fx, fy, 0.05, 0.02, 0.07, tipY - 0.04) - 0.012;
      canvas.blend(i, shadow, 0.45 * canvas.coverage(bridge));
      const wings = Math.min(ellipseDistance(fx - 0.09, fy - tipY, 0.05, 0.035), ellipseDistance(fx + 0.09, fy - tipY, 0.05, 0.035));
      canvas.blend(i, shadow, 0.35 * canvas.coverage(wings));
      const nostrils = Math.min(ellipseDistance(fx - 0.07, fy - tipY - 0.02, 0.032, 0.017), ellipseDistance(fx + 0.07, fy - tipY - 0.02, 0.032, 0.017));
      canvas.blend(i, nostril, 0.8 * canvas.coverage(nostrils));
      if (wrinkle > 0.05) {
        // Short creases across the upper bridge, as the nose is scrunched.
        let crease = Infinity;
        for (let k = 0; k < 3; k++) {
          const cy = 0.02 + 0.055 * k;
          crease = Math.min(crease, segmentDistance(fx, fy, -0.07, cy + 0.01, 0.07, cy - 0.01));
        }
        canvas.blend(i, shadow, Math.min(1, wrinkle) * 0.7 * canvas.coverage(crease - 0.01));
      }
    }
  }
}

function paintBrows(canvas: FaceCanvas, plan: FacePlan): void {
  const { browRaise, browTilt, browArch } = plan.expression;
  const y = plan.browY - browRaise;
  const thickness = plan.browHalfThickness;
  for (const side of [-1, 1]) {
    const innerX = side * 0.14;
    const innerY = y - browTilt;
    const midX = side * 0.34;
    const midY = y - 0.045 - browArch - browTilt * 0.3;
    const outerX = side * 0.56;
    const outerY = y + 0.02 + browTilt * 0.3;
    const [x0, x1, y0, y1] = canvas.box(side * 0.35, (innerY + outerY) / 2, 0.3, 0.2);
    const { featureX, featureY, size } = canvas;
    for (let py = y0; py < y1; py++) {
      for (let px = x0; px < x1; px++) {
        const i = py * size + px;
        const fx = featureX[i]!;
        const fy = featureY[i]!;
        // Thick at the inner end, tapering outward.
        const d = Math.min(
          segmentDistance(fx, fy, innerX, innerY, midX, midY) - thickness,
          segmentDistance(fx, fy, midX, midY, outerX, outerY) - thickness * 0.7,
        );
        canvas.blend(i, plan.brows, 0.92 * canvas.coverage(d));
      }
    }
  }
}

function paintEyes(canvas: FaceCanvas, plan: FacePlan): void {
  const sclera: Rgb = [236, 232, 226];
  const pupil: Rgb = [18, 14, 14];
  const lash: Rgb = [35, 26, 24];
  const socket = 0.85;
  const rx = plan.eyeHalfWidth;
  const ry = plan.eyeHalfHeight;
  const irisRadius = 0.065;
  for (const side of [-1, 1]) {
    const ex = side * plan.eyeSpacing;
    const ey = plan.eyeY;
    const ix = ex + plan.gazeX;
    const [x0, x1, y0, y1] = canvas.box(ex, ey, rx + 0.06, ry + 0.08);
    const { featureX, featureY, size } = canvas;
    for (let py = y0; py < y1; py++) {
      for (let px = x0; px < x1; px++) {
        const i = py * size + px;
        const dx = featureX[i]! - ex;
        const dy = featureY[i]! - ey;
        const eye = ellipseDistance(dx, dy, rx, ry);
        if (eye > 0.08) continue;
        // A soft socket shadow, then the white, iris and pupil clipped to the lids, then the lid line.
        canvas.shade(i, socket, clamp(1 - eye / 0.08, 0, 1) * 0.6);
        const white = canvas.coverage(eye);
        if (white > 0) {
          canvas.blend(i, sclera, white);
          const r = Math.hypot(featureX[i]! - ix, dy);
          canvas.blend(i, plan.iris, canvas.coverage(Math.max(r - irisRadius, eye)));
          canvas.blend(i, pupil, canvas.coverage(Math.max(r - irisRadius * 0.45, eye)));
        }
        const lid = Math.abs(eye) - (dy < 0 ? 0.022 : 0.01);
        canvas.blend(i, lash, 0.9 * canvas.coverage(lid));
      }
    }
  }
}

function paintMouth(canvas: FaceCanvas, plan: FacePlan): void {
  const { mouthSmile, mouthOpen, mouthSkew, teeth } = plan.expression;
  const w = plan.mouthHalfWidth;
  const centreY = plan.mouthY;
  const upperLip = plan.lipThickness * 0.8;
  const lowerLip = plan.lipThickness * 1.15;
  const cavity: Rgb = [72, 26, 30];
  const teethColour: Rgb = [236, 230, 214];
  const [x0, x1, y0, y1] = canvas.box(0, centreY + mouthOpen * 0.35, w + 0.1, Math.abs(mouthSmile) + mouthOpen + 0.15);
  const { featureX, featureY, size } = canvas;
  for (let py = y0; py < y1; py++) {
    for (let px = x0; px < x1; px++) {
      const i = py * size + px;
      const fx = featureX[i]!;
      const fy = featureY[i]!;
      const s = clamp(fx / w, -1, 1);
      // The parting line bends up at the corners for a smile, down for a frown; the jaw drops
      // the lower lip further than the upper one rises.
      const parting = centreY - mouthSmile * s * s - mouthSkew * s;
      const slope = (2 * mouthSmile * s + mouthSkew) / w;
      const normal = Math.sqrt(1 + slope * slope);
      const gap = mouthOpen * Math.sqrt(1 - s * s);
      const upper = parting - 0.3 * gap;
      const lower = parting + gap;
      const opening = Math.max((upper - fy) / normal, (fy - lower) / normal, Math.abs(fx) - w);
      const lipEdge = opening - (fy < parting ? upperLip : lowerLip) * Math.sqrt(1 - 0.7 * s * s);
      canvas.blend(i, plan.lips, canvas.coverage(lipEdge));
      const inside = canvas.coverage(opening - 0.01);
      if (inside <= 0) continue;
      canvas.blend(i, cavity, inside);
      if (teeth > 0.05 && gap > 0.01) {
        const teethEdge = fy - (upper + teeth * 0.6 * (lower - upper));
        canvas.blend(i, teethColour, inside * canvas.coverage(teethEdge));
      }
    }
  }
}

function paintGlasses(canvas: FaceCanvas, plan: FacePlan): void {
  const frame: Rgb = [30, 30, 34];
  const radius = 0.2;
  const [x0, x1, y0, y1] = canvas.box(0, plan.eyeY, plan.eyeSpacing + radius + 0.05, radius + 0.05);
  const { featureX, featureY, size } = canvas;
  for (let py = y0; py < y1; py++) {
    for (let px = x0; px < x1; px++) {
      const i = py * size + px;
      const fx = featureX[i]!;
      const dy = featureY[i]! - plan.eyeY;
      const ring = Math.min(
        Math.abs(Math.hypot(fx - plan.eyeSpacing, dy) - radius),
        Math.abs(Math.hypot(fx + plan.eyeSpacing, dy) - radius),
        segmentDistance(fx, dy, -plan.eyeSpacing + radius, -0.03, plan.eyeSpacing - radius, -0.03),
      );
      canvas.blend(i, frame, 0.9 * canvas.coverage(ring - 0.015));
    }
  }
}

/** Lighting, colour cast, optional grayscale and sensor noise, then quantised to bytes. */
function develop(canvas: FaceCanvas, plan: FacePlan, random: SeededRandom): Uint8Array {
  const { size, brightness, lightX, lightY, noiseAmplitude, grayscale } = plan;
  const [castR, castG, castB] = plan.colourCast;
  // Clamped bytes round and saturate on assignment, which is the quantisation wanted here.
  const out = new Uint8ClampedArray(size * size * 3);
  const rgb = canvas.rgb;
  const inverseSize = 1 / size;
  const grainScale = noiseAmplitude / 32767.5;
  const chromaScale = (noiseAmplitude * 0.3) / 127.5;
  const chromaOffset = noiseAmplitude * 0.3;
  for (let py = 0; py < size; py++) {
    const rowLight = brightness * (1 + lightY * ((py + 0.5) * inverseSize - 0.5));
    for (let px = 0; px < size; px++) {
      const light = rowLight + brightness * lightX * ((px + 0.5) * inverseSize - 0.5);
      const o = (py * size + px) * 3;
      let r = rgb[o]! * light * castR;
      let g = rgb[o + 1]! * light * castG;
      let b = rgb[o + 2]! * light * castB;
      if (grayscale) {
        const luma = 0.299 * r + 0.587 * g + 0.114 * b;
        r = luma;
        g = luma;
        b = luma;
      }
      // One draw per pixel: shared luminance grain plus a weaker chroma grain.
      const bits = random.nextUint32();
      const grain = (bits & 0xffff) * grainScale - noiseAmplitude;
      const chromaA = ((bits >>> 16) & 0xff) * chromaScale - chromaOffset;
      const chromaB = (bits >>> 24) * chromaScale - chromaOffset;
      out[o] = r + grain + chromaA;
      out[o + 1] = g + grain - 0.5 * (chromaA + chromaB);
      out[o + 2] = b + grain + chromaB;
    }
  }
  return new Uint8Array(out.buffer);
}

/** Approximate signed distance to an axis-aligned ellipse (exact on the axes, good near the edge). */
function ellipseDistance(x: number, y: number, rx: number, ry: number): number {
  const qx = x / rx;
  const qy = y / ry;
  const k0 = Math.sqrt(qx * qx + qy * qy);
  // Far from the edge the cheap bound (k0 - 1) * min radius is already past any anti-aliasing band.
  const bound = (k0 - 1) * (rx < ry ? rx : ry);
  if (bound > 0.1 || bound < -0.1) return bound;
  const k1 = Math.sqrt((qx / rx) * (qx / rx) + (qy / ry) * (qy / ry));
  if (k1 === 0) return -Math.min(rx, ry);
  return (k0 * (k0 - 1)) / k1;
}

function segmentDistance(px: number, py: number, ax: number, ay: number, bx: number, by: number): number {
  const abx = bx - ax;
  const aby = by - ay;
  const apx = px - ax;
  const apy = py - ay;
  const lengthSquared = abx * abx + aby * aby;
  const t = lengthSquared > 0 ? clamp((apx * abx + apy * aby) / lengthSquared, 0, 1) : 0;
  const dx = apx - abx * t;
  const dy = apy - aby * t;
  return Math.sqrt(dx * dx + dy * dy);
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

function towardsGrey(c: Rgb, k: number): Rgb {
  return [128 + (c[0] - 128) * k, 128 + (c[1] - 128) * k, 128 + (c[2] - 128) * k];
}

function randomColour(random: SeededRandom): Rgb {
  return [random.uniform(20, 240), random.uniform(20, 240), random.uniform(20, 240)];
}

function mixPalette(palette: readonly Rgb[], t: number): Rgb {
  const position = t * (palette.length - 1);
  const index = Math.min(palette.length - 2, Math.floor(position));
  const f = position - index;
  const a = palette[index]!;
  const b = palette[index + 1]!;
  return [a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f, a[2] + (b[2] - a[2]) * f];
}

function scaleRgb(colour: Rgb, factor: number): Rgb {
  return [colour[0] * factor, colour[1] * factor, colour[2] * factor];
}

function clamp(value: number, low: number, high: number): number {
  return value < low ? low : value > high ? high : value;
}

function clampInt(value: number, low: number, high: number): number {
  return Math.max(low, Math.min(high, value));
}
