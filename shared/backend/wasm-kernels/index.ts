// Training kernels for the tfjs 'wasm' backend (@tensorflow/tfjs-backend-wasm 4.22.0), which has no
// Conv2DBackpropFilter, DepthwiseConv2dNativeBackpropFilter or DepthwiseConv2dNativeBackpropInput,
// a naive-loop Conv2DBackpropInput (2.5-16x slower than ours), a MaxPoolGrad that is 2-3.5x
// slower than a plain JS scan and sends a tied window's gradient to the *last* maximum where the
// cpu backend sends it to the first, and an Identity that copies every tensor the tape saves.
// One file per kernel in this folder. (BatchNorm's training pass is not a kernel: see
// shared/models/batch-norm-training.ts.)
//
// Every kernel here is an exact rewrite onto fast wasm kernels (XNNPACK Conv2D / depthwise conv /
// fully-connected matmul / average pooling) or a single JS pass over the wasm heap; the results agree
// with the cpu backend up to float32 summation order (test/wasm-training-kernels.test.ts). wasm's own
// Conv3DBackprop*V2 kernels are deliberately not used: they are wrong for strides > 1.
//
// Kernels are registered by backend name, so registration works before or after
// tf.setBackend('wasm'). Layout is NHWC only, like the wasm backend itself; anything else throws a
// BackendError naming the attribute instead of computing something wrong. Timings behind the choices
// come from bench/kernels.ts (2-core machine, single-threaded wasm). Training code needs only this
// module; formulations.ts exposes the alternatives for that benchmark and the parity tests.

import * as tf from '@tensorflow/tfjs';
import { conv2dFilterGradKernel } from './conv2d-filter-grad.js';
import { conv2dInputGradKernel } from './conv2d-input-grad.js';
import { depthwiseFilterGrad } from './depthwise-filter-grad.js';
import { depthwiseInputGrad } from './depthwise-input-grad.js';
import { identity } from './identity.js';
import { maxPoolGrad } from './max-pool-grad.js';
import { WASM, wasmKernel } from './wasm-kernel.js';

const TRAINING_KERNELS: readonly tf.KernelConfig[] = [
  wasmKernel(tf.Conv2DBackpropFilter, conv2dFilterGradKernel('by-shape')),
  wasmKernel(tf.Conv2DBackpropInput, conv2dInputGradKernel('by-shape')),
  wasmKernel(tf.DepthwiseConv2dNativeBackpropFilter, depthwiseFilterGrad),
  wasmKernel(tf.DepthwiseConv2dNativeBackpropInput, depthwiseInputGrad),
  wasmKernel(tf.MaxPoolGrad, maxPoolGrad),
  wasmKernel(tf.Identity, identity),
];

/** What each kernel name was registered as before we replaced it (undefined: nothing). */
const originals = new Map<string, tf.KernelConfig | undefined>();

/**
 * Registers the training kernels for the 'wasm' backend, replacing wasm's Conv2DBackpropInput,
 * MaxPoolGrad and Identity. Idempotent: returns the kernel names it registered or replaced, [] when all were
 * already in place.
 */
export function registerWasmTrainingKernels(): string[] {
  const changed: string[] = [];
  for (const config of TRAINING_KERNELS) {
    const current = tf.getKernel(config.kernelName, WASM);
    if (current === config) continue;
    if (current !== undefined) tf.unregisterKernel(config.kernelName, WASM);
    tf.registerKernel(config);
    if (!originals.has(config.kernelName)) originals.set(config.kernelName, current);
    changed.push(config.kernelName);
  }
  return changed;
}

/** Restores the kernel registry to what it was before registerWasmTrainingKernels(). */
export function unregisterWasmTrainingKernels(): void {
  // A native kernel's setupFunc (its cwrap of the C++ entry point) runs when the backend
  // initializes, so one that was replaced before tf.setBackend('wasm') was never set up.
  const initialized = tf.engine().registry[WASM];
  for (const [kernelName, original] of originals) {
    if (tf.getKernel(kernelName, WASM) !== undefined) tf.unregisterKernel(kernelName, WASM);
    if (original === undefined) continue;
    tf.registerKernel(original);
    if (initialized !== undefined) original.setupFunc?.(initialized);
  }
  originals.clear();
}
