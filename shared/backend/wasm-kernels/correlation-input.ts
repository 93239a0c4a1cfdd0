// What the input-gradient kernels (Conv2DBackpropInput, DepthwiseConv2dNativeBackpropInput)
// correlate with a flipped filter: dy placed on a zero canvas in one JS pass over the wasm heap, or
// dy itself when explicit padding is enough.

import type * as tf from '@tensorflow/tfjs';
import type { Conv2DInfo, Shape4 } from './checks.js';
import type { KernelScope } from './kernel-scope.js';

export type ExplicitPadding = [[number, number], [number, number], [number, number], [number, number]];

/**
 * Places `dy` [N, OH, OW, C] on a zero [N, rows, cols, C] canvas at (top + oh * strideH,
 * left + ow * strideW); positions outside the canvas are dropped. This is the zero-upsampled,
 * padded (or cropped) output gradient that a stride-1 correlation turns into an input gradient.
 */
export function scatterOntoCanvas(
  scope: KernelScope,
  dy: tf.TensorInfo,
  canvas: { rows: number; cols: number; top: number; left: number; strideHeight: number; strideWidth: number },
): tf.TensorInfo {
  const [n, outH, outW, channels] = dy.shape as Shape4;
  const { rows, cols, top, left, strideHeight, strideWidth } = canvas;
  const out = scope.alloc([n, rows, cols, channels]);
  const dst = scope.view(out);
  const src = scope.view(dy);
  dst.fill(0);
  for (let b = 0; b < n; b++) {
    for (let oh = 0; oh < outH; oh++) {
      const r = top + oh * strideHeight;
      if (r < 0 || r >= rows) continue;
      for (let ow = 0; ow < outW; ow++) {
        const c = left + ow * strideWidth;
        if (c < 0 || c >= cols) continue;
        const from = ((b * outH + oh) * outW + ow) * channels;
        dst.set(src.subarray(from, from + channels), ((b * rows + r) * cols + c) * channels);
      }
    }
  }
  return out;
}

/**
 * The input of the stride-1 correlation that computes an input gradient, with its padding:
 * dy zero-upsampled by the strides, with (keff - 1 - padTop) rows before it, so that correlating
 * with the flipped filter (dilated like the forward conv) gives exactly inputHeight rows.
 * Stride 1 with non-negative padding needs no copy: dy itself with explicit padding.
 */
export function correlationInput(scope: KernelScope, dy: tf.TensorInfo, info: Conv2DInfo): { input: tf.TensorInfo; pad: ExplicitPadding } {
  const keH = (info.filterHeight - 1) * info.dilationHeight + 1;
  const keW = (info.filterWidth - 1) * info.dilationWidth + 1;
  const top = keH - 1 - info.padInfo.top;
  const left = keW - 1 - info.padInfo.left;
  const rows = info.inHeight + keH - 1;
  const cols = info.inWidth + keW - 1;
  const bottom = rows - top - ((info.outHeight - 1) * info.strideHeight + 1);
  const right = cols - left - ((info.outWidth - 1) * info.strideWidth + 1);
  const strided = info.strideHeight > 1 || info.strideWidth > 1;
  if (!strided && top >= 0 && left >= 0 && bottom >= 0 && right >= 0) {
    return { input: dy, pad: [[0, 0], [top, bottom], [left, right], [0, 0]] };
  }
  const canvas = { rows, cols, top, left, strideHeight: info.strideHeight, strideWidth: info.strideWidth };
  return { input: scatterOntoCanvas(scope, dy, canvas), pad: [[0, 0], [0, 0], [0, 0], [0, 0]] };
}
