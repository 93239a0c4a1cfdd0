// The coordinator's command line: its flags, --config (YAML, JSON, or a run's own config.json,
// mapped by run-flags.ts), and what the parsed flags make: the RunConfig of a new run and the
// options of runCoordinator.

import yargs from 'yargs';
import { augmentationFrom, explicitFlags, tokenFrom, withAugmentationFlags, withConfigFile } from '../shared/cli.js';
import {
  ALLREDUCE_CHOICES,
  BACKEND_CHOICES,
  type AllReduce,
  EARLY_STOPPING_MONITORS,
  type EarlyStoppingConfig,
  MODEL_DEFAULTS,
  MODEL_NAMES,
  validateRunConfig,
  type BackendChoice,
  type ModelName,
  type Precision,
  type RunConfig,
} from '../shared/config.js';
import { DEFAULT_DROPOUT, HEAD_NAMES, type HeadName } from '../shared/models/index.js';
import { natsSettingsFrom, withNatsFlags } from '../shared/control/nats-settings.js';
import type { CoordinatorOptions } from './coordinator.js';
import { DEFAULT_METRICS_PORT } from './metrics-server.js';
import { flagsOfConfigFile } from './run-flags.js';

function coordinatorFlags(args: readonly string[], seen: Set<string>) {
  return withConfigFile(withNatsFlags(withAugmentationFlags(yargs(args), 'Data:'), 'publish run events, answer status and stop requests, and announce this run to `worker --nats`')
    .scriptName('coordinator')
    .usage('$0 [options]\n\nTrain a 7-class facial-expression classifier with synchronous data parallelism over local GPUs and remote workers.')
    .option('gpus', { type: 'number', default: 2, group: 'World:', describe: 'local workers to start, one per GPU (CPU workers when no GPU backend is installed)' })
    .option('workers', { type: 'number', default: 0, group: 'World:', describe: 'remote workers to wait for' })
    .option('listen', { type: 'string', default: '127.0.0.1:0', group: 'World:', describe: 'gRPC address host:port (port 0: any free port)' })
    .option('token', { type: 'string', group: 'World:', describe: 'shared worker token (default: $EMOTRAIN_TOKEN; random on loopback; required elsewhere)' })
    .option('tls-cert', { type: 'string', group: 'World:', describe: 'server certificate (PEM) to serve TLS' })
    .option('tls-key', { type: 'string', group: 'World:', describe: 'server key (PEM)' })
    .option('tls-ca', { type: 'string', group: 'World:', describe: 'CA that worker certificates must be signed by (mutual TLS)' })
    .option('advertise', { type: 'string', array: true, group: 'World:', describe: 'HOST[:PORT] workers should use to reach this coordinator (default: the --listen host, or for 0.0.0.0 this host\'s addresses); printed and announced over NATS' })
    .option('backend', { choices: BACKEND_CHOICES, default: 'auto' as BackendChoice, group: 'World:', describe: 'compute backend of the local workers' })
    .option('join-timeout', { type: 'number', default: 300, group: 'World:', describe: 'seconds to wait for all workers to join' })
    .option('heartbeat-timeout', { type: 'number', default: 10, group: 'World:', describe: 'seconds without a heartbeat before a worker counts as lost' })
    .option('stream-idle-timeout', { type: 'number', default: 60, group: 'World:', describe: 'seconds a gradient upload or a heartbeat stream may send nothing before it is closed (the worker sends the step again)' })
    .option('elastic', { type: 'boolean', default: false, group: 'Faults:', describe: 'when a worker is lost, go on with the others (the batch re-sharded over them) instead of waiting for a replacement' })
    .option('min-workers', { type: 'number', default: 1, group: 'Faults:', describe: 'with --elastic: below this many workers the run waits for joins' })
    .option('rejoin-timeout', { type: 'number', default: 300, group: 'Faults:', describe: 'seconds a run that lost workers waits for replacements (or for --min-workers) before it fails' })
    .option('max-restarts', { type: 'number', default: 3, group: 'Faults:', describe: 'times each local worker is started again after it was lost (0: a lost local worker fails the run, or with --elastic leaves it smaller)' })
    .option('worker-start-timeout', { type: 'number', default: 120, group: 'Faults:', describe: 'seconds a local worker process may take to join once started; one stopped before it joins is reported after 3 s' })
    .option('dataset', { type: 'string', default: 'synthetic', group: 'Data:', describe: "dataset directory, or 'synthetic'" })
    .option('synthetic-count', { type: 'number', default: 4000, group: 'Data:', describe: 'images in the synthetic dataset' })
    .option('synthetic-seed', { type: 'number', default: 1, group: 'Data:', describe: 'seed of the synthetic dataset (the data itself, not the split)' })
    .option('val-split', { type: 'number', group: 'Data:', describe: "fraction of the data outside the test split held out for val, stratified by class (Keras' validation_split; default 1/9, which is 80/10/10 for a dataset without splits; refused for a dataset with its own val split)" })
    .option('augment', { type: 'boolean', default: true, group: 'Data:', describe: 'train-time augmentation (use --no-augment to turn off)' })
    .option('model', { choices: MODEL_NAMES, default: 'resnet50' as ModelName, group: 'Model:', describe: 'backbone' })
    .option('image-size', { type: 'number', group: 'Model:', describe: 'input side in pixels (default: 224 for resnet50, 64 for small-cnn, 48 for mini-xception)' })
    .option('freeze', { type: 'string', group: 'Model:', describe: 'none | N (first N backbone layers) | convK (through stage K) (default: 40 for resnet50, none otherwise)' })
    .option('head', { choices: HEAD_NAMES, group: 'Model:', describe: "ending: study (GAP, Dense 128, Dropout, Dense 7) or paper (mini-xception's 3x3 conv to 7, GAP) (default: paper for mini-xception, study otherwise)" })
    .option('dropout', { type: 'number', group: 'Model:', describe: 'dropout rate of the study head (default 0.5; 0: none; the paper head has none)' })
    .option('l2', { type: 'number', default: 0.01, group: 'Model:', describe: "L2 factor on the study head's Dense 128 kernel and mini-xception's base convolutions" })
    .option('weights', {
      type: 'string',
      group: 'Model:',
      describe: "initial weights, mapped by layer name: a Keras HDF5 file (e.g. Keras' resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5), a TensorFlow.js layers model directory, or an emotrain run or checkpoint directory (not with --resume)",
    })
    .option('epochs', { type: 'number', group: 'Training:', describe: 'epochs to train (default: 50; on --resume, the run\'s own unless given)' })
    .option('steps-per-epoch', { type: 'number', default: 0, group: 'Training:', describe: 'limit each epoch to this many steps (0: the whole training set)' })
    .option('batch', { type: 'number', default: 128, group: 'Training:', describe: 'global batch, split across workers' })
    .option('lr', { type: 'number', group: 'Training:', describe: 'Adam learning rate (default: 1e-4 for resnet50, 1e-3 for small-cnn)' })
    .option('micro-batch', { type: 'number', default: 0, group: 'Training:', describe: 'samples per forward/backward inside a worker, gradients summed (0: whole shard)' })
    .option('precision', { choices: ['fp16', 'fp32'] as const, default: 'fp16' as Precision, group: 'Training:', describe: 'gradient wire format; fp16 uses dynamic loss scaling' })
    .option('allreduce', { choices: ALLREDUCE_CHOICES, default: 'star' as AllReduce, group: 'Training:', describe: 'reduce gradients through the coordinator (star) or peer to peer between workers (ring)' })
    .option('initial-loss-scale', { type: 'number', default: 2 ** 15, group: 'Training:' })
    .option('loss-scale-growth-interval', { type: 'number', default: 2000, group: 'Training:', describe: 'good steps in a row before the loss scale doubles' })
    .option('patience', { type: 'number', default: 3, group: 'LR schedule (ReduceLROnPlateau on val_loss):' })
    .option('lr-factor', { type: 'number', default: 0.1, group: 'LR schedule (ReduceLROnPlateau on val_loss):' })
    .option('min-delta', { type: 'number', default: 1e-4, group: 'LR schedule (ReduceLROnPlateau on val_loss):' })
    .option('cooldown', { type: 'number', default: 0, group: 'LR schedule (ReduceLROnPlateau on val_loss):' })
    .option('min-lr', { type: 'number', default: 0, group: 'LR schedule (ReduceLROnPlateau on val_loss):' })
    .option('early-stopping-patience', { type: 'number', group: 'Early stopping (Keras EarlyStopping; off unless a patience is given):', describe: 'epochs without improvement before training stops' })
    .option('early-stopping-monitor', { choices: EARLY_STOPPING_MONITORS, default: 'val_loss' as EarlyStoppingConfig['monitor'], group: 'Early stopping (Keras EarlyStopping; off unless a patience is given):' })
    .option('early-stopping-min-delta', { type: 'number', default: 0, group: 'Early stopping (Keras EarlyStopping; off unless a patience is given):', describe: 'smallest change that counts as an improvement' })
    .option('early-stopping-mode', { choices: ['auto', 'min', 'max'] as const, default: 'auto' as const, group: 'Early stopping (Keras EarlyStopping; off unless a patience is given):', describe: 'auto: max for accuracies, min for losses' })
    .option('early-stopping-baseline', { type: 'number', group: 'Early stopping (Keras EarlyStopping; off unless a patience is given):', describe: 'a value the monitor must beat for the patience to restart' })
    .option('early-stopping-start-from-epoch', { type: 'number', default: 0, group: 'Early stopping (Keras EarlyStopping; off unless a patience is given):', describe: 'epochs of warm-up before it counts' })
    .option('restore-best-weights', { type: 'boolean', default: false, group: 'Early stopping (Keras EarlyStopping; off unless a patience is given):', describe: 'end with the weights of the best epoch (checkpoints/last holds them)' })
    .option('runs', { type: 'string', default: 'runs', group: 'Run:', describe: 'where run directories go' })
    .option('run-id', { type: 'string', group: 'Run:', describe: 'name of the run directory (default: time and model)' })
    .option('resume', { type: 'string', group: 'Run:', describe: 'continue the run in this directory from its last checkpoint' })
    .option('print-config', { type: 'boolean', default: false, group: 'Run:', describe: 'print the settings these flags give a run, each with where it came from (flag, --config file, default), as YAML that --config takes; start nothing' })
    .option('seed', { type: 'number', default: 42, group: 'Run:', describe: 'seed of the split, data order, augmentation and initial weights' })
    .option('metrics', { type: 'boolean', default: true, group: 'Metrics:', describe: 'serve Prometheus metrics (--no-metrics to turn off)' })
    .option('metrics-host', { type: 'string', default: '127.0.0.1', group: 'Metrics:', describe: 'address of the /metrics endpoint' })
    .option('metrics-port', { type: 'number', default: DEFAULT_METRICS_PORT, group: 'Metrics:', describe: 'port of the /metrics endpoint (0: any free port)' })
    .option('metrics-linger', { type: 'number', default: 0, group: 'Metrics:', describe: 'seconds to keep serving metrics after the run ends, for a last scrape' })
    .option('progress', { choices: ['auto', 'bar', 'lines'] as const, default: 'auto' as const, group: 'Run:', describe: 'progress bar on a TTY, one line per epoch otherwise' }),
    { group: 'Run:', mapKeys: flagsOfConfigFile, seen },
  )
    .strict()
    .help();
}

