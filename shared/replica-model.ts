// Building the model a run trains, from its WorkerConfig: the same call on the coordinator and on
// every worker gives the same architecture, the same weight layout and (from the seed) the same
// initial weights.

import type * as tf from '@tensorflow/tfjs';
import type { WorkerConfig } from './config.js';
import { ModelState } from './model-state.js';
import { buildModel, parseFreeze, updatableStateVariables, type ModelSpec } from './models/index.js';

export function modelSpecOf(config: WorkerConfig): ModelSpec {
  return {
    name: config.model,
    imageSize: config.imageSize,
    seed: config.seed,
    freeze: parseFreeze(config.freeze),
    head: config.head ?? 'study',
    dropout: config.dropout,
    l2: config.l2,
  };
}

export interface ReplicaModel {
  model: tf.LayersModel;
  state: ModelState;
}

export function buildReplicaModel(config: WorkerConfig): ReplicaModel {
  const model = buildModel(modelSpecOf(config));
  return { model, state: ModelState.fromModel(model, updatableStateVariables(model)) };
}
