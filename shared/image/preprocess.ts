// Turning RGB bytes into the model's input. Bilinear resampling with TF2's half-pixel centres
// (tf.image.resize, what Keras' Resizing layer does), then the backbone's input preprocessing:
//   'unit'  — x / 255 (small-cnn);
//   'caffe' — RGB→BGR and ImageNet mean subtraction, no scaling (Keras' resnet50.preprocess_input).
// Writes straight into a batch buffer so that no per-sample float arrays are allocated.

import type { Preprocessing } from '../config.js';
import type { RgbImage } from './decode.js';

const CAFFE_MEAN_BGR = [103.939, 116.779, 123.68] as const;

export interface Placement {
  /** Mirror horizontally while sampling (augmentation). */
  flip: boolean;
}

/**
 * Resizes `image` to size x size into `target` at `offset` (NHWC floats), preprocessed.
 */
export function resizeInto(
  image: RgbImage,
  size: number,
  preprocessing: Preprocessing,
  target: Float32Array,
  offset: number,
  placement: Placement = { flip: false },
): void {
  const { width, height, data } = image;
  const scaleX = width / size;
  const scaleY = height / size;
  const caffe = preprocessing === 'caffe';
  let out = offset;
  for (let y = 0; y < size; y++) {
    const sy = Math.min(Math.max((y + 0.5) * scaleY - 0.5, 0), height - 1);
    const y0 = Math.floor(sy);
    const y1 = Math.min(y0 + 1, height - 1);
    const fy = sy - y0;
    for (let x = 0; x < size; x++) {
      const xd = placement.flip ? size - 1 - x : x;
      const sx = Math.min(Math.max((xd + 0.5) * scaleX - 0.5, 0), width - 1);
      const x0 = Math.floor(sx);
      const x1 = Math.min(x0 + 1, width - 1);
      const fx = sx - x0;
      const i00 = (y0 * width + x0) * 3;
      const i01 = (y0 * width + x1) * 3;
      const i10 = (y1 * width + x0) * 3;
      const i11 = (y1 * width + x1) * 3;
      const w00 = (1 - fy) * (1 - fx);
      const w01 = (1 - fy) * fx;
      const w10 = fy * (1 - fx);
      const w11 = fy * fx;
      const r = data[i00]! * w00 + data[i01]! * w01 + data[i10]! * w10 + data[i11]! * w11;
      const g = data[i00 + 1]! * w00 + data[i01 + 1]! * w01 + data[i10 + 1]! * w10 + data[i11 + 1]! * w11;
      const b = data[i00 + 2]! * w00 + data[i01 + 2]! * w01 + data[i10 + 2]! * w10 + data[i11 + 2]! * w11;
      if (caffe) {
        target[out++] = b - CAFFE_MEAN_BGR[0];
        target[out++] = g - CAFFE_MEAN_BGR[1];
        target[out++] = r - CAFFE_MEAN_BGR[2];
      } else {
        target[out++] = r / 255;
        target[out++] = g / 255;
        target[out++] = b / 255;
      }
    }
  }
}