export type CoordinatorArgv = ReturnType<ReturnType<typeof coordinatorFlags>['parseSync']>;

/**
 * Parses a coordinator command line; `explicit` holds the flags given on it or in --config, as
 * opposed to yargs' defaults (a resumed run compares those with its own settings).
 * A usage mistake throws a ConfigError that says it in one line.
 */
export function parseCoordinatorArgs(args: readonly string[]): { argv: CoordinatorArgv; explicit: Set<string> } {
  const seen = new Set<string>();
  const argv = coordinatorFlags(args, seen).parseSync();
  return { argv, explicit: explicitFlags(args, seen) };
}

function defaultRunId(model: string): string {
  const now = new Date();
  const pad = (n: number) => String(n).padStart(2, '0');
  const stamp = `${now.getFullYear()}${pad(now.getMonth() + 1)}${pad(now.getDate())}-${pad(now.getHours())}${pad(now.getMinutes())}${pad(now.getSeconds())}`;
  return `${stamp}-${model}-${Math.random().toString(16).slice(2, 6)}`;
}

/** The RunConfig a new run gets from these flags (validated). */
export function runConfigOf(argv: CoordinatorArgv): RunConfig {
  return validateRunConfig(requestedRunConfig(argv));
}

/**
 * The RunConfig these flags ask for, not yet validated: a resumed run compares it with its own
 * first, so `--resume R --model resnet50` is refused for changing the model rather than for an
 * image size resnet50 cannot take.
 */
