// Finding the faces of one photo: show the detector a bounded, bordered view of it
// (detection-image.ts), map what it finds back to photo pixels, drop faces below the minimum
// size, largest first.

import type { RgbImage } from '../../shared/image/decode.js';
import { clipBox, largeEnough, type DetectedFace, type FaceBox } from './face-box.js';
import { detectionImage, toPhotoBox, type DetectionView } from './detection-image.js';
import type { FaceDetector } from './face-detector.js';

export interface FoundFace extends DetectedFace {
  /** The detector's whole box in photo pixels; it may reach past the photo's edges (a face cut off by the frame). */
  fullBox: FaceBox;
}

export async function findFaces(photo: RgbImage, detector: FaceDetector, view: DetectionView, minFaceSide: number): Promise<FoundFace[]> {
  const { image, frame } = detectionImage(photo, view);
  const found = await detector.detect(image, minFaceSide * frame.scale);
  const faces: FoundFace[] = [];
  for (const face of found) {
    const fullBox = toPhotoBox(face.box, frame);
    const box = clipBox(fullBox, photo.width, photo.height);
    // A "face" wholly in the grey border is the border's doing, not the photo's.
    if (box !== undefined) faces.push({ box, fullBox, score: face.score });
  }
  return largeEnough(faces, minFaceSide);
}
