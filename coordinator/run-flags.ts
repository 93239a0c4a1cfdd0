// Which coordinator flag sets which field of a run's config.json (RunConfig), written once: a
// run's config.json given back as --config reproduces its settings, and a resumed run compares
// the flags given against the run's own settings by it (issue 15).

import path from 'node:path';
import { stringify } from 'yaml';
import type { RunConfig } from '../shared/config.js';

/** A run's config.json as written: RunConfig and the seed of its synthetic data. */
export type SavedRunConfig = RunConfig & { syntheticSeed?: number };

interface RunFlag {
  flag: string;
  /** Dotted path in config.json. */
  key: string;
  /** What it is, in an error message ("differs from this run's learning rate 0.001"). */
  label: string;
  /** What a run whose config.json lacks the key has (one made before the flag existed); default "none". */
  unset?: string;
}

export const RUN_FLAGS: readonly RunFlag[] = [
  { flag: 'dataset', key: 'dataset', label: 'dataset' },
  { flag: 'synthetic-count', key: 'syntheticCount', label: 'synthetic image count' },
  { flag: 'synthetic-seed', key: 'syntheticSeed', label: 'synthetic data seed' },
  { flag: 'val-split', key: 'valSplit', label: 'val split', unset: '1/9 (the default)' },
  { flag: 'model', key: 'model', label: 'model' },
  { flag: 'image-size', key: 'imageSize', label: 'image size' },
  { flag: 'freeze', key: 'freeze', label: 'frozen layers' },
  { flag: 'head', key: 'head', label: 'head', unset: 'study (the default)' },
  { flag: 'dropout', key: 'dropout', label: 'dropout' },
  { flag: 'l2', key: 'l2', label: 'L2 factor' },
  { flag: 'seed', key: 'seed', label: 'seed' },
  { flag: 'precision', key: 'precision', label: 'precision' },
  { flag: 'allreduce', key: 'allreduce', label: 'all-reduce', unset: 'star (the default)' },
  { flag: 'micro-batch', key: 'microBatch', label: 'micro-batch' },
  { flag: 'augment', key: 'augment', label: 'augmentation switch' },
  { flag: 'flip', key: 'augmentation.flip', label: 'flip probability' },
  { flag: 'rotation', key: 'augmentation.rotation', label: 'rotation factor' },
  { flag: 'zoom', key: 'augmentation.zoom', label: 'zoom factor' },
  { flag: 'translate', key: 'augmentation.translate', label: 'translation factor' },
  { flag: 'epochs', key: 'epochs', label: 'epochs' },
  { flag: 'steps-per-epoch', key: 'stepsPerEpoch', label: 'steps per epoch' },
  { flag: 'batch', key: 'globalBatch', label: 'global batch' },
  { flag: 'lr', key: 'learningRate', label: 'learning rate' },
  { flag: 'lr-factor', key: 'plateau.factor', label: 'lr-factor' },
  { flag: 'patience', key: 'plateau.patience', label: 'patience' },
  { flag: 'min-delta', key: 'plateau.minDelta', label: 'min-delta' },
  { flag: 'cooldown', key: 'plateau.cooldown', label: 'cooldown' },
  { flag: 'min-lr', key: 'plateau.minLr', label: 'min-lr' },
  { flag: 'early-stopping-patience', key: 'earlyStopping.patience', label: 'early-stopping patience' },
  { flag: 'early-stopping-monitor', key: 'earlyStopping.monitor', label: 'early-stopping monitor' },
  { flag: 'early-stopping-min-delta', key: 'earlyStopping.minDelta', label: 'early-stopping min-delta' },
  { flag: 'early-stopping-mode', key: 'earlyStopping.mode', label: 'early-stopping mode' },
  { flag: 'early-stopping-baseline', key: 'earlyStopping.baseline', label: 'early-stopping baseline' },
  { flag: 'early-stopping-start-from-epoch', key: 'earlyStopping.startFromEpoch', label: 'early-stopping start epoch' },
  { flag: 'restore-best-weights', key: 'earlyStopping.restoreBestWeights', label: 'restore-best-weights' },
  { flag: 'initial-loss-scale', key: 'initialLossScale', label: 'initial loss scale' },
  { flag: 'loss-scale-growth-interval', key: 'lossScaleGrowthInterval', label: 'loss-scale growth interval' },
  { flag: 'backend', key: 'backend', label: 'backend' },
  { flag: 'gpus', key: 'gpus', label: 'local workers' },
  { flag: 'workers', key: 'remoteWorkers', label: 'remote workers' },
  { flag: 'listen', key: 'listen', label: 'listen address' },
  { flag: 'runs', key: 'runsDir', label: 'runs directory' },
  { flag: 'run-id', key: 'runId', label: 'run id' },
];

/**
 * What a resumed run may change (issue 15): how long it trains, the LR schedule and early
 * stopping from here on, and how and where it runs. Everything else it keeps, since its
 * checkpoints, data order and metrics only continue under the settings they were made with.
 */
export const CHANGEABLE_ON_RESUME: ReadonlySet<string> = new Set([
  'epochs',
  'patience', 'lr-factor', 'min-delta', 'cooldown', 'min-lr',
  'early-stopping-patience', 'early-stopping-monitor', 'early-stopping-min-delta', 'early-stopping-mode',
  'early-stopping-baseline', 'early-stopping-start-from-epoch', 'restore-best-weights',
  'gpus', 'workers', 'backend', 'listen',
]);