export function requestedRunConfig(argv: CoordinatorArgv): RunConfig {
  const defaults = MODEL_DEFAULTS[argv.model];
  const head: HeadName = argv.head ?? defaults.head;
  return {
    runId: argv['run-id'] ?? defaultRunId(argv.model),
    dataset: argv.dataset,
    syntheticCount: argv['synthetic-count'],
    model: argv.model,
    imageSize: argv['image-size'] ?? defaults.imageSize,
    freeze: argv.freeze ?? defaults.freeze,
    head,
    dropout: argv.dropout ?? (head === 'paper' ? 0 : DEFAULT_DROPOUT),
    l2: argv.l2,
    seed: argv.seed,
    precision: argv.precision,
    allreduce: argv.allreduce,
    microBatch: argv['micro-batch'],
    augment: argv.augment,
    augmentation: augmentationFrom(argv),
    preprocessing: defaults.preprocessing,
    epochs: argv.epochs ?? 50,
    stepsPerEpoch: argv['steps-per-epoch'],
    globalBatch: argv.batch,
    learningRate: argv.lr ?? defaults.learningRate,
    plateau: {
      monitor: 'val_loss',
      factor: argv['lr-factor'],
      patience: argv.patience,
      minDelta: argv['min-delta'],
      cooldown: argv.cooldown,
      minLr: argv['min-lr'],
    },
    earlyStopping:
      argv['early-stopping-patience'] === undefined
        ? null
        : {
            monitor: argv['early-stopping-monitor'],
            minDelta: argv['early-stopping-min-delta'],
            patience: argv['early-stopping-patience'],
            mode: argv['early-stopping-mode'],
            baseline: argv['early-stopping-baseline'] ?? null,
            restoreBestWeights: argv['restore-best-weights'],
            startFromEpoch: argv['early-stopping-start-from-epoch'],
          },
    initialLossScale: argv['initial-loss-scale'],
    lossScaleGrowthInterval: argv['loss-scale-growth-interval'],
    backend: argv.backend,
    gpus: argv.gpus,
    remoteWorkers: argv.workers,
    listen: argv.listen,
    runsDir: argv.runs,
    ...(argv['val-split'] !== undefined ? { valSplit: argv['val-split'] } : {}),
  };
}

