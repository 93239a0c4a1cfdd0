// The resolved settings of a run (SPEC §1, §4). The coordinator resolves them once from flags and
// the optional config file, writes them to config.json, and sends the part workers need
// (`WorkerConfig`) in the Join reply, so every replica builds the same model the same way.

import { ConfigError } from './errors.js';
import { STUDY_AUGMENTATION, type AugmentationSettings } from './image/augmentation.js';
import type { HeadName } from './models/head.js';
import { MODEL_NAMES, type ModelName, validateModelSpec } from './models/model-spec.js';
import { modelSpecOf } from './replica-model.js';
import type { WeightsRecord } from './weights/index.js';
import { checkValSplit } from './dataset/split.js';

export { MODEL_NAMES, type ModelName };
export type Precision = 'fp16' | 'fp32';
/** How gradients are reduced: through the coordinator (star) or peer to peer (ring). */
export type AllReduce = 'star' | 'ring';
export const ALLREDUCE_CHOICES: readonly AllReduce[] = ['star', 'ring'];
export type Preprocessing = 'unit' | 'caffe';
export type BackendChoice = 'auto' | 'tfjs-node-gpu' | 'tfjs-node' | 'wasm' | 'cpu';

export const BACKEND_CHOICES: readonly BackendChoice[] = ['auto', 'tfjs-node-gpu', 'tfjs-node', 'wasm', 'cpu'];

/** What every worker needs to build and train its replica identically. */
export interface WorkerConfig {
  model: ModelName;
  imageSize: number;
  freeze: string;
  /** The model's ending (--head); absent in runs made before mini-xception: the study's. */
  head?: HeadName;
  dropout: number;
  l2: number;
  seed: number;
  precision: Precision;
  /** Absent in runs made before it existed: star. */
  allreduce?: AllReduce;
  /** Samples per forward/backward pass inside a worker; 0 = the whole shard at once. */
  microBatch: number;
  augment: boolean;
  /** The augmentation knobs (Keras factors); absent in runs made before they existed: the study's. */
  augmentation?: AugmentationSettings;
  preprocessing: Preprocessing;
  /**
   * How long a peer's ring stream may send nothing while something is due: the coordinator's
   * --stream-idle-timeout, sent to workers with the config (never in config.json). Absent: 60 s.
   */
  streamIdleTimeoutMs?: number;
}

export interface PlateauConfig {
  monitor: 'val_loss';
  factor: number;
  patience: number;
  minDelta: number;
  cooldown: number;
  minLr: number;
}

/** Keras' EarlyStopping settings (coordinator/callbacks/early-stopping.ts). */
export interface EarlyStoppingConfig {
  monitor: 'loss' | 'accuracy' | 'val_loss' | 'val_accuracy';
  minDelta: number;
  patience: number;
  mode: 'auto' | 'min' | 'max';
  baseline: number | null;
  restoreBestWeights: boolean;
  startFromEpoch: number;
}

export const EARLY_STOPPING_MONITORS: readonly EarlyStoppingConfig['monitor'][] = ['val_loss', 'val_accuracy', 'loss', 'accuracy'];

export interface RunConfig extends WorkerConfig {
  runId: string;
  dataset: string;
  syntheticCount: number;
  epochs: number;
  /** Steps per epoch; 0 = as many as the training set needs (Keras' steps_per_epoch). */
  stepsPerEpoch: number;
  globalBatch: number;
  learningRate: number;
  plateau: PlateauConfig;
  /** Absent or null: no early stopping. */
  earlyStopping?: EarlyStoppingConfig | null;
  initialLossScale: number;
  lossScaleGrowthInterval: number;
  backend: BackendChoice;
  gpus: number;
  remoteWorkers: number;
  listen: string;
  runsDir: string;
  /** What the initial weights were loaded from (--weights); null or absent: seed-initialised. */
  weights?: WeightsRecord | null;
  /** --val-split: the fraction of the non-test data held out for val; absent: 1/9 (shared/dataset/split.ts). */
  valSplit?: number;
}