/**
 * config.json keys that are records of what happened, not settings: where the dataset was found,
 * its layout and split, the preprocessing its model implies. runId is left out too: the same
 * settings go into a new run directory.
 */
const RECORD_KEYS = new Set(['datasetRoot', 'datasetLayout', 'split', 'preprocessing', 'runId', 'plateau.monitor']);

const FLAG_OF_KEY = new Map(RUN_FLAGS.map((f) => [f.key, f.flag]));

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The flags of a --config file: flags as they are (`epochs: 5`, `image-size: 32`), and a run's
 * config.json keys (`globalBatch`, `learningRate`, `plateau: {patience}`) as the flags that set
 * them. A key that is neither is kept, for yargs to report as an unknown argument.
 */
export function flagsOfConfigFile(values: Record<string, unknown>): Record<string, unknown> {
  const flags: Record<string, unknown> = {};
  const put = (key: string, value: unknown) => {
    if (RECORD_KEYS.has(key) || value === null || value === undefined) return;
    flags[FLAG_OF_KEY.get(key) ?? key] = value;
  };
  for (const [key, value] of Object.entries(values)) {
    if (key === 'weights' && isObject(value)) put(key, value['path']);
    else if ((key === 'plateau' || key === 'augmentation' || key === 'earlyStopping') && isObject(value)) {
      for (const [sub, subValue] of Object.entries(value)) put(`${key}.${sub}`, subValue);
    } else put(key, value);
  }
  return flags;
}

function valueAt(config: object, key: string): unknown {
  let value: unknown = config;
  for (const part of key.split('.')) value = isObject(value) ? value[part] : undefined;
  return value;
}

function withValueAt<T extends object>(config: T, key: string, value: unknown, whole: unknown): T {
  const [head, sub] = key.split('.') as [string, string | undefined];
  if (sub === undefined) return { ...config, [head]: value };
  const parent = (config as Record<string, unknown>)[head];
  // Early stopping turned on when resuming: it takes all its settings from the flags.
  if (!isObject(parent)) return { ...config, [head]: whole };
  return { ...config, [head]: { ...parent, [sub]: value } };
}

function sameValue(flag: string, a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if ((flag === 'dataset' || flag === 'runs') && typeof a === 'string' && typeof b === 'string') return path.resolve(a) === path.resolve(b);
  return JSON.stringify(a) === JSON.stringify(b);
}

function shown(value: unknown, unset = 'none'): string {
  return value === undefined ? unset : typeof value === 'string' ? value : JSON.stringify(value);
}

/** A flag as it was given: `--lr 0.5`, `--no-augment`. */
function asGiven(flag: string, value: unknown): string {
  if (typeof value === 'boolean') return value ? `--${flag}` : `--no-${flag}`;
  return `--${flag} ${shown(value)}`;
}

export interface ResumedSettings {
  config: SavedRunConfig;
  /** "epochs 3 → 5", one per changeable setting that changed. */
  changes: string[];
  /** The config keys of those changes ('epochs', 'earlyStopping.patience', ...). */
  changedKeys: string[];
  /** One per flag given that would change a setting the run keeps. */
  refused: string[];
}

/**
 * A resumed run's settings: its own, with the changeable ones that were given explicitly
 * (`explicit`: on the command line or in --config) taken from `requested`. A setting it keeps,
 * given with another value, is refused rather than silently ignored.
 */
export function resumedSettings(saved: SavedRunConfig, requested: SavedRunConfig, explicit: ReadonlySet<string>): ResumedSettings {
  let config = saved;
  const changes: string[] = [];
  const changedKeys: string[] = [];
  const refused: string[] = [];
  for (const { flag, key, label, unset } of RUN_FLAGS) {
    if (!explicit.has(flag)) continue;
    const before = valueAt(saved, key);
    const after = valueAt(requested, key);
    if (sameValue(flag, before, after)) continue;
    if (CHANGEABLE_ON_RESUME.has(flag)) {
      config = withValueAt(config, key, after, valueAt(requested, key.split('.')[0]!));
      changes.push(`${label} ${shown(before, unset)} → ${shown(after, unset)}`);
      changedKeys.push(key);
    } else {
      refused.push(`${asGiven(flag, after)} differs from this run's ${label} ${shown(before, unset)}`);
    }
  }
  return { config, changes, changedKeys, refused };
}

/**
 * `coordinator --print-config`: the settings a run gets from these flags, one `flag: value` per
 * line in YAML (what --config takes back), each commented with where it came from.
 */
export function describeSettings(config: SavedRunConfig, fromCommandLine: ReadonlySet<string>, fromFile: ReadonlySet<string>): string {
  const lines = ['# the settings of a run started with these flags; each says where it came from', ''];
  for (const { flag, key } of RUN_FLAGS) {
    if (key === 'runId' && !fromCommandLine.has(flag) && !fromFile.has(flag)) continue; // a new one each run
    const value = valueAt(config, key);
    if (value === undefined) continue;
    const source = fromCommandLine.has(flag) ? 'flag' : fromFile.has(flag) ? '--config file' : 'default';
    const text = stringify({ [flag]: value === null ? null : value }).trimEnd();
    lines.push(`${text.padEnd(40)} # ${source}`);
  }
  return `${lines.join('\n')}\n`;
}