/** What runCoordinator is given: the RunConfig and how and where this process runs. */
export function coordinatorOptionsOf(argv: CoordinatorArgv, explicit: ReadonlySet<string>): CoordinatorOptions {
  return {
    config: argv.resume ? requestedRunConfig(argv) : runConfigOf(argv),
    explicit,
    ...(argv.resume ? { resumeDir: argv.resume } : {}),
    ...(argv.weights !== undefined ? { weights: argv.weights } : {}),
    syntheticSeed: argv['synthetic-seed'],
    ...(tokenFrom(argv.token) ? { token: tokenFrom(argv.token)! } : {}),
    tls: {
      ...(argv['tls-cert'] ? { cert: argv['tls-cert'] } : {}),
      ...(argv['tls-key'] ? { key: argv['tls-key'] } : {}),
      ...(argv['tls-ca'] ? { ca: argv['tls-ca'] } : {}),
    },
    joinTimeoutMs: argv['join-timeout'] * 1000,
    heartbeatTimeoutMs: argv['heartbeat-timeout'] * 1000,
    streamIdleTimeoutMs: argv['stream-idle-timeout'] * 1000,
    progress: argv.progress,
    faults: {
      elastic: argv.elastic,
      minWorkers: argv['min-workers'],
      rejoinTimeoutMs: argv['rejoin-timeout'] * 1000,
      maxRestarts: argv['max-restarts'],
      workerStartTimeoutMs: argv['worker-start-timeout'] * 1000,
    },
    ...(natsSettingsFrom(argv) ? { nats: natsSettingsFrom(argv)! } : {}),
    ...(argv.advertise ? { advertise: argv.advertise } : {}),
    ...(argv.metrics ? { metrics: { host: argv['metrics-host'], port: argv['metrics-port'], lingerSeconds: argv['metrics-linger'] } } : {}),
  };
}