/**
 * Defaults that depend on the model: the reference recipe for resnet50, a quick CPU one for
 * small-cnn, and mini-xception as its paper trains it on FER2013 (Arriaga et al. 2017): 48 px
 * (FER2013's own size, so no resampling), from scratch (nothing to freeze: it has no pretrained
 * weights), Adam at Keras' default 1e-3 (the paper's optimiser), pixels as x / 255 (its
 * preprocess_input goes on to 2x - 1; the first layer, a bias-free 'valid' convolution followed by
 * BatchNorm, absorbs that affine map exactly, but for BN's epsilon and the scale the L2 term sees),
 * and its own ending, provisionally: the lead engineer measures both on FER2013.
 */
export const MODEL_DEFAULTS: Record<ModelName, { imageSize: number; freeze: string; learningRate: number; preprocessing: Preprocessing; head: HeadName }> = {
  resnet50: { imageSize: 224, freeze: '40', learningRate: 1e-4, preprocessing: 'caffe', head: 'study' },
  'small-cnn': { imageSize: 64, freeze: 'none', learningRate: 1e-3, preprocessing: 'unit', head: 'study' },
  'mini-xception': { imageSize: 48, freeze: 'none', learningRate: 1e-3, preprocessing: 'unit', head: 'paper' },
};

export function workerConfigOf(config: RunConfig): WorkerConfig {
  const { model, imageSize, freeze, dropout, l2, seed, precision, microBatch, augment, preprocessing } = config;
  return { model, imageSize, freeze, head: config.head ?? 'study', dropout, l2, seed, precision, allreduce: config.allreduce ?? 'star', microBatch, augment, augmentation: config.augmentation ?? { ...STUDY_AUGMENTATION }, preprocessing };
}

function requireInteger(name: string, value: number, min: number, max = Number.MAX_SAFE_INTEGER): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError('CONFIG_INVALID', `--${name} must be an integer in [${min}, ${max}], got ${value}`);
  }
}

function requireNumber(name: string, value: number, min: number, max: number, exclusiveMin = false): void {
  if (!Number.isFinite(value) || value > max || (exclusiveMin ? value <= min : value < min)) {
    const low = exclusiveMin ? `(${min}` : `[${min}`;
    throw new ConfigError('CONFIG_INVALID', `--${name} must be a number in ${low}, ${max}], got ${value}`);
  }
}

/** The augmentation knobs: each a Keras factor in its range. */
export function validateAugmentation(a: AugmentationSettings): AugmentationSettings {
  if (a === null || typeof a !== 'object') throw new ConfigError('CONFIG_INVALID', `augmentation must be an object with flip, rotation, zoom and translate, got ${JSON.stringify(a)}`);
  requireNumber('flip', a.flip, 0, 1);
  requireNumber('rotation', a.rotation, 0, 0.5);
  requireNumber('zoom', a.zoom, 0, 0.95);
  requireNumber('translate', a.translate, 0, 1);
  return a;
}

/** Checks a worker configuration received over the network as strictly as one given on the command line. */
export function validateWorkerConfig(config: WorkerConfig): WorkerConfig {
  if (!(MODEL_NAMES as readonly string[]).includes(config.model)) {
    throw new ConfigError('CONFIG_INVALID', `--model must be one of ${MODEL_NAMES.join(', ')}, got ${JSON.stringify(config.model)}`);
  }
  requireInteger('image-size', config.imageSize, 16, 1024);
  requireNumber('dropout', config.dropout, 0, 0.95);
  requireNumber('l2', config.l2, 0, 10);
  requireInteger('seed', config.seed, 0, 2 ** 32 - 1);
  if (config.precision !== 'fp16' && config.precision !== 'fp32') {
    throw new ConfigError('CONFIG_INVALID', `--precision must be fp16 or fp32, got ${JSON.stringify(config.precision)}`);
  }
  requireInteger('micro-batch', config.microBatch, 0, 4096);
  if (config.allreduce !== undefined && !ALLREDUCE_CHOICES.includes(config.allreduce)) {
    throw new ConfigError('CONFIG_INVALID', `--allreduce must be star or ring, got ${JSON.stringify(config.allreduce)}`);
  }
  if (config.preprocessing !== 'unit' && config.preprocessing !== 'caffe') {
    throw new ConfigError('CONFIG_INVALID', `preprocessing must be unit or caffe, got ${JSON.stringify(config.preprocessing)}`);
  }
  if (config.augmentation !== undefined) validateAugmentation(config.augmentation);
  if (config.streamIdleTimeoutMs !== undefined) requireNumber('stream-idle-timeout (ms)', config.streamIdleTimeoutMs, 1, 86_400_000);
  if (typeof config.freeze !== 'string' || config.freeze.length === 0) {
    throw new ConfigError('CONFIG_INVALID', `--freeze must be none, a layer count or a stage such as conv4, got ${JSON.stringify(config.freeze)}`);
  }
  // What only the model knows (its minimum input size, which heads it takes, the freeze syntax),
  // checked here too so that a bad combination fails before any dataset is read.
  validateModelSpec(modelSpecOf(config));
  return config;
}

