// The measured settings of face detection (README "The app", issue 10 acceptance a): which
// detector is the default, what view of a photo detectors get, and how each detector's box is
// framed into the crop the classifier sees. Change them only with new figures.

import type { CropFraming } from './face-box.js';
import type { DetectionView } from './detection-image.js';
import type { DetectorName } from './face-detector.js';

/**
 * haar found 37 of the 40 benchmark photos' faces with no false detection at ~110 ms a photo;
 * tiny-face-detector found 14 and ssd-mobilenetv1 4 with the same view (bench/detectors.ts).
 */
export const DEFAULT_DETECTOR: DetectorName = 'haar';

/**
 * Photos over 1280 pixels are shrunk for detection (a 4000-pixel photo's faces are still 25+
 * pixels for the cascade's 24-pixel window); a border of a quarter of the longer side lets every
 * detector find faces that fill the frame (haar 31 → 37 of 40 found, tiny-face-detector 1 → 14).
 */
export const DETECTION_VIEW: DetectionView = { maxSide: 1280, border: 0.25 };

/**
 * How each detector's box becomes the classifier's crop, measured by bench/face-framing.ts on 600
 * of FER2013's test faces (the medians; their quartiles are within ±0.07 of scale and ±0.06 of
 * shift): a FER2013 face is 1.04 Haar boxes wide, centred on the box (FER2013 was itself cut
 * out with OpenCV's detector); tiny_face_detector's box is larger and lower (0.92 of it, 0.09 of
 * its height higher); ssd_mobilenetv1's a little larger (0.94). RAF-DB's aligned faces, the
 * study's data, are framed much as FER2013's are; they are not here to measure.
 */
export const CROP_FRAMING: Readonly<Record<DetectorName, CropFraming>> = {
  haar: { scale: 1.04, shiftY: 0 },
  'tiny-face-detector': { scale: 0.92, shiftY: -0.09 },
  'ssd-mobilenetv1': { scale: 0.94, shiftY: 0 },
};
