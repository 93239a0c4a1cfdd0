// DepthwiseConv2dNativeBackpropInput (depthwise dx) for the wasm backend, which has none.

import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { depthwiseInfo, inputGradInputs } from './checks.js';
import { correlationInput } from './correlation-input.js';
import { inScope } from './kernel-scope.js';

/**
 * Depthwise dx as a stride-1 XNNPACK depthwise conv of the zero-upsampled dy with the spatially
 * flipped filter, dilated like the forward conv. A channel multiplier m > 1 becomes C*m channels
 * with multiplier 1, summed back over m.
 */
export function depthwiseInputGrad(backend: BackendWasm, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap): tf.TensorInfo {
  const kernelName = tf.DepthwiseConv2dNativeBackpropInput;
  const { dy, filter, info } = inputGradInputs(kernelName, inputs, attrs, depthwiseInfo);
  const [kh, kw, channels, multiplier] = filter.shape;
  return inScope(backend, kernelName, (scope) => {
    const flipped = scope.reshape(scope.run('Reverse', { x: filter }, { dims: [0, 1] }), [kh, kw, channels * multiplier, 1]);
    const { input, pad } = correlationInput(scope, dy, info);
    const perProduct = scope.run('DepthwiseConv2dNative', { x: input, filter: flipped }, {
      strides: [1, 1],
      dilations: [info.dilationHeight, info.dilationWidth],
      pad,
    });
    if (multiplier === 1) return perProduct;
    const split = scope.reshape(perProduct, [info.batchSize, info.inHeight, info.inWidth, channels, multiplier]);
    return scope.run('Sum', { x: split }, { axis: [4], keepDims: false });
  });
}
