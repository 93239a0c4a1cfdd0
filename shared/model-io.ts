// Saving and loading TensorFlow.js layers-format models (model.json + weights.bin) with plain
// fs: pure tfjs has no file:// handler in Node (BACKENDS.md). What is written is exactly what
// tfjs-node's file:// saver writes, so tf.loadLayersModel loads it anywhere.

import * as tf from '@tensorflow/tfjs';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { CheckpointError } from './errors.js';
import type { ModelState } from './model-state.js';

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

/**
 * Reads the weights of a layers-format directory (model.json + its weight files) into `state`'s
 * slots, by weight name, checking dtype, shape and file sizes: no tfjs model is built. Every slot
 * must be found; the error names the weight, the file and both shapes.
 */
export function readLayersWeightsInto(dir: string, state: ModelState): void {
  const artifacts = readLayersModelArtifacts(dir);
  const data = new Uint8Array(tf.io.CompositeArrayBuffer.join(artifacts.weightData!));
  const modelJson = path.join(dir, 'model.json');
  const byName = new Map<string, { offset: number; shape: number[] }>();
  let offset = 0;
  for (const spec of artifacts.weightSpecs ?? []) {
    if (spec.dtype !== 'float32' || spec.quantization) {
      throw new CheckpointError('CHECKPOINT_INVALID', `${modelJson}: weight ${spec.name} is ${spec.quantization ? 'quantized' : spec.dtype}; only float32 weights can be read`);
    }
    byName.set(spec.name, { offset, shape: spec.shape });
    offset += spec.shape.reduce((a, b) => a * b, 1) * 4;
  }
  if (offset !== data.byteLength) {
    throw new CheckpointError('CHECKPOINT_INVALID', `${dir}: model.json declares ${offset} bytes of weights, the weight files hold ${data.byteLength}`);
  }
  for (const slot of state.slots) {
    const spec = byName.get(slot.name);
    if (!spec) throw new CheckpointError('CHECKPOINT_INVALID', `${modelJson} has no weight ${slot.name} (shape [${slot.shape}]) of the configured model`);
    if (spec.shape.join('x') !== slot.shape.join('x')) {
      throw new CheckpointError('CHECKPOINT_INVALID', `${modelJson}: weight ${slot.name} has shape [${spec.shape}], the configured model's has [${slot.shape}]`);
    }
    slot.values.set(new Float32Array(data.buffer.slice(data.byteOffset + spec.offset, data.byteOffset + spec.offset + slot.size * 4)));
  }
}