export function validateRunConfig(config: RunConfig): RunConfig {
  validateWorkerConfig(config);
  requireInteger('epochs', config.epochs, 1, 100_000);
  requireInteger('batch', config.globalBatch, 1, 65_536);
  requireInteger('steps-per-epoch', config.stepsPerEpoch, 0, Number.MAX_SAFE_INTEGER);
  requireNumber('lr', config.learningRate, 0, 10, true);
  requireNumber('initial-loss-scale', config.initialLossScale, 1, 2 ** 40);
  requireInteger('loss-scale-growth-interval', config.lossScaleGrowthInterval, 1, Number.MAX_SAFE_INTEGER);
  requireInteger('synthetic-count', config.syntheticCount, 70, 1_000_000);
  checkValSplit(config.valSplit);
  requireNumber('lr-factor', config.plateau.factor, 0, 0.999999, true);
  requireInteger('patience', config.plateau.patience, 0, 100_000);
  requireNumber('min-delta', config.plateau.minDelta, 0, Number.MAX_VALUE);
  requireInteger('cooldown', config.plateau.cooldown, 0, 100_000);
  requireNumber('min-lr', config.plateau.minLr, 0, 10);
  requireInteger('gpus', config.gpus, 0, 1024);
  requireInteger('workers', config.remoteWorkers, 0, 1024);
  if (config.gpus + config.remoteWorkers < 1) {
    throw new ConfigError('CONFIG_INVALID', 'the run needs at least one worker: give --gpus N (local) or --workers N (remote)');
  }
  if (config.gpus + config.remoteWorkers > config.globalBatch) {
    throw new ConfigError(
      'CONFIG_INVALID',
      `${config.gpus + config.remoteWorkers} workers cannot share a global batch of ${config.globalBatch}: every worker needs at least one sample`,
    );
  }
  if (!BACKEND_CHOICES.includes(config.backend)) {
    throw new ConfigError('CONFIG_INVALID', `--backend must be one of ${BACKEND_CHOICES.join(', ')}, got ${JSON.stringify(config.backend)}`);
  }
  const early = config.earlyStopping;
  if (early) {
    if (!EARLY_STOPPING_MONITORS.includes(early.monitor)) {
      throw new ConfigError('CONFIG_INVALID', `--early-stopping-monitor must be one of ${EARLY_STOPPING_MONITORS.join(', ')}, got ${JSON.stringify(early.monitor)}`);
    }
    if (!['auto', 'min', 'max'].includes(early.mode)) throw new ConfigError('CONFIG_INVALID', `--early-stopping-mode must be auto, min or max, got ${JSON.stringify(early.mode)}`);
    requireInteger('early-stopping-patience', early.patience, 0, 100_000);
    requireNumber('early-stopping-min-delta', early.minDelta, 0, Number.MAX_VALUE);
    requireInteger('early-stopping-start-from-epoch', early.startFromEpoch, 0, 100_000);
    if (early.baseline !== null) requireNumber('early-stopping-baseline', early.baseline, -Number.MAX_VALUE, Number.MAX_VALUE);
    if (typeof early.restoreBestWeights !== 'boolean') throw new ConfigError('CONFIG_INVALID', `--restore-best-weights must be true or false, got ${JSON.stringify(early.restoreBestWeights)}`);
  }
  if (config.microBatch > 0 && config.microBatch > config.globalBatch) {
    throw new ConfigError('CONFIG_INVALID', `--micro-batch ${config.microBatch} is larger than the global batch ${config.globalBatch}`);
  }
  return config;
}
