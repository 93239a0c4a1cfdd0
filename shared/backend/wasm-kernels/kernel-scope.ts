// Running wasm kernels inside our kernels: each of ours is a few calls to fast native wasm kernels
// (XNNPACK) and single JS passes over the wasm heap, with intermediates that must all be freed
// whichever step throws.

import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { BackendError } from '../../errors.js';
import { WASM } from './wasm-kernel.js';

/**
 * Calls wasm kernels directly (no engine, no tape) and frees every intermediate it made, also when
 * a step throws. Each TensorInfo a kernel returns holds one reference (Reshape shares the data and
 * increments its refcount), so disposing each once is exact.
 */
export class KernelScope {
  private readonly owned = new Set<tf.TensorInfo>();

  constructor(
    private readonly backend: BackendWasm,
    private readonly kernelName: string,
  ) {}

  run(kernelName: string, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap = {}): tf.TensorInfo {
    const kernel = tf.getKernel(kernelName, WASM);
    if (kernel === undefined) {
      throw new BackendError('BACKEND_UNAVAILABLE', `wasm ${this.kernelName}: the wasm backend has no ${kernelName} kernel to build on`);
    }
    const out = kernel.kernelFunc({ inputs, backend: this.backend, attrs });
    if (Array.isArray(out)) {
      out.forEach((info) => this.owned.add(info));
      throw new BackendError('BACKEND_UNAVAILABLE', `wasm ${this.kernelName}: ${kernelName} returned ${out.length} tensors, expected one`);
    }
    this.owned.add(out);
    return out;
  }

  reshape(x: tf.TensorInfo, shape: number[]): tf.TensorInfo {
    return this.run('Reshape', { x }, { shape });
  }

  /** Uninitialised float32 memory on the wasm heap. */
  alloc(shape: number[]): tf.TensorInfo {
    const out = this.backend.makeOutput(shape, 'float32');
    this.owned.add(out);
    return out;
  }

  /**
   * A Float32Array over the tensor's memory on the wasm heap. Any allocation may grow the heap and
   * detach earlier views, so take views after allocating and drop them before the next allocation.
   */
  view(info: tf.TensorInfo): Float32Array {
    const values = this.backend.typedArrayFromHeap(info);
    if (!(values instanceof Float32Array)) {
      throw new BackendError('BACKEND_UNAVAILABLE', `wasm ${this.kernelName}: expected float32 data, got ${info.dtype}`);
    }
    return values;
  }

  /** Frees an intermediate before the scope ends (keeps peak memory down in chunked loops). */
  free(...infos: tf.TensorInfo[]): void {
    for (const info of infos) {
      if (this.owned.delete(info)) this.backend.disposeData(info.dataId);
    }
  }

  /** Hands a result over to the caller: the scope will not free it. */
  keep(info: tf.TensorInfo): tf.TensorInfo {
    this.owned.delete(info);
    return info;
  }

  dispose(): void {
    for (const info of this.owned) this.backend.disposeData(info.dataId);
    this.owned.clear();
  }
}

export function inScope(backend: BackendWasm, kernelName: string, body: (scope: KernelScope) => tf.TensorInfo): tf.TensorInfo {
  const scope = new KernelScope(backend, kernelName);
  try {
    return scope.keep(body(scope));
  } finally {
    scope.dispose();
  }
}
