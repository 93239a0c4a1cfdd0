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

/** The artifacts of a layers-format model directory, for tf.io.fromMemory. Errors name the file that is missing or malformed. */
export function readLayersModelArtifacts(dir: string): tf.io.ModelArtifacts {
  const modelJsonPath = path.join(dir, 'model.json');
  let modelJson: tf.io.ModelJSON;
  try {
    modelJson = JSON.parse(readFileSync(modelJsonPath, 'utf8')) as tf.io.ModelJSON;
  } catch (cause) {
    throw new CheckpointError('CHECKPOINT_INVALID', `cannot read ${modelJsonPath}: ${(cause as Error).message}`, { cause });
  }
  if (modelJson === null || typeof modelJson !== 'object' || !Array.isArray(modelJson.weightsManifest)) {
    throw new CheckpointError('CHECKPOINT_INVALID', `${modelJsonPath} has no weightsManifest: it is not a TensorFlow.js model.json`);
  }
  const weightSpecs: tf.io.WeightsManifestEntry[] = [];
  const buffers: ArrayBuffer[] = [];
  for (const group of modelJson.weightsManifest) {
    weightSpecs.push(...group.weights);
    for (const file of group.paths) {
      let bytes: Buffer;
      try {
        bytes = readFileSync(path.join(dir, file));
      } catch (cause) {
        throw new CheckpointError('CHECKPOINT_INVALID', `${modelJsonPath} lists weight file ${file}, which cannot be read: ${(cause as Error).message}`, { cause });
      }
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

export interface NamedWeight {
  /** As model.json names it: `conv1_conv/kernel`. */
  name: string;
  shape: number[];
  values: Float32Array;
  /** tfjs' weight group: `optimizer` for optimizer state saved with the model, else model weights. */
  group: 'model' | 'optimizer';
}

// Bytes per stored value: the quantized type when there is one, else the dtype's.
const QUANTIZED_BYTES: Record<string, number> = { uint8: 1, uint16: 2, float16: 2 };
const DTYPE_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, complex64: 8 };

/**
 * The weights of a layers-format directory, dequantised to float32 by tfjs' own decoder, after
 * checking that the weight files hold exactly the bytes model.json declares (a truncated or
 * padded file would otherwise shift every weight after it).
 */
export function readLayersWeights(dir: string): NamedWeight[] {
  const artifacts = readLayersModelArtifacts(dir);
  const modelJson = path.join(dir, 'model.json');
  const specs = artifacts.weightSpecs ?? [];
  let declared = 0;
  for (const spec of specs) {
    const bytes = spec.quantization ? QUANTIZED_BYTES[spec.quantization.dtype] : DTYPE_BYTES[spec.dtype];
    if (bytes === undefined) throw new CheckpointError('CHECKPOINT_INVALID', `${modelJson}: weight ${spec.name} is stored as ${spec.quantization?.dtype ?? spec.dtype}, which has no numeric values to read`);
    declared += spec.shape.reduce((a, b) => a * b, 1) * bytes;
  }
  const data = tf.io.CompositeArrayBuffer.join(artifacts.weightData!);
  if (declared !== data.byteLength) {
    throw new CheckpointError('CHECKPOINT_INVALID', `${dir}: model.json declares ${declared} bytes of weights, the weight files hold ${data.byteLength}`);
  }
  const tensors = tf.io.decodeWeights(data, specs);
  try {
    return specs.map((spec) => {
      const tensor = tensors[spec.name]!;
      if (tensor.dtype !== 'float32') throw new CheckpointError('CHECKPOINT_INVALID', `${modelJson}: weight ${spec.name} is ${tensor.dtype}; only float weights can be read`);
      // A copy: the cpu backend may hand out the tensor's own storage.
      return { name: spec.name, shape: spec.shape, values: (tensor.dataSync() as Float32Array).slice(), group: spec.group ?? 'model' };
    });
  } finally {
    tf.dispose(Object.values(tensors));
  }
}

/**
 * Reads the weights of a layers-format directory (model.json + its weight files) into `state`'s
 * slots, by weight name, checking shapes and file sizes: no tfjs model is built. Every slot must
 * be found; the error names the weight, the file and both shapes.
 */
export function readLayersWeightsInto(dir: string, state: ModelState): void {
  const modelJson = path.join(dir, 'model.json');
  const byName = new Map(readLayersWeights(dir).map((weight) => [weight.name, weight]));
  for (const slot of state.slots) {
    const weight = byName.get(slot.name);
    if (!weight) throw new CheckpointError('CHECKPOINT_INVALID', `${modelJson} has no weight ${slot.name} (shape [${slot.shape}]) of the configured model`);
    if (weight.shape.join('x') !== slot.shape.join('x')) {
      throw new CheckpointError('CHECKPOINT_INVALID', `${modelJson}: weight ${slot.name} has shape [${weight.shape}], the configured model's has [${slot.shape}]`);
    }
    slot.values.set(weight.values);
  }
}
