// Everything before a coordinator serves anyone: the listen address and token, the TLS files, the
// dataset (indexed, validated and split before any worker exists), a new run directory or the one
// being resumed (whose config is merged with what may change and validated again), and the
// coordinator's shadow model — loaded from checkpoints/last when resuming.

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { removeStaleTemporaries } from '../shared/atomic-dir.js';
import { memoryBudgetBytes, modelFootprint, planMicroBatch } from '../shared/backend/memory-fit.js';
import { selectBackend, type ResolvedBackend } from '../shared/backend/select-backend.js';
import { validateRunConfig, workerConfigOf, type RunConfig } from '../shared/config.js';
import { summarizeSkipped } from '../shared/dataset/index.js';
import { describeSplit, prepareDataset, type PreparedDataset } from '../shared/dataset/prepare.js';
import { ConfigError, WeightsError, describeError } from '../shared/errors.js';
import { isLoopbackHost } from '../shared/loopback.js';
import { RunDirectory } from '../shared/run-directory.js';
import { counted, formatLearningRate } from '../shared/wording.js';
import { frozenWeightsOf, loadLocatedWeights, locateWeights, randomFrozenWarning, type PretrainedWeights, type WeightsRecord } from '../shared/weights/index.js';
import { CheckpointStore, type TrainingState } from './checkpoint-store.js';
import { resumedSettings, type SavedRunConfig } from './run-flags.js';
import { ShadowModel } from './shadow-model.js';

export function parseListenAddress(listen: string): { host: string; port: number } {
  const match = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(listen);
  if (!match) throw new ConfigError('CONFIG_INVALID', `--listen ${JSON.stringify(listen)} is not host:port (e.g. 127.0.0.1:50051 or 0.0.0.0:50051)`);
  const port = Number(match[2]);
  if (port > 65535) throw new ConfigError('CONFIG_INVALID', `--listen port ${port} is out of range`);
  return { host: match[1]!, port };
}

/** The token workers must present: given, or — on loopback only — a random one for the local workers. */
export function resolveToken(listen: string, given: string | undefined): string {
  if (given !== undefined && given !== '') return given;
  const { host } = parseListenAddress(listen);
  if (!isLoopbackHost(host)) {
    throw new ConfigError('CONFIG_INVALID', `refusing to listen on ${listen} without a token: give --token or set EMOTRAIN_TOKEN (workers on other hosts must present it)`);
  }
  return randomBytes(24).toString('base64url');
}

export function readOptionalFile(flag: string, file: string | undefined): Buffer | undefined {
  if (file === undefined) return undefined;
  try {
    return readFileSync(file);
  } catch (cause) {
    throw new ConfigError('CONFIG_INVALID', `${flag} ${file}: cannot read it (${(cause as Error).message})`, { cause });
  }
}

export interface SetupOptions {
  config: RunConfig;
  /** The backend the local workers will use (their memory limit decides the micro-batch). */
  localBackend: ResolvedBackend;
  /** The flags given on the command line or in --config, not defaulted: a resumed run compares them with its own settings. */
  explicit?: ReadonlySet<string>;
  resumeDir?: string;
  /** --weights: where the initial weights come from (a new run only). */
  weights?: string;
  syntheticSeed: number;
  log: (line: string) => void;
}

export interface PreparedRun {
  config: RunConfig;
  dataset: PreparedDataset;
  runDir: RunDirectory;
  shadow: ShadowModel;
  /** Set when continuing from checkpoints/last. */
  resume: TrainingState | undefined;
  /** Set when the run starts from --weights. */
  weights: PretrainedWeights | undefined;
  /** Said once, at the start of a new run (run-events `warning`). */
  warnings: Array<{ code: string; message: string }>;
}

export interface ResumedRun {
  runDir: RunDirectory;
  /** The run's own settings with the changes a resumed run may make (run-flags.ts). */
  config: RunConfig;
  syntheticSeed: number;
  /** "epochs 3 → 5", one per changeable setting given with a new value. */
  changes: string[];
  /** From checkpoints/last; undefined when it stopped before finishing its first epoch. */
  epochsCompleted: number | undefined;
  /**
   * The epoch (1-based) at which EarlyStopping ended the run, when it did and the resume changes
   * neither --epochs nor an early-stopping setting: such a run is finished.
   */
  stoppedEarlyAt: number | undefined;
}

/**
 * Opens the run that --resume names: its config.json with the changeable settings that were
 * given applied (said in one line), and a refusal naming every flag given that would change a
 * setting the run keeps — before anything starts or the run directory changes.
 */
