// What `emotrain evaluate` reads from a run directory (SPEC §6): the resolved settings
// (config.json), the per-epoch metrics (metrics.csv), the LR reductions (events.jsonl) and the
// chosen checkpoint with its meta.json. Each problem is an error naming the file and what to do.

import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { readCheckpointMeta, type CheckpointMeta } from '../shared/checkpoint-meta.js';
import type { CheckpointKind } from '../shared/checkpoint-source.js';
import { RunDirectory, type EpochMetrics } from '../shared/run-directory.js';
import { resolveAtomicDir } from '../shared/atomic-dir.js';
import { validateWorkerConfig, workerConfigOf, type RunConfig } from '../shared/config.js';
import { CheckpointError, describeError, ReportError } from '../shared/errors.js';
import type { LrReduction } from './charts.js';


/** config.json: the run's settings, plus what the coordinator recorded beside them. */
export type RecordedRunConfig = RunConfig & {
  syntheticSeed?: number;
  datasetRoot?: string;
  /** Images per split when the run started. */
  split?: { train: number; val: number; test: number };
};

/** The synthetic-data seed of runs made before config.json recorded it: the coordinator's default. */
export const DEFAULT_SYNTHETIC_SEED = 1;

export interface RunRecord {
  dir: string;
  config: RecordedRunConfig;
  metrics: EpochMetrics[];
  lrReductions: LrReduction[];
  /** Things read past rather than failed on, to tell the user. */
  warnings: string[];
}

export function readRunRecord(runDir: string): RunRecord {
  const dir = path.resolve(runDir);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new ReportError('RUN_NOT_FOUND', `run directory ${dir} does not exist (give the directory a coordinator run wrote, e.g. runs/<run-id>)`);
  }
  const configFile = path.join(dir, 'config.json');
  if (!existsSync(configFile)) {
    throw new ReportError('RUN_NOT_FOUND', `${dir} is not a run directory: ${configFile} is missing (give the directory a coordinator run wrote, e.g. runs/<run-id>)`);
  }
  const run = new RunDirectory(dir);
  const config = run.readConfig<RecordedRunConfig>();
  if (typeof config.dataset !== 'string' || !Number.isInteger(config.syntheticCount) || !Number.isInteger(config.seed)) {
    throw new ReportError('RUN_INVALID', `${configFile} does not describe a run: it needs dataset, syntheticCount and seed to rebuild the split`);
  }
  try {
    validateWorkerConfig(workerConfigOf(config));
  } catch (cause) {
    throw new ReportError('RUN_INVALID', `${configFile} does not describe a run: ${describeError(cause)}`, { cause });
  }
  const metricsFile = path.join(dir, 'metrics.csv');
  const metrics = run.readMetrics();
  const warnings: string[] = [];
  if (metrics.length === 0) warnings.push(`${metricsFile} has no epochs yet: the report has no training curves`);
  return { dir, config, metrics, lrReductions: readLrReductions(path.join(dir, 'events.jsonl'), warnings), warnings };
}

/**
 * The `lr_reduced` events, one per epoch: a resumed run may repeat an epoch's event, and the later
 * one is what the run continued from.
 */
function readLrReductions(eventsFile: string, warnings: string[]): LrReduction[] {
  if (!existsSync(eventsFile)) return [];
  const byEpoch = new Map<number, LrReduction>();
  readFileSync(eventsFile, 'utf8')
    .split('\n')
    .forEach((line, i) => {
      if (line.trim() === '') return;
      let event: { event?: unknown; epoch?: unknown; from?: unknown; to?: unknown };
      try {
        event = JSON.parse(line) as typeof event;
      } catch {
        // A coordinator killed mid-write leaves a partial last line; the rest is still good.
        warnings.push(`${eventsFile}:${i + 1} is not JSON and was skipped`);
        return;
      }
      if (event.event === 'lr_reduced' && typeof event.epoch === 'number' && typeof event.from === 'number' && typeof event.to === 'number') {
        byEpoch.set(event.epoch, { epoch: event.epoch, from: event.from, to: event.to });
      }
    });
  return [...byEpoch.values()].sort((a, b) => a.epoch - b.epoch);
}

export interface CheckpointChoice {
  kind: CheckpointKind;
  dir: string;
  meta: CheckpointMeta;
}

export function resolveCheckpoint(run: RunRecord, kind: CheckpointKind): CheckpointChoice {
  const wanted = path.join(run.dir, 'checkpoints', kind);
  const dir = resolveAtomicDir(wanted);
  if (dir === undefined) {
    const other = kind === 'best' ? 'last' : 'best';
    const hint = existsSync(path.join(run.dir, 'checkpoints', other)) ? ` (--checkpoint ${other} exists)` : ': checkpoints are written at the end of each epoch';
    throw new CheckpointError('CHECKPOINT_NOT_FOUND', `--checkpoint ${kind}: ${wanted} does not exist${hint}`);
  }
  const meta = readCheckpointMeta(dir);
  const metaFile = path.join(dir, 'meta.json');
  if (meta.imageSize !== run.config.imageSize || meta.preprocessing !== run.config.preprocessing) {
    throw new CheckpointError(
      'CHECKPOINT_INVALID',
      `${metaFile} says ${meta.imageSize}px ${meta.preprocessing} inputs, but the run's config.json says ${run.config.imageSize}px ${run.config.preprocessing}`,
    );
  }
  return { kind, dir, meta };
}
