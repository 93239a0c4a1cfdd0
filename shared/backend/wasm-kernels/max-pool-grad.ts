// MaxPoolGrad for the wasm backend, replacing wasm's own kernel, which is 2-3.5x slower than this
// plain JS scan and breaks ties differently from the cpu backend (below).

import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { checkedConvInfo, float32Input, requireShape } from './checks.js';
import { inScope } from './kernel-scope.js';

/**
 * One JS pass: for every pooling window, the gradient goes to the FIRST strictly largest in-bounds
 * input (row-major), as in the cpu backend's maxPoolPositions; NaN never wins and an all -Infinity
 * window passes nothing. wasm's native kernel gives ties to the last maximum instead, which after a
 * ReLU (windows of zeros) changes the gradient.
 */
export function maxPoolGrad(backend: BackendWasm, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap): tf.TensorInfo {
  const kernelName = tf.MaxPoolGrad;
  const dy = float32Input(inputs, 'dy', kernelName);
  const x = float32Input(inputs, 'input', kernelName);
  const { filterSize, strides, pad, dimRoundingMode } = attrs as unknown as tf.MaxPoolGradAttrs;
  const info = checkedConvInfo(kernelName, tf.backend_util.computePool2DInfo(x.shape, filterSize, strides, 1, pad, dimRoundingMode));
  requireShape(kernelName, 'dy', dy.shape, info.outShape);
  const { batchSize: n, inHeight, inWidth, inChannels: channels, outHeight, outWidth } = info;
  const { strideHeight: sh, strideWidth: sw, filterHeight: fh, filterWidth: fw } = info;
  return inScope(backend, kernelName, (scope) => {
    const dx = scope.alloc([n, inHeight, inWidth, channels]);
    const grad = scope.view(dx);
    const xs = scope.view(x);
    const dys = scope.view(dy);
    grad.fill(0);
    const best = new Float32Array(channels);
    const bestAt = new Int32Array(channels);
    for (let b = 0; b < n; b++) {
      for (let oh = 0; oh < outHeight; oh++) {
        const h0 = oh * sh - info.padInfo.top;
        const hEnd = Math.min(inHeight, h0 + fh);
        for (let ow = 0; ow < outWidth; ow++) {
          const w0 = ow * sw - info.padInfo.left;
          const wEnd = Math.min(inWidth, w0 + fw);
          best.fill(-Infinity);
          bestAt.fill(-1);
          for (let h = Math.max(0, h0); h < hEnd; h++) {
            for (let w = Math.max(0, w0); w < wEnd; w++) {
              const base = ((b * inHeight + h) * inWidth + w) * channels;
              for (let c = 0; c < channels; c++) {
                const v = xs[base + c];
                if (v > best[c]) {
                  best[c] = v;
                  bestAt[c] = base + c;
                }
              }
            }
          }
          const dyBase = ((b * outHeight + oh) * outWidth + ow) * channels;
          for (let c = 0; c < channels; c++) {
            const at = bestAt[c];
            if (at >= 0) grad[at] += dys[dyBase + c];
          }
        }
      }
    }
    return dx;
  });
}