export function openResumedRun(options: Omit<SetupOptions, 'localBackend'>): ResumedRun {
  if (options.weights !== undefined) {
    throw new ConfigError(
      'CONFIG_INVALID',
      `--weights cannot be used with --resume: ${options.resumeDir} continues from its checkpoints/last, which already holds the run's weights. ` +
        `To fine-tune from that run, start a new run with --weights ${options.resumeDir}`,
    );
  }
  const runDir = new RunDirectory(path.resolve(options.resumeDir!));
  const saved = runDir.readConfig<SavedRunConfig>();
  const requested: SavedRunConfig = { ...options.config, syntheticSeed: options.syntheticSeed };
  const { config, changes, changedKeys, refused } = resumedSettings(saved, requested, options.explicit ?? new Set());
  if (refused.length > 0) {
    const them = refused.length === 1 ? 'it' : 'them';
    throw new ConfigError('CONFIG_INVALID', `${refused.join('; ')}: a resumed run keeps its settings (start a new run to change ${them})`);
  }
  if (changes.length > 0) options.log(`resuming with changed settings: ${changes.join(', ')}`);
  const { syntheticSeed, ...runConfig } = config;
  const last = lastProgress(runDir);
  // An early-stopped run trains on only when asked to: more epochs, or other early stopping.
  const trainsOn = changedKeys.some((key) => key === 'epochs' || key.startsWith('earlyStopping'));
  return {
    runDir,
    // Where it listens is this process's (the token was chosen for it), given or not; its world
    // (--gpus, --workers, --backend) stays the run's unless given.
    config: validateRunConfig({ ...runConfig, listen: options.config.listen }),
    syntheticSeed: syntheticSeed ?? options.syntheticSeed,
    changes,
    epochsCompleted: last?.epochsCompleted,
    stoppedEarlyAt: trainsOn ? undefined : last?.stoppedEarlyAt,
  };
}

/** What checkpoints/last says of how far the run got; undefined when it has none. */
function lastProgress(runDir: RunDirectory): { epochsCompleted: number; stoppedEarlyAt: number | undefined } | undefined {
  // Checked whole before anything is decided from it (a finished run starts nothing).
  const last = new CheckpointStore(runDir.checkpointsDir).readLastState(runDir.readMetrics().length);
  if (!last) return undefined;
  const { state } = last;
  // Keras' stopped_epoch, 0-based; EarlyStopping never stops at the first epoch, so 0 means it did not stop.
  const stopped = state.earlyStopping?.stoppedEpoch ?? 0;
  return { epochsCompleted: state.epochsCompleted, stoppedEarlyAt: stopped > 0 ? stopped + 1 : undefined };
}

export async function prepareRun(options: SetupOptions, resumed = options.resumeDir ? openResumedRun(options) : undefined): Promise<PreparedRun> {
  const { log } = options;
  let config = options.config;
  let syntheticSeed = options.syntheticSeed;
  let runDir: RunDirectory | undefined;
  // A --weights path that is missing or not weights at all is said at once, before the dataset is read.
  const weightsSource = options.weights !== undefined ? locateWeights(options.weights) : undefined;
  if (resumed) {
    runDir = resumed.runDir;
    config = resumed.config;
    syntheticSeed = resumed.syntheticSeed;
  }

  const dataset = await prepareDataset(config.dataset, { syntheticCount: config.syntheticCount, syntheticSeed, splitSeed: config.seed, valSplit: config.valSplit, log });
  if (dataset.generated) log(`generated the synthetic dataset in ${dataset.index.root}`);
  log(`dataset ${dataset.index.root}: ${describeSplit(dataset)}`);
  const { skipped } = dataset.index;
  if (skipped.length > 0) {
    log(`skipped ${skipped.length} files (${summarizeSkipped(skipped)}); each is listed with its reason in events.jsonl; first: ${skipped[0]!.path}: ${skipped[0]!.reason}`);
  }

  // The coordinator computes nothing heavy: the cpu backend holds the shadow model for saving.
  await selectBackend('cpu');
  const shadow = new ShadowModel(workerConfigOf(config));
  config = fitLocalMemory(config, options.localBackend, shadow, log);

  // Before the run directory exists, so weights that do not fit leave nothing behind.
  let weights: PretrainedWeights | undefined;
  const warnings: PreparedRun['warnings'] = [];
  if (!options.resumeDir) {
    if (weightsSource) {
      weights = await loadLocatedWeights(weightsSource, shadow, config.model);
      for (const line of weights.lines) log(line);
    }
    config = { ...config, weights: weights?.record ?? null };
    const frozenRandom = randomFrozenWarning({ freeze: config.freeze, model: config.model, weightsGiven: weights !== undefined }, frozenWeightsOf(shadow.model));
    if (frozenRandom) warnings.push(frozenRandom);
  }

  if (!runDir) {
    runDir = RunDirectory.create(config.runsDir, config.runId);
    // syntheticSeed is a coordinator option rather than part of RunConfig; evaluate needs it to
    // rebuild the exact dataset the run used.
    runDir.writeConfig({
      ...config,
      syntheticSeed,
      datasetRoot: dataset.index.root,
      datasetLayout: dataset.index.layout,
      split: { train: dataset.split.train.length, val: dataset.split.val.length, test: dataset.split.test.length, rule: dataset.split.rule },
    });
  }

  let resume: TrainingState | undefined;
  const checkpoints = new CheckpointStore(runDir.checkpointsDir);
  if (options.resumeDir && !checkpoints.hasLast()) {
    // Stopped (or killed) before its first epoch ended: nothing to continue, so it starts again
    // from its initial weights — the seeded ones, or the --weights it started from, read again
    // and checked against what config.json recorded of them — as an uninterrupted run would have.
    let from = '';
    if (config.weights) {
      weights = await reloadStartingWeights(config.weights, runDir.path, shadow, config.model);
      from = `, from its --weights ${config.weights.path} (unchanged since)`;
    }
    runDir.rewriteMetrics([]);
    log(`${runDir.path} stopped before finishing its first epoch (no checkpoints/last): starting it again from the beginning${from}`);
  } else if (options.resumeDir) {
    // Everything is read and checked before metrics.csv is rewritten: a refused checkpoint leaves the run directory as it was.
    const metrics = runDir.readMetrics();
    const last = checkpoints.loadLast(shadow.layout, metrics.length);
    resume = last.state;
    runDir.rewriteMetrics(metrics.filter((row) => row.epoch <= last.state.epochsCompleted));
    log(`resuming ${runDir.path} after epoch ${resume.epochsCompleted} (step ${resume.step}, lr ${formatLearningRate(resume.plateau.learningRate)}, loss scale ${resume.lossScaler.scale})`);
  }
  if (options.resumeDir) {
    // Left by a checkpoint write that a crash interrupted; only once the checkpoint is known good.
    const removed = removeStaleTemporaries(runDir.checkpointsDir);
    if (removed.length > 0) log(`removed ${counted(removed.length, 'unfinished checkpoint write')} from ${runDir.checkpointsDir}: ${removed.join(', ')}`);
  }
  return { config, dataset, runDir, shadow, resume, weights, warnings };
}

