import { appendFileSync, cpSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { writeSyntheticDataset } from '../shared/dataset/synthetic.js';
import { COORDINATOR, Program, WORKER, cleanUp, readEvents, tempDir } from './helpers/processes.js';

afterEach(cleanUp);

// One dataset for both tests (cleanUp removes the per-test temp dirs after each).
const datasetParent = mkdtempSync(path.join(os.tmpdir(), 'emotrain-local-data-'));
const dataset = path.join(datasetParent, 'raf');
beforeAll(() => writeSyntheticDataset(dataset, { count: 300, seed: 5, size: 32 }), 120_000);
afterAll(() => rmSync(datasetParent, { recursive: true, force: true }));

/** A coordinator with one local worker fed over the network, waiting for one more to join. */
async function coordinatorWithOneRemote(runs: string, runId: string): Promise<{ coordinator: Program; port: string }> {
  const coordinator = new Program(COORDINATOR, [
    '--gpus', '1', '--workers', '1', '--listen', '127.0.0.1:0', '--token', 'T', '--dataset', dataset, '--epochs', '2', '--steps-per-epoch', '2',
    '--model', 'small-cnn', '--image-size', '32', '--runs', runs, '--run-id', runId, '--progress', 'lines', '--join-timeout', '60',
  ]);
  const [, port] = await coordinator.waitFor(/listening on 127\.0\.0\.1:(\d+)/, 60_000);
  return { coordinator, port: port! };
}

describe('a worker with its own copy of the dataset (--data-dir)', () => {
  it('trains together with a worker fed by the coordinator, and the replicas stay identical', async () => {
    const runs = tempDir('runs');
    const { coordinator, port } = await coordinatorWithOneRemote(runs, 'mixed');
    const worker = new Program(WORKER, ['--coordinator', `127.0.0.1:${port}`, '--token', 'T', '--data-dir', dataset, '--data-threads', '1']);
    const { code } = await coordinator.exit(240_000);
    expect(code, coordinator.output + worker.output).toBe(0);
    expect((await worker.exit(20_000)).code, worker.output).toBe(0);
    const events = readEvents(path.join(runs, 'mixed'));
    const joined = events.filter((e) => e.event === 'worker_joined');
    expect(joined.map((e) => e['local_data']).sort()).toEqual([false, true]);
    expect(events.filter((e) => e.event === 'replicas_verified').map((e) => e['workers'])).toEqual([2, 2]);
    expect(events.at(-1)?.event).toBe('run_finished');
  });

  it('refuses a copy whose files differ from the coordinator dataset, naming the file', async () => {
    const copy = path.join(tempDir('altered'), 'raf');
    cpSync(dataset, copy, { recursive: true });
    // one byte more at the end of every image: each still decodes, none has the coordinator's hash
    const images = path.join(copy, 'Image', 'aligned');
    for (const name of readdirSync(images)) appendFileSync(path.join(images, name), Buffer.from([0]));
    const runs = tempDir('runs');
    const { coordinator, port } = await coordinatorWithOneRemote(runs, 'altered');
    const worker = new Program(WORKER, ['--coordinator', `127.0.0.1:${port}`, '--token', 'T', '--data-dir', copy, '--data-threads', '1']);
    const workerExit = await worker.exit(120_000);
    expect(workerExit.code).not.toBe(0);
    expect(worker.output).toMatch(new RegExp(`${images.replace(/[/.]/g, '\\$&')}/\\w+_aligned\\.jpg \\(sample \\d+\\) has sha256`));
    expect(worker.output).toMatch(/has sha256 [0-9a-f]{64}, the coordinator's copy has [0-9a-f]{64}/);
    expect((await coordinator.exit(30_000)).code).not.toBe(0);
    expect(readEvents(path.join(runs, 'altered')).at(-1)?.event).toBe('run_failed');
    // the worker's own account of why it left is what the coordinator says and records
    expect(coordinator.output).toMatch(/run failed: worker \d \(.*\) was lost at step \d+: it failed: .*has sha256 [0-9a-f]{64}, the coordinator's copy has/);
    const left = readEvents(path.join(runs, 'altered')).find((e) => e.event === 'worker_left')!;
    expect(String(left['reason'])).toMatch(/^it failed: .*has sha256/);
  });
});
