// The emotion classifier behind predict and serve, on either runtime (--runtime): tfjs runs the
// checkpoint as training saved it (the backend --backend picks, wasm on a CPU), onnxruntime runs
// the same weights converted in memory by export/onnx (onnxruntime-node's bundled CPU runtime).
// Either way the model is loaded once and takes batches of prepared face crops.

import * as tf from '@tensorflow/tfjs';
import { NUM_CLASSES } from '../../shared/classes.js';
import type { Preprocessing } from '../../shared/config.js';
import { describeError, RuntimeError } from '../../shared/errors.js';
import { loadLayersModelFromDir } from '../../shared/model-io.js';
import { tfjsModelToOnnx } from '../../export/onnx/tfjs-to-onnx.js';
import type { ModelSource } from '../../shared/checkpoint-source.js';

export const RUNTIMES = ['tfjs', 'onnx'] as const;
export type Runtime = (typeof RUNTIMES)[number];

export interface EmotionClassifier {
  readonly runtime: Runtime;
  readonly imageSize: number;
  readonly preprocessing: Preprocessing;
  /** `count` inputs (count x size x size x 3, NHWC, preprocessed) → count x 7 probabilities. */
  classify(inputs: Float32Array, count: number): Promise<Float32Array>;
  dispose(): Promise<void>;
}

export async function loadClassifier(source: ModelSource, runtime: Runtime): Promise<EmotionClassifier> {
  const model = await loadLayersModelFromDir(source.dir);
  if (runtime === 'tfjs') return tfjsClassifier(model, source);
  try {
    return await onnxClassifier(model, source);
  } finally {
    model.dispose();
  }
}

function tfjsClassifier(model: tf.LayersModel, source: ModelSource): EmotionClassifier {
  const { imageSize, preprocessing } = source.meta;
  return {
    runtime: 'tfjs',
    imageSize,
    preprocessing,
    async classify(inputs, count) {
      // As evaluation runs it (shared/evaluation.ts): one predict over the batch, read back at once.
      return tf.tidy(() => (model.predict(tf.tensor4d(inputs, [count, imageSize, imageSize, 3])) as tf.Tensor2D).dataSync() as Float32Array);
    },
    async dispose() {
      model.dispose();
    },
  };
}

async function onnxClassifier(model: tf.LayersModel, source: ModelSource): Promise<EmotionClassifier> {
  const { imageSize, preprocessing } = source.meta;
  let ort: typeof import('onnxruntime-node');
  try {
    ort = await import('onnxruntime-node');
  } catch (cause) {
    throw new RuntimeError('RUNTIME_UNAVAILABLE', `--runtime onnx: onnxruntime-node cannot be loaded: ${describeError(cause)}`, { cause });
  }
  const graph = tfjsModelToOnnx(model, { meta: source.meta });
  const session = await ort.InferenceSession.create(graph.bytes, { graphOptimizationLevel: 'all' });
  return {
    runtime: 'onnx',
    imageSize,
    preprocessing,
    async classify(inputs, count) {
      const feeds = { [graph.inputName]: new ort.Tensor('float32', inputs, [count, imageSize, imageSize, 3]) };
      const outputs = await session.run(feeds);
      const probabilities = outputs[graph.outputName]!;
      try {
        const data = probabilities.data as Float32Array;
        if (data.length !== count * NUM_CLASSES) throw new RuntimeError('RUNTIME_UNAVAILABLE', `the ONNX model gave ${data.length} values for ${count} faces, expected ${count * NUM_CLASSES}`);
        return Float32Array.from(data);
      } finally {
        probabilities.dispose();
      }
    },
    async dispose() {
      await session.release();
    },
  };
}
