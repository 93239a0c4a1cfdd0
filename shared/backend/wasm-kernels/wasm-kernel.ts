// How a kernel of ours becomes a tfjs kernel: a body that receives the wasm backend itself, wrapped
// in the KernelConfig that tf.registerKernel takes. Configs name the backend rather than hold it,
// which is what lets registration happen before or after tf.setBackend('wasm').

import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

export const WASM = 'wasm';

export type KernelBody = (backend: BackendWasm, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap) => tf.TensorInfo;

export function wasmKernel(kernelName: string, body: KernelBody): tf.KernelConfig {
  return {
    kernelName,
    backendName: WASM,
    kernelFunc: ({ inputs, backend, attrs }) => body(backend as BackendWasm, inputs, attrs ?? {}),
  };
}
