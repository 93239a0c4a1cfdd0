// The face detectors `emotrain predict` and `serve` can use (--detector), behind one interface.
// All install from npm alone and load offline (issue 10, point 1). The default and each one's
// crop framing are measured figures (README "The app"; bench/detectors.ts, bench/face-framing.ts).

import type { RgbImage } from '../../shared/image/decode.js';
import { ConfigError } from '../../shared/errors.js';
import type { DetectedFace } from './face-box.js';
import { loadFaceApiDetector } from './face-api-detectors.js';
import { loadHaarDetector } from './haar-detector.js';

export const DETECTOR_NAMES = ['tiny-face-detector', 'ssd-mobilenetv1', 'haar'] as const;
export type DetectorName = (typeof DETECTOR_NAMES)[number];

export interface FaceDetector {
  readonly name: DetectorName;
  /** Faces in `image`'s pixels; `minFaceSide` lets a detector skip smaller windows (a hint: the caller filters too). */
  detect(image: RgbImage, minFaceSide: number): Promise<DetectedFace[]>;
  dispose(): void;
}

export async function loadDetector(name: DetectorName): Promise<FaceDetector> {
  switch (name) {
    case 'tiny-face-detector':
    case 'ssd-mobilenetv1':
      return loadFaceApiDetector(name);
    case 'haar':
      return loadHaarDetector();
    default:
      throw new ConfigError('CONFIG_INVALID', `--detector must be one of ${DETECTOR_NAMES.join(', ')}, got ${JSON.stringify(name)}`);
  }
}
