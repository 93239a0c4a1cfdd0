// `emotrain export RUN_DIR --format onnx|tfjs [--out PATH]`: the trained model for other runtimes.
// onnx: one .onnx file (export/onnx/), checked before the command returns by running it in
// onnxruntime beside tfjs on a few inputs; tfjs: a plain layers-model directory (model.json,
// weights.bin, meta.json) that tf.loadLayersModel, `emotrain predict --model` and a browser load.

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { writeDirectoryAtomically } from '../shared/atomic-dir.js';
import { selectBackend } from '../shared/backend/select-backend.js';
import type { BackendChoice } from '../shared/config.js';
import { ExportError } from '../shared/errors.js';
import { layersModelFiles, loadLayersModelFromDir } from '../shared/model-io.js';
import { resolveModelSource, type CheckpointKind, type ModelSource } from '../shared/checkpoint-source.js';
import { tfjsModelToOnnx } from './onnx/tfjs-to-onnx.js';

export const EXPORT_FORMATS = ['onnx', 'tfjs'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export interface ExportOptions {
  run: string;
  format: ExportFormat;
  checkpoint: CheckpointKind;
  /** Default: <checkpoint's run>/export/model.onnx or <run>/export/tfjs. */
  out?: string;
  backend: BackendChoice;
  log: (line: string) => void;
}

/** Largest difference between onnxruntime's and tfjs' probabilities the self-check accepts. */
const CHECK_TOLERANCE = 1e-4;
const CHECK_INPUTS = 4;

export async function runExport(options: ExportOptions): Promise<string> {
  const source = resolveModelSource(options.run, options.checkpoint, 'export');
  await selectBackend(options.backend);
  const out = path.resolve(options.out ?? path.join(defaultExportDir(options.run, source), options.format === 'onnx' ? 'model.onnx' : 'tfjs'));
  const model = await loadLayersModelFromDir(source.dir);
  try {
    if (options.format === 'tfjs') {
      writeDirectoryAtomically(out, { ...(await layersModelFiles(model)), 'meta.json': readFileSync(path.join(source.dir, 'meta.json')) });
      options.log(`wrote ${out} (model.json, weights.bin, meta.json: ${source.meta.model}, ${source.meta.imageSize}px ${source.meta.preprocessing} inputs)`);
      return out;
    }
    const exported = tfjsModelToOnnx(model, { meta: source.meta });
    mkdirSync(path.dirname(out), { recursive: true });
    writeFileSync(out, exported.bytes);
    const difference = await compareWithOnnxRuntime(model, exported.bytes, source, out);
    options.log(
      `wrote ${out} (${(exported.bytes.length / 1e6).toFixed(1)} MB, ${exported.layerCount} layers; input "${exported.inputName}" float32 [batch, ${source.meta.imageSize}, ${source.meta.imageSize}, 3] NHWC, ${source.meta.preprocessing}-preprocessed; output "${exported.outputName}" [batch, 7]); onnxruntime agrees with tfjs to ${difference.toExponential(1)} on ${CHECK_INPUTS} inputs`,
    );
    return out;
  } finally {
    model.dispose();
  }
}

/** <run>/export for a run directory; <checkpoint>-export beside a checkpoint directory given itself. */
function defaultExportDir(given: string, source: ModelSource): string {
  const dir = path.resolve(given);
  return source.dir === dir ? path.join(path.dirname(dir), `${path.basename(dir)}-export`) : path.join(dir, 'export');
}

/** Runs the written file in onnxruntime and tfjs on the same inputs; the largest probability difference. */
async function compareWithOnnxRuntime(model: tf.LayersModel, bytes: Uint8Array, source: ModelSource, file: string): Promise<number> {
  const ort = await import('onnxruntime-node');
  const { imageSize } = source.meta;
  const shape = [CHECK_INPUTS, imageSize, imageSize, 3];
  const inputs = tf.tidy(() => tf.randomUniform(shape, source.meta.preprocessing === 'caffe' ? -120 : 0, source.meta.preprocessing === 'caffe' ? 150 : 1, 'float32', 10).dataSync() as Float32Array);
  const expected = tf.tidy(() => (model.predict(tf.tensor4d(inputs, shape as [number, number, number, number])) as tf.Tensor).dataSync());
  const session = await ort.InferenceSession.create(bytes);
  try {
    const outputs = await session.run({ [session.inputNames[0]!]: new ort.Tensor('float32', inputs, shape) });
    const actual = outputs[session.outputNames[0]!]!.data as Float32Array;
    let worst = 0;
    for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!));
    if (!(worst <= CHECK_TOLERANCE)) {
      throw new ExportError('EXPORT_FAILED', `${file}: onnxruntime's probabilities differ from tfjs' by ${worst} (more than ${CHECK_TOLERANCE}); the export is wrong, please report it`);
    }
    return worst;
  } finally {
    await session.release();
  }
}
