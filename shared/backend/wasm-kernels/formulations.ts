// Every formulation of the kernels that have more than one, as a standalone kernel function, and the
// shape rule that picks the registered dW formulation: for bench/kernels.ts, which times them
// against each other, and for the parity tests, which keep both dW formulations exact whichever the
// rule picks. Training code only needs registerWasmTrainingKernels() from index.ts.

import * as tf from '@tensorflow/tfjs';
import { conv2dFilterGradKernel } from './conv2d-filter-grad.js';
import { conv2dInputGradKernel } from './conv2d-input-grad.js';
import { wasmKernel } from './wasm-kernel.js';

export { chooseFilterGradFormulation } from './conv2d-filter-grad.js';
export { chooseInputGradFormulation } from './conv2d-input-grad.js';

export const kernelFormulations = {
  conv2dBackpropFilter: {
    'pointwise-matmul': wasmKernel(tf.Conv2DBackpropFilter, conv2dFilterGradKernel('pointwise-matmul')).kernelFunc,
    'im2col-matmul': wasmKernel(tf.Conv2DBackpropFilter, conv2dFilterGradKernel('im2col-matmul')).kernelFunc,
    'transposed-conv': wasmKernel(tf.Conv2DBackpropFilter, conv2dFilterGradKernel('transposed-conv')).kernelFunc,
  },
  conv2dBackpropInput: {
    'pointwise-conv': wasmKernel(tf.Conv2DBackpropInput, conv2dInputGradKernel('pointwise-conv')).kernelFunc,
    'sub-pixel-conv': wasmKernel(tf.Conv2DBackpropInput, conv2dInputGradKernel('sub-pixel-conv')).kernelFunc,
    'upsampled-conv': wasmKernel(tf.Conv2DBackpropInput, conv2dInputGradKernel('upsampled-conv')).kernelFunc,
  },
} as const;
