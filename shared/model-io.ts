// Saving and loading TensorFlow.js layers-format models (model.json + weights.bin) with plain
// fs: pure tfjs has no file:// handler in Node (BACKENDS.md). What is written is exactly what
// tfjs-node's file:// saver writes, so tf.loadLayersModel loads it anywhere.

import * as tf from '@tensorflow/tfjs';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { CheckpointError } from './errors.js';

export const WEIGHTS_FILE = 'weights.bin';

/** The files of a layers-format save of `model`: model.json and weights.bin. */
export async function layersModelFiles(model: tf.LayersModel): Promise<{ 'model.json': string; 'weights.bin': Uint8Array }> {
  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (saved) => {
      artifacts = saved;
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(saved) };
    }),
  );
  if (!artifacts?.weightData || !artifacts.weightSpecs) throw new CheckpointError('CHECKPOINT_WRITE_FAILED', 'tfjs produced no weights to save');
  const weightData = tf.io.CompositeArrayBuffer.join(artifacts.weightData);
  const modelJson: tf.io.ModelJSON = {
    modelTopology: artifacts.modelTopology!,
    format: artifacts.format ?? 'layers-model',
    generatedBy: artifacts.generatedBy ?? `TensorFlow.js tfjs-layers v${tf.version_layers}`,
    convertedBy: artifacts.convertedBy ?? null,
    weightsManifest: [{ paths: [WEIGHTS_FILE], weights: artifacts.weightSpecs }],
    ...(artifacts.trainingConfig ? { trainingConfig: artifacts.trainingConfig } : {}),
  };
  return { 'model.json': JSON.stringify(modelJson), 'weights.bin': new Uint8Array(weightData) };
}

/** The artifacts of a layers-format model directory, for tf.io.fromMemory. */
export function readLayersModelArtifacts(dir: string): tf.io.ModelArtifacts {
  const modelJsonPath = path.join(dir, 'model.json');
  let modelJson: tf.io.ModelJSON;
  try {
    modelJson = JSON.parse(readFileSync(modelJsonPath, 'utf8')) as tf.io.ModelJSON;
  } catch (cause) {
    throw new CheckpointError('CHECKPOINT_INVALID', `cannot read ${modelJsonPath}: ${(cause as Error).message}`, { cause });
  }
  const weightSpecs: tf.io.WeightsManifestEntry[] = [];
  const buffers: ArrayBuffer[] = [];
  for (const group of modelJson.weightsManifest ?? []) {
    weightSpecs.push(...group.weights);
    for (const file of group.paths) {
      const bytes = readFileSync(path.join(dir, file));
      buffers.push(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
    }
  }
  return {
    modelTopology: modelJson.modelTopology,
    weightSpecs,
    weightData: tf.io.CompositeArrayBuffer.join(buffers),
    format: modelJson.format,
    generatedBy: modelJson.generatedBy,
    convertedBy: modelJson.convertedBy,
  };
}

export async function loadLayersModelFromDir(dir: string): Promise<tf.LayersModel> {
  return tf.loadLayersModel(tf.io.fromMemory(readLayersModelArtifacts(dir)));
}
