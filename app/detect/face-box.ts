// Face boxes and the crop the classifier sees around each (pure). A detector's box is its own
// idea of a face (Haar's square runs brow to chin, tiny_face_detector's includes the forehead);
// the training faces were framed another way (RAF-DB's aligned 100x100 faces, FER2013's 48x48
// crops). CropFraming turns a detector's box into a square crop framed like the training faces;
// the numbers per detector are measured (bench/face-framing.ts, README "The app").

import type { SourceRegion } from '../../shared/image/warp.js';

/** Pixels of the photo as seen (after EXIF orientation), origin top left. */
export interface FaceBox {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface DetectedFace {
  box: FaceBox;
  /** The detector's confidence in 0..1; null for the Haar cascade, which has none. */
  score: number | null;
}

export interface CropFraming {
  /** The crop's side as a multiple of the box's larger side (1: the box itself). */
  scale: number;
  /** How far the crop's centre lies below the box's centre, as a fraction of the box's height (negative: above). */
  shiftY: number;
}

/**
 * The square crop around `box`, framed by `framing`, kept inside the photo: moved in from an edge
 * rather than filled, and shrunk to the photo's shorter side when it would be larger. Filling
 * (reflecting) would show the classifier mirrored half-faces that training never showed it.
 */
export function faceRegion(box: FaceBox, framing: CropFraming, photoWidth: number, photoHeight: number): SourceRegion {
  const side = Math.min(Math.max(box.width, box.height) * framing.scale, photoWidth, photoHeight);
  const centreX = box.x + box.width / 2;
  const centreY = box.y + box.height / 2 + framing.shiftY * box.height;
  return {
    left: clamp(centreX - side / 2, 0, photoWidth - side),
    top: clamp(centreY - side / 2, 0, photoHeight - side),
    width: side,
    height: side,
  };
}

/** The part of `box` inside a width x height photo; undefined when nothing of it is. */
export function clipBox(box: FaceBox, width: number, height: number): FaceBox | undefined {
  const left = Math.max(0, box.x);
  const top = Math.max(0, box.y);
  const right = Math.min(width, box.x + box.width);
  const bottom = Math.min(height, box.y + box.height);
  return right > left && bottom > top ? { x: left, y: top, width: right - left, height: bottom - top } : undefined;
}

/** Faces whose box is at least `minSide` pixels on its shorter side, largest first (the main face leads). */
export function largeEnough<T extends DetectedFace>(faces: readonly T[], minSide: number): T[] {
  return faces
    .filter((face) => Math.min(face.box.width, face.box.height) >= minSide)
    .sort((a, b) => b.box.width * b.box.height - a.box.width * a.box.height || a.box.x - b.box.x);
}

function clamp(value: number, low: number, high: number): number {
  return Math.min(Math.max(value, low), high);
}
