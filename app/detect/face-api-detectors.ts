// The DNN face detectors of @vladmandic/face-api: tiny_face_detector (a Tiny YOLO v2, 190 KB) and
// ssd_mobilenetv1 (5.4 MB). Both ship inside the npm package with their weights, and its
// face-api.node-wasm.js entry runs them on the tfjs instance emotrain already uses (it requires
// @tensorflow/tfjs and the wasm backend, the same modules), so they load offline with no native code.

import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { RgbImage } from '../../shared/image/decode.js';
import { DetectorError, describeError } from '../../shared/errors.js';
import type { DetectedFace } from './face-box.js';
import type { FaceDetector } from './face-detector.js';

/** The part of face-api's surface used here (its bundled typings carry a second copy of tfjs' types). */
interface FaceApi {
  nets: { tinyFaceDetector: FaceApiNet; ssdMobilenetv1: FaceApiNet };
  TinyFaceDetectorOptions: new (options: { inputSize: number; scoreThreshold: number }) => unknown;
  SsdMobilenetv1Options: new (options: { minConfidence: number; maxResults: number }) => unknown;
  detectAllFaces(input: tf.Tensor3D, options: unknown): Promise<Array<{ score: number; box: { x: number; y: number; width: number; height: number } }>>;
}

interface FaceApiNet {
  isLoaded: boolean;
  loadFromDisk(dir: string): Promise<void>;
}

export type FaceApiDetectorName = 'tiny-face-detector' | 'ssd-mobilenetv1';

export interface FaceApiOptions {
  /** Minimum detector score for a face (face-api's default 0.5 for both). */
  minScore: number;
  /** tiny_face_detector's input side (a multiple of 32; face-api's default 416). */
  inputSize: number;
}

export const FACE_API_DEFAULTS: FaceApiOptions = { minScore: 0.5, inputSize: 416 };

const require = createRequire(import.meta.url);

export async function loadFaceApiDetector(name: FaceApiDetectorName, options: FaceApiOptions = FACE_API_DEFAULTS): Promise<FaceDetector> {
  let faceApi: FaceApi;
  let modelDir: string;
  try {
    faceApi = require('@vladmandic/face-api/dist/face-api.node-wasm.js') as FaceApi;
    modelDir = path.join(path.dirname(require.resolve('@vladmandic/face-api/package.json')), 'model');
    const net = name === 'tiny-face-detector' ? faceApi.nets.tinyFaceDetector : faceApi.nets.ssdMobilenetv1;
    if (!net.isLoaded) await net.loadFromDisk(modelDir);
  } catch (cause) {
    throw new DetectorError('DETECTOR_UNAVAILABLE', `--detector ${name}: cannot load @vladmandic/face-api's model: ${describeError(cause)}`, { cause });
  }
  const detectorOptions =
    name === 'tiny-face-detector'
      ? new faceApi.TinyFaceDetectorOptions({ inputSize: options.inputSize, scoreThreshold: options.minScore })
      : new faceApi.SsdMobilenetv1Options({ minConfidence: options.minScore, maxResults: 100 });
  return {
    name,
    async detect(image: RgbImage): Promise<DetectedFace[]> {
      const input = tf.tensor3d(image.data, [image.height, image.width, 3], 'int32');
      try {
        const found = await faceApi.detectAllFaces(input, detectorOptions);
        return found.map(({ score, box }) => ({ box: { x: box.x, y: box.y, width: box.width, height: box.height }, score }));
      } finally {
        input.dispose();
      }
    },
    // The nets stay loaded for the process: face-api keeps them in module-level singletons.
    dispose() {},
  };
}
