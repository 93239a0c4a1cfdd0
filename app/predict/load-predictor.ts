// What predict and serve both do first: pick the tfjs backend, load the classifier on its runtime
// and the detector, once, with the measured detection settings (detector-settings.ts).

import { selectBackend } from '../../shared/backend/select-backend.js';
import type { ModelSource } from '../../shared/checkpoint-source.js';
import type { BackendChoice } from '../../shared/config.js';
import { CROP_FRAMING, DEFAULT_DETECTOR, DETECTION_VIEW } from '../detect/detector-settings.js';
import { loadDetector, type DetectorName } from '../detect/face-detector.js';
import { loadClassifier, type Runtime } from './classifier.js';
import { PhotoPredictor } from './photo-predictor.js';

/** The flags predict and serve share. */
export interface PredictorChoice {
  /** Undefined: --no-detect. */
  detector: DetectorName | undefined;
  minFaceSide: number;
  runtime: Runtime;
  backend: BackendChoice;
  maxPixels: number;
}

export interface LoadedPredictor {
  predictor: PhotoPredictor;
  /** "onnxruntime" or "tfjs <backend>", for the user. */
  runsOn: string;
  dispose(): Promise<void>;
}

export async function loadPredictor(source: ModelSource, choice: PredictorChoice): Promise<LoadedPredictor> {
  const backend = await selectBackend(choice.backend);
  const classifier = await loadClassifier(source, choice.runtime);
  const detector = choice.detector === undefined ? undefined : await loadDetector(choice.detector);
  const predictor = new PhotoPredictor(classifier, {
    detector,
    framing: CROP_FRAMING[choice.detector ?? DEFAULT_DETECTOR],
    view: DETECTION_VIEW,
    minFaceSide: choice.minFaceSide,
    limits: { maxPixels: choice.maxPixels },
  });
  return {
    predictor,
    runsOn: choice.runtime === 'onnx' ? 'onnxruntime' : `tfjs ${backend.name}`,
    async dispose() {
      detector?.dispose();
      await classifier.dispose();
    },
  };
}
