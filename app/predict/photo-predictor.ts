// One photo through the app: decoded and turned upright (app/image/photo.ts), its faces found
// (app/detect), each face cropped and prepared exactly as training prepared its inputs — the
// bilinear resize with half-pixel centres and the checkpoint's preprocessing of
// shared/image/preprocess.ts, the function evaluation uses, here on the face's square crop — and
// classified in one batch. --no-detect takes the whole photo as the one face, which is then the
// very input `emotrain evaluate` makes of it.

import { EMOTION_CLASSES, NUM_CLASSES, type EmotionClass } from '../../shared/classes.js';
import { inputLength } from '../../shared/image/model-input.js';
import { resizeInto } from '../../shared/image/preprocess.js';
import type { SourceRegion } from '../../shared/image/warp.js';
import { faceRegion, type FaceBox } from '../detect/face-box.js';
import { findFaces, type FoundFace } from '../detect/face-finder.js';
import type { DetectionView } from '../detect/detection-image.js';
import type { FaceDetector } from '../detect/face-detector.js';
import type { CropFraming } from '../detect/face-box.js';
import { readPhoto, type Photo, type PhotoLimits } from '../image/photo.js';
import { annotatePhoto, type AnnotatedPhoto } from './annotate.js';
import type { EmotionClassifier } from './classifier.js';

export interface FacePrediction {
  /** The face's box in the upright photo's pixels (the whole photo with --no-detect). */
  box: FaceBox;
  /** The detector's confidence, null where it has none (haar, --no-detect). */
  detectorScore: number | null;
  /** The square the classifier saw, in photo pixels. */
  crop: SourceRegion;
  label: EmotionClass;
  confidence: number;
  /** All seven, in emotrain's class order. */
  probabilities: Record<EmotionClass, number>;
}

/** The JSON of one photo: what `predict --json` prints per line and `POST /api/predict` answers. */
export interface PhotoPrediction {
  image: string;
  width: number;
  height: number;
  /** EXIF orientation applied (1: none). */
  orientation: number;
  detector: string;
  runtime: string;
  faces: FacePrediction[];
  warnings: string[];
  timingsMs: { decode: number; detect: number; classify: number };
}

export interface PredictorSettings {
  /** Undefined: --no-detect, the whole photo is the face. */
  detector: FaceDetector | undefined;
  framing: CropFraming;
  view: DetectionView;
  /** Faces smaller than this (pixels, shorter side) are left out. */
  minFaceSide: number;
  limits: PhotoLimits;
}

/** Faces classified per forward pass (a crowd photo's faces go in a few batches). */
const FACES_PER_BATCH = 32;

export class PhotoPredictor {
  constructor(
    readonly classifier: EmotionClassifier,
    readonly settings: PredictorSettings,
  ) {}

  get detectorName(): string {
    return this.settings.detector?.name ?? 'none';
  }

  /** `name` is how the photo is named in the result and in errors (its path, or the upload's name). */
  async predict(bytes: Uint8Array, name: string): Promise<{ prediction: PhotoPrediction; photo: Photo }> {
    const started = performance.now();
    const photo = await readPhoto(bytes, name, this.settings.limits);
    const decoded = performance.now();
    const { width, height } = photo.image;
    const faces: FoundFace[] = this.settings.detector
      ? await findFaces(photo.image, this.settings.detector, this.settings.view, this.settings.minFaceSide)
      : [{ box: { x: 0, y: 0, width, height }, fullBox: { x: 0, y: 0, width, height }, score: null }];
    const detected = performance.now();
    const crops = faces.map((face) => (this.settings.detector ? faceRegion(face.fullBox, this.settings.framing, width, height) : { left: 0, top: 0, width, height }));
    const probabilities = await this.classify(photo, crops);
    const classified = performance.now();
    return {
      photo,
      prediction: {
        image: name,
        width,
        height,
        orientation: photo.orientation,
        detector: this.detectorName,
        runtime: this.classifier.runtime,
        faces: faces.map((face, i) => facePrediction(face, crops[i]!, probabilities.subarray(i * NUM_CLASSES, (i + 1) * NUM_CLASSES))),
        warnings: photo.warnings,
        timingsMs: { decode: round(decoded - started), detect: round(detected - decoded), classify: round(classified - detected) },
      },
    };
  }

  private async classify(photo: Photo, crops: readonly SourceRegion[]): Promise<Float32Array> {
    const { imageSize, preprocessing } = this.classifier;
    const length = inputLength(imageSize);
    const out = new Float32Array(crops.length * NUM_CLASSES);
    for (let start = 0; start < crops.length; start += FACES_PER_BATCH) {
      const batch = crops.slice(start, start + FACES_PER_BATCH);
      const inputs = new Float32Array(batch.length * length);
      batch.forEach((region, i) => resizeInto(photo.image, imageSize, preprocessing, inputs, i * length, { flip: false, region }));
      out.set(await this.classifier.classify(inputs, batch.length), start * NUM_CLASSES);
    }
    return out;
  }
}

function facePrediction(face: FoundFace, crop: SourceRegion, probabilities: Float32Array): FacePrediction {
  let best = 0;
  for (let c = 1; c < NUM_CLASSES; c++) if (probabilities[c]! > probabilities[best]!) best = c;
  return {
    box: face.box,
    detectorScore: face.score,
    crop,
    label: EMOTION_CLASSES[best]!,
    confidence: probabilities[best]!,
    probabilities: Object.fromEntries(EMOTION_CLASSES.map((name, c) => [name, probabilities[c]!])) as Record<EmotionClass, number>,
  };
}

/** One colour per class, the synthetic set's tints where it has them (anger red, happiness yellow...). */
export const CLASS_COLOURS: Readonly<Record<EmotionClass, string>> = {
  angry: '#d32f2f',
  disgust: '#388e3c',
  fear: '#8e24aa',
  happy: '#fbc02d',
  neutral: '#9e9e9e',
  sad: '#1976d2',
  surprise: '#00acc1',
};

/** The photo with each face's box, label and confidence drawn on it. */
export function annotatePrediction(photo: Photo, prediction: PhotoPrediction): AnnotatedPhoto {
  return annotatePhoto(
    photo.image,
    prediction.faces.map((face) => ({ box: face.box, text: `${face.label} ${Math.round(face.confidence * 100)}%`, colour: CLASS_COLOURS[face.label] })),
  );
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
