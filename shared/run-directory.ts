// The run directory of SPEC §6: config.json (resolved settings), events.jsonl (one JSON object per
// event, appended synchronously so that a crash loses nothing already said) and metrics.csv (one
// row per epoch). Checkpoints live below it and are handled by checkpoint-store.ts.

import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CheckpointError } from './errors.js';

export const METRICS_COLUMNS = [
  'epoch',
  'loss',
  'accuracy',
  'val_loss',
  'val_accuracy',
  'lr',
  'loss_scale',
  'images_per_second',
  'skipped_steps',
] as const;

export type EpochMetrics = Record<(typeof METRICS_COLUMNS)[number], number>;

/** One line of events.jsonl: an event name and its fields (the time is added on writing). */
export type RecordedEvent = { event: string };

export class RunDirectory {
  readonly path: string;

  constructor(runDir: string) {
    this.path = runDir;
  }

  /** Creates a fresh run directory; refuses one that already holds a run. */
  static create(runsDir: string, runId: string): RunDirectory {
    const runDir = path.resolve(runsDir, runId);
    if (existsSync(path.join(runDir, 'config.json'))) {
      throw new CheckpointError('CHECKPOINT_INVALID', `run directory ${runDir} already holds a run; use --resume ${runDir} to continue it or pick another --run-id`);
    }
    mkdirSync(path.join(runDir, 'checkpoints'), { recursive: true });
    return new RunDirectory(runDir);
  }

  get checkpointsDir(): string {
    return path.join(this.path, 'checkpoints');
  }

  writeConfig(config: object): void {
    writeFileSync(path.join(this.path, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
  }

  readConfig<T>(): T {
    const file = path.join(this.path, 'config.json');
    try {
      return JSON.parse(readFileSync(file, 'utf8')) as T;
    } catch (cause) {
      throw new CheckpointError('CHECKPOINT_INVALID', `cannot read the run configuration ${file}`, { cause });
    }
  }

  event(event: RecordedEvent): void {
    const line = JSON.stringify({ time: new Date().toISOString(), ...event });
    appendFileSync(path.join(this.path, 'events.jsonl'), `${line}\n`);
  }

  appendMetrics(row: EpochMetrics): void {
    const file = path.join(this.path, 'metrics.csv');
    if (!existsSync(file)) appendFileSync(file, `${METRICS_COLUMNS.join(',')}\n`);
    appendFileSync(file, `${METRICS_COLUMNS.map((c) => formatNumber(row[c])).join(',')}\n`);
  }

  /** Rows of metrics.csv (for resume: a resumed run drops rows after its checkpoint's epoch). */
  readMetrics(): EpochMetrics[] {
    return readMetricsCsv(path.join(this.path, 'metrics.csv'));
  }

  /** Rewrites metrics.csv with these rows only. */
  rewriteMetrics(rows: readonly EpochMetrics[]): void {
    const lines = [METRICS_COLUMNS.join(','), ...rows.map((row) => METRICS_COLUMNS.map((c) => formatNumber(row[c])).join(','))];
    writeFileSync(path.join(this.path, 'metrics.csv'), `${lines.join('\n')}\n`);
  }
}

// JavaScript's shortest round-trip form: reading the CSV back gives the same double.
function formatNumber(value: number): string {
  return String(value);
}

export function readMetricsCsv(file: string): EpochMetrics[] {
  if (!existsSync(file)) return [];
  const [header, ...lines] = readFileSync(file, 'utf8').trim().split('\n');
  const columns = (header ?? '').split(',');
  return lines
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const values = line.split(',');
      const row = {} as EpochMetrics;
      columns.forEach((column, i) => {
        (row as Record<string, number>)[column] = Number(values[i]);
      });
      return row;
    });
}
