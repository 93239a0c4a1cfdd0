// From a decoded image to the model's input in one pass: resize, augmentation and the backbone's
// preprocessing fused into a single inverse-mapped bilinear warp, with no intermediate image.
//
// The pipeline it reproduces is the study's: resize to the model's size (tf.image.resize,
// bilinear, half-pixel centres), then RandomFlip → RandomRotation → RandomZoom at that size, then
// preprocessing. Each step is an affine map from an output pixel to where it samples its input
// (Keras' transform matrices: rotation and zoom about the centre ((size-1)/2, (size-1)/2)), so the
// composition is one affine map from an output pixel to a source coordinate; the warp samples the
// source there once, bilinearly, with fill_mode "reflect" ([d c b a | a b c d | d c b a], as
// tf.raw_ops.ImageProjectiveTransformV3). Where Keras would reflect the already-rotated image
// again during the zoom, the fused map reflects the source once; inside the image both agree.
//
// Preprocessing (written as the pixel is produced):
//   'unit'  — x / 255 (small-cnn);
//   'caffe' — RGB→BGR and ImageNet mean subtraction, no scaling (Keras' resnet50.preprocess_input).

import type { Preprocessing } from '../config.js';
import type { Augmentation } from './augmentation.js';
import type { RgbImage } from './decode.js';

/** Source coordinate of output pixel (x, y): sx = xx·x + xy·y + x0, sy = yx·x + yy·y + y0 (pixel centres at integers). */
export interface AffineMap {
  xx: number;
  xy: number;
  x0: number;
  yx: number;
  yy: number;
  y0: number;
}

/** The map from a size x size output to a width x height source, through `augmentation`. */
export function sourceMap(augmentation: Augmentation, sourceWidth: number, sourceHeight: number, size: number): AffineMap {
  const centre = (size - 1) / 2;
  const cos = Math.cos(augmentation.angle);
  const sin = Math.sin(augmentation.angle);
  const mirror = augmentation.flip ? -1 : 1;
  const z = augmentation.zoom;
  const kx = sourceWidth / size;
  const ky = sourceHeight / size;
  // In the output frame: f = c + D·z·R·(p - c), D = diag(mirror, 1), R = [[cos, -sin], [sin, cos]]
  // (zoom about the centre, then rotation about it, then the mirror); then the half-pixel resize
  // s = (f + 0.5)·k - 0.5 into the source.
  const xx = kx * mirror * z * cos;
  const xy = kx * mirror * z * -sin;
  const yx = ky * z * sin;
  const yy = ky * z * cos;
  return {
    xx,
    xy,
    x0: kx * (centre + 0.5) - 0.5 - (xx + xy) * centre,
    yx,
    yy,
    y0: ky * (centre + 0.5) - 0.5 - (yx + yy) * centre,
  };
}

const CAFFE_MEAN_BGR = [103.939, 116.779, 123.68] as const;

/** Output channel c takes source channel order[c], times scale, plus bias[c]. */
interface ChannelPlan {
  order: readonly [number, number, number];
  scale: number;
  bias: readonly [number, number, number];
}

const PREPROCESSING: Record<Preprocessing, ChannelPlan> = {
  unit: { order: [0, 1, 2], scale: 1 / 255, bias: [0, 0, 0] },
  caffe: { order: [2, 1, 0], scale: 1, bias: [-CAFFE_MEAN_BGR[0], -CAFFE_MEAN_BGR[1], -CAFFE_MEAN_BGR[2]] },
};

/** Index of pixel `i` in a row or column of `n` pixels extended by half-sample reflection. */
export function reflectIndex(i: number, n: number): number {
  if (n === 1) return 0;
  const period = 2 * n;
  let m = i % period;
  if (m < 0) m += period;
  return m < n ? m : period - 1 - m;
}

/**
 * Writes the size x size x 3 model input for `image` seen through `map` into `target` at
 * `offset` (NHWC floats), preprocessed.
 */
export function warpInto(image: RgbImage, size: number, map: AffineMap, preprocessing: Preprocessing, target: Float32Array, offset: number): void {
  const { width, height, data } = image;
  const { order, scale, bias } = PREPROCESSING[preprocessing];
  const [c0, c1, c2] = order;
  const [b0, b1, b2] = bias;
  const rowBytes = width * 3;
  let out = offset;
  for (let y = 0; y < size; y++) {
    const rowX = map.xy * y + map.x0;
    const rowY = map.yy * y + map.y0;
    for (let x = 0; x < size; x++) {
      const sx = map.xx * x + rowX;
      const sy = map.yx * x + rowY;
      const fx = Math.floor(sx);
      const fy = Math.floor(sy);
      const ax = sx - fx;
      const ay = sy - fy;
      let left: number;
      let right: number;
      if (fx >= 0 && fx < width - 1) {
        left = fx * 3;
        right = left + 3;
      } else {
        left = reflectIndex(fx, width) * 3;
        right = reflectIndex(fx + 1, width) * 3;
      }
      let top: number;
      let bottom: number;
      if (fy >= 0 && fy < height - 1) {
        top = fy * rowBytes;
        bottom = top + rowBytes;
      } else {
        top = reflectIndex(fy, height) * rowBytes;
        bottom = reflectIndex(fy + 1, height) * rowBytes;
      }
      const w00 = (1 - ay) * (1 - ax);
      const w01 = (1 - ay) * ax;
      const w10 = ay * (1 - ax);
      const w11 = ay * ax;
      const i00 = top + left;
      const i01 = top + right;
      const i10 = bottom + left;
      const i11 = bottom + right;
      target[out++] = (data[i00 + c0]! * w00 + data[i01 + c0]! * w01 + data[i10 + c0]! * w10 + data[i11 + c0]! * w11) * scale + b0;
      target[out++] = (data[i00 + c1]! * w00 + data[i01 + c1]! * w01 + data[i10 + c1]! * w10 + data[i11 + c1]! * w11) * scale + b1;
      target[out++] = (data[i00 + c2]! * w00 + data[i01 + c2]! * w01 + data[i10 + c2]! * w10 + data[i11 + c2]! * w11) * scale + b2;
    }
  }
}
