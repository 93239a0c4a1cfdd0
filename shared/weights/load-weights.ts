// --weights PATH (issue 9, point 5): find out what PATH is, read it, map it onto the model by
// layer name, and write the values into the model state's slots — the state the coordinator's
// shadow model sends every joining worker (FetchState), so loading it once before the run starts
// is enough. Everything is checked before a single value is written: on any error the state is
// as it was.

import type * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { WeightsError } from '../errors.js';
import type { ModelState } from '../model-state.js';
import { isHeadLayer } from '../models/head.js';
import { readKerasH5 } from './keras-h5.js';
import { locateWeights, type LocatedWeights } from './source-kind.js';
import { splitWeightName, type SourceLayer } from './source-weights.js';
import { readCheckpointMeta, readTfjsLayers } from './tfjs-layers.js';
import { planWeights, type TargetLayer, type WeightPlan } from './weight-plan.js';
import { describeWeights, weightsRecord, type WeightsFile, type WeightsRecord } from './weights-report.js';

// Older keras.applications releases shipped ResNet50 weights under the layer names of the original
// Caffe port (bn_conv1, res2a_branch2a); the model here has today's names (conv1_bn, conv2_block1_1_conv).
const ORIGINAL_RESNET50_NAMES = /^(bn_conv1|res\d[a-f]_branch\w+|bn\d[a-f]_branch\w+)$/;
const ORIGINAL_RESNET50_HINT =
  "The file uses the layer names of the original ResNet50 port (bn_conv1, res2a_branch2a), not today's keras.applications names (conv1_bn, conv2_block1_1_conv): use the current resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5 (README, \"Pretrained weights\")";

export interface PretrainedWeights {
  record: WeightsRecord;
  plan: WeightPlan;
  /** What to print, one line each. */
  lines: string[];
}

interface ReadSource {
  name: string;
  layers: SourceLayer[];
  files: WeightsFile[];
  notes: string[];
  /** Said after a mismatch, when the source looks like a known near miss. */
  mismatchHint?: string;
}

export interface WeightsTarget {
  model: tf.LayersModel;
  state: ModelState;
}

export async function loadPretrainedWeights(given: string, target: WeightsTarget, modelName: string): Promise<PretrainedWeights> {
  return loadLocatedWeights(locateWeights(given), target, modelName);
}

/** loadPretrainedWeights for a source already located (the coordinator locates it before it prepares the dataset). */
export async function loadLocatedWeights(located: LocatedWeights, target: WeightsTarget, modelName: string): Promise<PretrainedWeights> {
  const source = await readSource(located, modelName);
  let plan: WeightPlan;
  try {
    plan = planWeights({ targets: targetLayers(target.model, target.state), source: source.layers, sourceName: source.name, modelName });
  } catch (error) {
    if (error instanceof WeightsError && source.mismatchHint) throw new WeightsError(error.code, `${error.message.replace(/[^.?!]$/, '$&.')} ${source.mismatchHint}`, { cause: error });
    throw error;
  }
  for (const { slot, values } of plan.assignments) target.state.slots[slot]!.values.set(values);
  target.state.writeToModel();
  return {
    record: weightsRecord({ path: located.path, kind: located.kind, files: source.files }, plan),
    plan,
    lines: describeWeights(plan, { sourceName: source.name, modelName, files: source.files, notes: source.notes }),
  };
}

/** The model's layers as the plan sees them: names, whether they are the head, and each weight's slot. */
export function targetLayers(model: tf.LayersModel, state: ModelState): TargetLayer[] {
  const slotOf = new Map(state.slots.map((slot, index) => [slot.variable, index]));
  return model.layers.map((layer) => ({
    name: layer.name,
    className: layer.getClassName(),
    head: isHeadLayer(layer.name),
    tensors: layer.weights.map((variable) => ({
      name: splitWeightName(variable.originalName ?? variable.name, layer.name).weight,
      shape: variable.shape.map((d) => d ?? 1),
      slot: slotOf.get(variable)!,
    })),
  }));
}

async function readSource(located: LocatedWeights, modelName: string): Promise<ReadSource> {
  switch (located.kind) {
    case 'keras-h5': {
      let bytes: Buffer;
      try {
        bytes = readFileSync(located.path);
      } catch (cause) {
        throw new WeightsError('WEIGHTS_UNREADABLE', `cannot read ${located.path}: ${(cause as Error).message}`, { cause });
      }
      const layers = await readKerasH5(located.path, bytes);
      const mismatchHint = layers.some((layer) => ORIGINAL_RESNET50_NAMES.test(layer.name)) ? ORIGINAL_RESNET50_HINT : undefined;
      return { name: `the Keras HDF5 file ${located.path}`, layers, files: [digest(located.path, bytes)], notes: [], ...(mismatchHint ? { mismatchHint } : {}) };
    }
    case 'tfjs-layers': {
      const read = readTfjsLayers(located.path);
      const notes = read.optimizerWeights > 0 ? [`the model's ${read.optimizerWeights} saved optimizer weights are not used: the optimiser starts afresh`] : [];
      return { name: `the TensorFlow.js model ${located.path}`, layers: read.layers, files: read.files.map(digestFile), notes };
    }
    case 'emotrain-checkpoint': {
      const meta = readCheckpointMeta(located.path);
      if (meta.model !== modelName) {
        throw new WeightsError('WEIGHTS_MISMATCH', `${located.path} is a checkpoint of a ${meta.model} run (${meta.runId}), but this run trains ${modelName}`);
      }
      const read = readTfjsLayers(located.path);
      return {
        name: `the emotrain checkpoint ${located.path} (run ${meta.runId}, epoch ${meta.epoch}, val_accuracy ${meta.valAccuracy})`,
        layers: read.layers,
        files: read.files.map(digestFile),
        notes: ['weights only: the optimiser, step, learning rate and loss scale start afresh (coordinator --resume continues a run instead)'],
      };
    }
  }
}

function digest(file: string, bytes: Uint8Array): WeightsFile {
  return { path: file, bytes: bytes.byteLength, sha256: createHash('sha256').update(bytes).digest('hex') };
}

function digestFile(file: string): WeightsFile {
  return digest(file, readFileSync(file));
}
