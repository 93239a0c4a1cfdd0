// Weights sources for the --weights tests, made in the test: Keras HDF5 files written by
// keras-h5-writer.py (h5py, as Keras writes them; needs Debian's python3-h5py), TensorFlow.js
// model directories and emotrain checkpoints written with the project's own savers.

import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as tf from '@tensorflow/tfjs';
import { CheckpointStore, STATE_VERSION, type TrainingState } from '../../coordinator/checkpoint-store.js';
import { AdamOptimizer } from '../../shared/adam.js';
import { EMOTION_CLASSES } from '../../shared/classes.js';
import type { WorkerConfig } from '../../shared/config.js';
import { layersModelFiles } from '../../shared/model-io.js';
import { buildReplicaModel, type ReplicaModel } from '../../shared/replica-model.js';
import { StateLayout } from '../../shared/state-layout.js';
import { FIXTURE_MODEL } from './fixture-run.js';

const WRITER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'keras-h5-writer.py');
// Debian's interpreter, which python3-h5py installs into (a pyenv or venv python3 may lack h5py).
const PYTHON = '/usr/bin/python3';

export interface KerasLayerSpec {
  name: string;
  weights: Array<{ name: string; shape: number[] }>;
}

export interface KerasFileSpec {
  layers: 'keras-resnet50-notop' | KerasLayerSpec[];
  seed?: number;
  /** Standard deviation of the random values (default 1). */
  scale?: number;
  strings?: 'fixed' | 'vlen';
  root?: '' | 'model_weights';
  chunks?: number;
  dtype?: 'float32' | 'float64';
  bare?: boolean;
}

export interface WrittenTensor {
  layer: string;
  weight: string;
  shape: number[];
  values: Float32Array;
}

/** Writes `file` as Keras would and returns every tensor written, under its layer and weight name. */
export function writeKerasH5(file: string, spec: KerasFileSpec): WrittenTensor[] {
  const valuesFile = `${file}.values`;
  const output = execFileSync(PYTHON, [WRITER], { input: JSON.stringify({ ...spec, out: file, values: valuesFile }), maxBuffer: 16 << 20 });
  const manifest = JSON.parse(output.toString()) as Array<{ layer: string; weight: string; shape: number[]; offset: number }>;
  if (spec.bare) return [];
  const bytes = readFileSync(valuesFile);
  const all = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  return manifest.map(({ layer, weight, shape, offset }) => ({ layer, weight, shape, values: all.slice(offset, offset + shape.reduce((a, b) => a * b, 1)) }));
}

/** The small CNN's layers as a Keras model with the same names would save them (backbone only, as an ImageNet file has no head). */
export function smallCnnKerasLayers(options: { head?: { predictionsUnits: number } } = {}): KerasLayerSpec[] {
  const conv = (name: string, cin: number, cout: number): KerasLayerSpec => ({ name, weights: [{ name: 'kernel', shape: [3, 3, cin, cout] }, { name: 'bias', shape: [cout] }] });
  const layers: KerasLayerSpec[] = [
    { name: 'input_1', weights: [] },
    conv('conv1_conv', 3, 16),
    conv('conv2_conv', 16, 32),
    conv('conv3_conv', 32, 64),
    conv('conv4_conv', 64, 128),
  ];
  if (options.head) {
    const units = options.head.predictionsUnits;
    layers.push(
      { name: 'head_pool', weights: [] },
      { name: 'head_dense', weights: [{ name: 'kernel', shape: [128, 128] }, { name: 'bias', shape: [128] }] },
      { name: 'head_dropout', weights: [] },
      { name: 'predictions', weights: [{ name: 'kernel', shape: [128, units] }, { name: 'bias', shape: [units] }] },
    );
  }
  return layers;
}

/** The small CNN every test here loads weights into (the fixture run's model). */
export const SMALL_CNN: WorkerConfig = FIXTURE_MODEL;

/** A model whose every weight is distinct from a seed-42 build: built from another seed, then shifted by a pattern. */
export function distinctReplica(config: WorkerConfig): ReplicaModel {
  const replica = buildReplicaModel({ ...config, seed: 4242 });
  replica.state.slots.forEach((slot, s) => slot.values.forEach((v, i) => (slot.values[i] = v + 0.001 * ((s * 7 + i) % 13))));
  replica.state.writeToModel();
  return replica;
}

/** Saves `model` as a TensorFlow.js layers directory whose weights are split over two shard files, as tensorflowjs_converter splits them. */
export async function writeTfjsDirectory(dir: string, model: tf.LayersModel): Promise<void> {
  const files = await layersModelFiles(model);
  const modelJson = JSON.parse(files['model.json']) as tf.io.ModelJSON;
  const weights = files['weights.bin'];
  const cut = Math.floor(weights.byteLength / 2);
  modelJson.weightsManifest = [{ paths: ['group1-shard1of2.bin', 'group1-shard2of2.bin'], weights: modelJson.weightsManifest[0]!.weights }];
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'model.json'), JSON.stringify(modelJson));
  writeFileSync(path.join(dir, 'group1-shard1of2.bin'), weights.subarray(0, cut));
  writeFileSync(path.join(dir, 'group1-shard2of2.bin'), weights.subarray(cut));
}

/** A run directory with checkpoints/best and checkpoints/last of `replica`, written by the checkpoint store. */
export async function writeCheckpointRun(runDir: string, replica: ReplicaModel, config: WorkerConfig, kinds: ReadonlyArray<'best' | 'last'> = ['best', 'last']): Promise<void> {
  mkdirSync(path.join(runDir, 'checkpoints'), { recursive: true });
  writeFileSync(path.join(runDir, 'config.json'), JSON.stringify({ runId: 'earlier', ...config }));
  const store = new CheckpointStore(path.join(runDir, 'checkpoints'));
  const meta = { runId: 'earlier', epoch: 3, step: 30, valAccuracy: 0.5, valLoss: 1.5, model: config.model, imageSize: config.imageSize, preprocessing: config.preprocessing, classes: EMOTION_CLASSES, savedAt: new Date(0).toISOString() };
  if (kinds.includes('best')) await store.saveBest(replica.model, meta);
  if (kinds.includes('last')) {
    // The training state and optimiser are resume's business; --weights reads model.json + weights.bin only.
    const layout = new StateLayout(replica.state, new AdamOptimizer(replica.state.trainable.length));
    const state: TrainingState = {
      version: STATE_VERSION,
      epochsCompleted: 3,
      step: 30,
      optimizerIteration: 30,
      plateau: { learningRate: 1e-3, best: 1.5, wait: 0, cooldownCounter: 0 },
      lossScaler: { scale: 32768, goodSteps: 30, skippedSteps: 0, consecutiveSkips: 0 },
      bestValAccuracy: 0.5,
      trainableElements: layout.trainableElements,
      stateElements: layout.stateElements,
    };
    await store.saveLast(replica.model, meta, state, layout);
  }
}