/**
 * The --weights a run started from, loaded again for a restart of its first epoch. The files must
 * be the ones it read then (sha256 as config.json recorded them): other weights would make it
 * another run.
 */
async function reloadStartingWeights(recorded: WeightsRecord, runPath: string, shadow: ShadowModel, model: RunConfig['model']): Promise<PretrainedWeights> {
  const what = `${runPath} started from --weights ${recorded.path} and stopped before finishing its first epoch`;
  let again: PretrainedWeights;
  try {
    again = await loadLocatedWeights(locateWeights(recorded.path), shadow, model);
  } catch (error) {
    throw new WeightsError('WEIGHTS_CHANGED', `${what}; they cannot be read again, so it cannot start again from them: ${describeError(error)}`, { cause: error });
  }
  const now = new Map(again.record.files.map((file) => [file.path, file.sha256]));
  for (const file of recorded.files) {
    const sha256 = now.get(file.path);
    if (sha256 !== file.sha256) {
      throw new WeightsError(
        'WEIGHTS_CHANGED',
        `${what}; ${file.path} has changed since (sha256 ${file.sha256.slice(0, 12)}… then, ${sha256 === undefined ? 'not read now' : `${sha256.slice(0, 12)}… now`}), so it cannot start again from the same weights: start a new run`,
      );
    }
  }
  return again;
}

/**
 * On a backend whose memory is limited (wasm: a 4 GiB heap), the step of the largest shard must
 * fit: the configured --micro-batch is checked, and with none configured the largest that fits is
 * chosen (and recorded in config.json) — before any worker starts, instead of a worker aborting.
 */
function fitLocalMemory(config: RunConfig, backend: ResolvedBackend, shadow: ShadowModel, log: (line: string) => void): RunConfig {
  const budget = memoryBudgetBytes(backend);
  if (config.gpus === 0 || budget === undefined) return config;
  const shard = Math.ceil(config.globalBatch / (config.gpus + config.remoteWorkers));
  const what = `${config.model} at ${config.imageSize}x${config.imageSize} on the ${backend} backend`;
  const plan = planMicroBatch(modelFootprint(shadow.model), config.microBatch, shard, budget, what);
  if ('error' in plan) throw new ConfigError('CONFIG_INVALID', plan.error);
  if (!plan.chosen) return config;
  log(`the ${backend} backend's heap is limited to 4 GiB: ${what} trains its shards of ${shard} in micro-batches of ${plan.microBatch} (--micro-batch chooses)`);
  return { ...config, microBatch: plan.microBatch };
}
