// Reads a TensorFlow.js layers model directory (model.json + weight files) — one that
// tensorflowjs_converter wrote from a Keras model, or an emotrain checkpoint — into SourceLayers.
// tfjs names each weight <layer>/<weight> (conv1_conv/kernel), so the layer comes from the name.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { CheckpointMeta } from '../checkpoint-meta.js';
import { CheckpointError, WeightsError } from '../errors.js';
import { readLayersWeights, type NamedWeight } from '../model-io.js';
import { groupByLayer, splitWeightName, type SourceLayer } from './source-weights.js';

export interface TfjsLayersWeights {
  layers: SourceLayer[];
  /** The files read: model.json, then the weight files in manifest order. */
  files: string[];
  /** Optimizer state saved along with the model, which fine-tuning does not take. */
  optimizerWeights: number;
}

export function readTfjsLayers(dir: string): TfjsLayersWeights {
  const modelJson = path.join(dir, 'model.json');
  const files = [modelJson, ...weightFiles(modelJson).map((file) => path.join(dir, file))];
  let weights: NamedWeight[];
  try {
    weights = readLayersWeights(dir);
  } catch (cause) {
    if (cause instanceof CheckpointError) throw new WeightsError('WEIGHTS_UNREADABLE', cause.message, { cause });
    throw cause;
  }
  const modelWeights = weights.filter((weight) => weight.group === 'model');
  const entries = modelWeights.map((weight) => {
    const { layer, weight: name } = splitWeightName(weight.name, weight.name);
    return { layer, tensor: { name, shape: weight.shape, values: weight.values, origin: `${modelJson} weight ${weight.name}` } };
  });
  return { layers: groupByLayer(entries, modelJson), files, optimizerWeights: weights.length - modelWeights.length };
}

/** An emotrain checkpoint's meta.json: which run and model it is from. */
export function readCheckpointMeta(dir: string): CheckpointMeta {
  const file = path.join(dir, 'meta.json');
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as CheckpointMeta;
  } catch (cause) {
    throw new WeightsError('WEIGHTS_UNREADABLE', `cannot read the checkpoint's ${file}: ${(cause as Error).message}`, { cause });
  }
}

/** The weight files model.json lists; a graph model (weights named by graph node, not by layer) is refused here. */
function weightFiles(modelJson: string): string[] {
  let parsed: { format?: string; weightsManifest?: Array<{ paths?: string[] }> };
  try {
    parsed = JSON.parse(readFileSync(modelJson, 'utf8')) as typeof parsed;
  } catch (cause) {
    throw new WeightsError('WEIGHTS_UNREADABLE', `cannot read ${modelJson}: ${(cause as Error).message}`, { cause });
  }
  if (parsed?.format === 'graph-model') {
    throw new WeightsError(
      'WEIGHTS_UNRECOGNIZED',
      `${modelJson} is a TensorFlow.js graph model, whose weights are named by graph node, not by layer; convert the Keras model as a layers model (tensorflowjs_converter --output_format tfjs_layers_model)`,
    );
  }
  return (parsed?.weightsManifest ?? []).flatMap((group) => group.paths ?? []);
}
