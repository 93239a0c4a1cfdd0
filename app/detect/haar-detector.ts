// The study's detector: OpenCV's frontal-face Haar cascade (Viola-Jones), run by OpenCV.js
// (@techstark/opencv-js, OpenCV 4.5 compiled to WebAssembly). The cascade file is the one
// OpenCV ships, haarcascade_frontalface_default.xml, taken from the npm package opencv.js@1.2.1
// (byte-identical to Debian's opencv-data copy), so nothing is downloaded.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { RgbImage } from '../../shared/image/decode.js';
import { DetectorError, describeError } from '../../shared/errors.js';
import type { DetectedFace } from './face-box.js';
import type { FaceDetector } from './face-detector.js';

/** The part of OpenCV.js used here (its typings, mirada, describe far more than this). */
interface OpenCv {
  Mat: new () => CvMat;
  RectVector: new () => CvRectVector;
  Size: new (width: number, height: number) => unknown;
  CascadeClassifier: new () => { load(file: string): boolean; detectMultiScale(...args: unknown[]): void; delete(): void };
  CV_8UC3: number;
  COLOR_RGB2GRAY: number;
  matFromArray(rows: number, cols: number, type: number, data: ArrayLike<number>): CvMat;
  cvtColor(source: CvMat, target: CvMat, code: number): void;
  equalizeHist(source: CvMat, target: CvMat): void;
  FS_createDataFile(parent: string, name: string, data: Uint8Array, canRead: boolean, canWrite: boolean, canOwn: boolean): void;
  onRuntimeInitialized?: () => void;
}

interface CvMat {
  delete(): void;
}

interface CvRectVector {
  size(): number;
  get(i: number): { x: number; y: number; width: number; height: number };
  delete(): void;
}

export interface HaarOptions {
  /** Scale step between detection windows (OpenCV's default 1.1). */
  scaleFactor: number;
  /** Overlapping hits a face needs (OpenCV's default 3; 5 gives fewer false faces). */
  minNeighbors: number;
}

export const HAAR_DEFAULTS: HaarOptions = { scaleFactor: 1.1, minNeighbors: 5 };

const CASCADE_FILE = 'haarcascade_frontalface_default.xml';
/** The cascade's own window: it finds nothing smaller. */
const CASCADE_WINDOW = 24;

const require = createRequire(import.meta.url);
let openCv: Promise<{ cv: OpenCv }> | undefined;

/**
 * OpenCV.js, initialised once per process (its WebAssembly runtime takes ~0.3 s to start). The
 * module is a thenable whose then() hands back itself, so a promise resolved with it never
 * settles: it always travels wrapped in an object.
 */
function loadOpenCv(): Promise<{ cv: OpenCv }> {
  openCv ??= new Promise<{ cv: OpenCv }>((resolve) => {
    const cv = require('@techstark/opencv-js') as OpenCv;
    // The runtime may be ready already, or become so before the callback is set: poll as well.
    const ready = () => typeof cv.Mat === 'function' && typeof cv.CascadeClassifier === 'function';
    if (ready()) resolve({ cv });
    else {
      cv.onRuntimeInitialized = () => resolve({ cv });
      const poll = setInterval(() => {
        if (ready()) {
          clearInterval(poll);
          resolve({ cv });
        }
      }, 10);
      poll.unref();
    }
  }).then(({ cv }) => {
    const xml = readFileSync(path.join(path.dirname(require.resolve('opencv.js/package.json')), 'tests', CASCADE_FILE));
    cv.FS_createDataFile('/', CASCADE_FILE, xml, true, false, false);
    return { cv };
  });
  return openCv;
}

export async function loadHaarDetector(options: HaarOptions = HAAR_DEFAULTS): Promise<FaceDetector> {
  let cv: OpenCv;
  let cascade: InstanceType<OpenCv['CascadeClassifier']>;
  try {
    ({ cv } = await loadOpenCv());
    cascade = new cv.CascadeClassifier();
    if (!cascade.load(CASCADE_FILE)) throw new Error(`OpenCV could not parse ${CASCADE_FILE}`);
  } catch (cause) {
    throw new DetectorError('DETECTOR_UNAVAILABLE', `--detector haar: cannot load OpenCV.js or its face cascade: ${describeError(cause)}`, { cause });
  }
  return {
    name: 'haar',
    async detect(image: RgbImage, minFaceSide: number): Promise<DetectedFace[]> {
      const rgb = cv.matFromArray(image.height, image.width, cv.CV_8UC3, image.data);
      const grey = new cv.Mat();
      const found = new cv.RectVector();
      try {
        cv.cvtColor(rgb, grey, cv.COLOR_RGB2GRAY);
        // As OpenCV's face-detection sample does: contrast spread over the whole range first.
        cv.equalizeHist(grey, grey);
        const min = Math.max(CASCADE_WINDOW, Math.floor(minFaceSide));
        cascade.detectMultiScale(grey, found, options.scaleFactor, options.minNeighbors, 0, new cv.Size(min, min), new cv.Size(0, 0));
        const faces: DetectedFace[] = [];
        for (let i = 0; i < found.size(); i++) {
          const { x, y, width, height } = found.get(i);
          faces.push({ box: { x, y, width, height }, score: null });
        }
        return faces;
      } finally {
        rgb.delete();
        grey.delete();
        found.delete();
      }
    },
    dispose() {
      cascade.delete();
    },
  };
}
