// DepthwiseConv2dNativeBackpropFilter (depthwise dW) for the wasm backend, which has none.

import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { depthwiseInfo, filterGradInputs } from './checks.js';
import { inScope } from './kernel-scope.js';
import { dyOnGrid, padAndSplitPhases, phaseGridFor } from './phase-grid.js';

/**
 * Depthwise dW, tap by tap: dW[i, j, c, q] = sum over positions of x_tap[p, c] * dy[p, c*m + q].
 * x is split by stride phase (as for im2col), so each tap is one contiguous copy; then one XNNPACK
 * Multiply and one XNNPACK average pool over all positions (times the count) per tap. Three fast
 * passes per tap: 142 ms for x [32,48,48,96] 3x3/1, where a single JS loop took ~430 ms, a
 * slice/multiply/sum-per-tap formulation ~1 s and the cpu backend's kernel 87 s; on [8,24,24,32]
 * 1.8 ms against 472 ms for the cpu kernel (bench/kernels.ts --cpu). A depthwise forward conv of
 * the transposed tensors (x as [1, H, W, C*N], dy as a [OH, OW, C*N, 1] filter, then a sum over N)
 * is 1.7-4.6x slower on mini-xception's layers: XNNPACK's depthwise conv is made for small kernels.
 */
export function depthwiseFilterGrad(backend: BackendWasm, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap): tf.TensorInfo {
  const kernelName = tf.DepthwiseConv2dNativeBackpropFilter;
  const { x, dy, info } = filterGradInputs(kernelName, inputs, attrs, depthwiseInfo);
  const { filterShape } = attrs as unknown as tf.DepthwiseConv2dNativeBackpropFilterAttrs;
  const [kh, kw, channels, multiplier] = filterShape;
  const { batchSize: n, inHeight, inWidth, outChannels } = info;
  return inScope(backend, kernelName, (scope) => {
    const grid = phaseGridFor(info);
    const phases = padAndSplitPhases(scope, x, { planes: n, height: inHeight, width: inWidth, depth: channels }, grid);
    const dyGrid = dyOnGrid(scope, dy, grid);
    const { positions } = grid;
    const dyTaps = scope.alloc(multiplier === 1 ? [positions, channels] : [positions, channels, multiplier]);
    scope.view(dyTaps).set(scope.view(dyGrid).subarray(0, positions * outChannels));
    scope.free(dyGrid);

    const phaseSize = n * grid.gridHeight * grid.gridWidth;
    const sums = new Float64Array(kh * kw * outChannels);
    grid.taps.forEach(({ phase, offset }, t) => {
      const start = (phase * phaseSize + offset) * channels;
      const tap = scope.alloc(multiplier === 1 ? [positions, channels] : [positions, channels, 1]);
      scope.view(tap).set(scope.view(phases).subarray(start, start + positions * channels));
      const products = scope.run('Multiply', { a: tap, b: dyTaps });
      const asImage = scope.reshape(products, [1, 1, positions, outChannels]);
      const mean = scope.run('AvgPool', { x: asImage }, { filterSize: [1, positions], strides: [1, positions], pad: 'valid' });
      const means = scope.view(mean);
      for (let k = 0; k < outChannels; k++) sums[t * outChannels + k] = means[k] * positions;
      scope.free(tap, products, asImage, mean);
    });
    const out = scope.alloc([kh, kw, channels, multiplier]);
    scope.view(out).set(sums);
    return out;
  });
}
