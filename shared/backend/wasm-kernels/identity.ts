// Identity for the wasm backend, replacing wasm's own, which copies the tensor. tfjs clones with
// Identity every tensor a gradient saves for the backward pass (engine.saveTensorsForBackwardMode),
// so wasm copied each saved activation once per training step: 334 copies and ~4% of a
// mini-xception step (bench/model-step.ts --profile), and twice the memory for what the tape
// keeps. This one shares the data and counts a reference, as the cpu backend's Identity and wasm's
// own Reshape do; no wasm kernel writes into its inputs, so the sharing is never observable.

import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { BackendError } from '../../errors.js';

export function identity(backend: BackendWasm, inputs: tf.NamedTensorInfoMap): tf.TensorInfo {
  const x = inputs['x'];
  if (x === undefined) throw new BackendError('BACKEND_UNAVAILABLE', `wasm ${tf.Identity}: input 'x' is missing`);
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
}
