// Reading a run directory for `emotrain evaluate`: LR reductions from events.jsonl (once per
// epoch, even after a resume repeated one; past a half-written last line), and the errors that
// name what is missing.

import { appendFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readRunRecord, resolveCheckpoint } from '../evaluate/run-record.js';
import { writeFixtureRun } from './helpers/fixture-run.js';
import { cleanUp, tempDir } from './helpers/processes.js';

beforeAll(async () => {
  tf.env().set('PROD', true);
  await tf.setBackend('cpu');
});
afterEach(cleanUp);

describe('reading a run directory', () => {
  it('takes one LR reduction per epoch, the later of a repeated one, and skips a torn last line with a note', async () => {
    const dir = await writeFixtureRun(tempDir('record'), 'resumed');
    const events = path.join(dir, 'events.jsonl');
    appendFileSync(events, `${JSON.stringify({ event: 'run_resumed' })}\n`);
    appendFileSync(events, `${JSON.stringify({ event: 'lr_reduced', epoch: 4, from: 1e-3, to: 2e-4 })}\n`);
    appendFileSync(events, `${JSON.stringify({ event: 'lr_reduced', epoch: 2, from: 1e-2, to: 1e-3 })}\n`);
    appendFileSync(events, '{"event":"epoch_e');
    const record = readRunRecord(dir);
    expect(record.lrReductions).toEqual([
      { epoch: 2, from: 1e-2, to: 1e-3 },
      { epoch: 4, from: 1e-3, to: 2e-4 },
    ]);
    expect(record.warnings).toEqual([`${events}:7 is not JSON and was skipped`]);
    expect(record.metrics.map((m) => m.epoch)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(record.config.syntheticSeed).toBe(1);
  });

  it('notes a run with no epochs yet rather than failing', async () => {
    const dir = await writeFixtureRun(tempDir('record'), 'fresh');
    rmSync(path.join(dir, 'metrics.csv'));
    expect(readRunRecord(dir).warnings).toEqual([`${path.join(dir, 'metrics.csv')} has no epochs yet: the report has no training curves`]);
  });

  it('names a config.json that cannot describe a run', async () => {
    const dir = await writeFixtureRun(tempDir('record'), 'broken');
    writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ runId: 'broken', dataset: 'synthetic' }));
    expect(() => readRunRecord(dir)).toThrow(`${path.join(dir, 'config.json')} does not describe a run: it needs dataset, syntheticCount and seed`);
  });

  it('refuses a checkpoint whose inputs differ from the run config, naming both', async () => {
    const dir = await writeFixtureRun(tempDir('record'), 'mismatch');
    const record = readRunRecord(dir);
    record.config.imageSize = 64;
    expect(() => resolveCheckpoint(record, 'best')).toThrow(/meta\.json says 32px unit inputs, but the run's config\.json says 64px unit/);
  });
});
