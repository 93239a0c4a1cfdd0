// From a decoded image to the model's input in one pass: resize, augmentation and the backbone's
// preprocessing fused into a single inverse-mapped bilinear warp, with no intermediate image.
//
// The pipeline it reproduces is the study's: resize to the model's size (tf.image.resize,
// bilinear, half-pixel centres), then RandomFlip → RandomRotation → RandomZoom (→ RandomTranslation)
// at that size, then preprocessing. Each step is an affine map from an output pixel to where it samples its input
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

/** A rectangle of the source in pixels (edges, not centres: the whole image is 0, 0, width, height). */
export interface SourceRegion {
  left: number;
  top: number;
  width: number;
  height: number;
}

/**
 * The map from a size x size output to a width x height source, through `augmentation`. With
 * `region`, the output shows that rectangle of the source (a face found in a photo) as the
 * resize would show a source of exactly that rectangle; without it, the whole source.
 */
export function sourceMap(augmentation: Augmentation, sourceWidth: number, sourceHeight: number, size: number, region?: SourceRegion): AffineMap {
  const centre = (size - 1) / 2;
  const cos = Math.cos(augmentation.angle);
  const sin = Math.sin(augmentation.angle);
  const mirror = augmentation.flip ? -1 : 1;
  const z = augmentation.zoom;
  const kx = (region?.width ?? sourceWidth) / size;
  const ky = (region?.height ?? sourceHeight) / size;
  // In the output frame: f = c + D·z·R·(p - c), D = diag(mirror, 1), R = [[cos, -sin], [sin, cos]]
  // (zoom about the centre, then rotation about it, then the mirror); then the half-pixel resize
  // s = (f + 0.5)·k - 0.5 into the source.
  const xx = kx * mirror * z * cos;
  const xy = kx * mirror * z * -sin;
  const yx = ky * z * sin;
  const yy = ky * z * cos;
  // RandomTranslation comes last: an output pixel p samples the zoomed image at p - t.
  const tx = (augmentation.shiftX ?? 0) * size;
  const ty = (augmentation.shiftY ?? 0) * size;
  // The region's corner is added last, so the whole image (no region) gives the same bits as ever.
  return {
    xx,
    xy,
    x0: kx * (centre + 0.5) - 0.5 - (xx + xy) * centre - (xx * tx + xy * ty) + (region?.left ?? 0),
    yx,
    yy,
    y0: ky * (centre + 0.5) - 0.5 - (yx + yy) * centre - (yx * tx + yy * ty) + (region?.top ?? 0),
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
  const { xx, yx } = map;
  let out = offset;
  for (let y = 0; y < size; y++) {
    // Stepping along a row adds (xx, yx) per pixel; exact for the integer steps of a plain flip.
    let sx = map.xy * y + map.x0;
    let sy = map.yy * y + map.y0;
    for (let x = 0; x < size; x++, sx += xx, sy += yx) {
      const fx = Math.floor(sx);
      const fy = Math.floor(sy);
      const ax = sx - fx;
      const ay = sy - fy;
      let i00: number;
      let i01: number;
      let i10: number;
      let i11: number;
      if (fx >= 0 && fx < width - 1 && fy >= 0 && fy < height - 1) {
        i00 = fy * rowBytes + fx * 3;
        i01 = i00 + 3;
        i10 = i00 + rowBytes;
        i11 = i10 + 3;
      } else {
        const left = reflectIndex(fx, width) * 3;
        const right = reflectIndex(fx + 1, width) * 3;
        const top = reflectIndex(fy, height) * rowBytes;
        const bottom = reflectIndex(fy + 1, height) * rowBytes;
        i00 = top + left;
        i01 = top + right;
        i10 = bottom + left;
        i11 = bottom + right;
      }
      // Bilinear as two horizontal lerps and a vertical one, per output channel.
      let above = data[i00 + c0]!;
      let below = data[i10 + c0]!;
      above += (data[i01 + c0]! - above) * ax;
      below += (data[i11 + c0]! - below) * ax;
      target[out++] = (above + (below - above) * ay) * scale + b0;
      above = data[i00 + c1]!;
      below = data[i10 + c1]!;
      above += (data[i01 + c1]! - above) * ax;
      below += (data[i11 + c1]! - below) * ax;
      target[out++] = (above + (below - above) * ay) * scale + b1;
      above = data[i00 + c2]!;
      below = data[i10 + c2]!;
      above += (data[i01 + c2]! - above) * ax;
      below += (data[i11 + c2]! - below) * ax;
      target[out++] = (above + (below - above) * ay) * scale + b2;
    }
  }
}
