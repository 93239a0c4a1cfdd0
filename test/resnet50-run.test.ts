import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { COORDINATOR, Program, cleanUp, readEvents, tempDir } from './helpers/processes.js';

afterEach(cleanUp);

describe('the reference backbone', () => {
  // Regression: heartbeats used to start only after the model was built and its state fetched,
  // which for ResNet50 takes longer than the heartbeat timeout; workers were declared stalled.
  it('trains ResNet50 on wasm workers in micro-batches, without a slow model build counting as a stall', async () => {
    const runs = tempDir('resnet50');
    const coordinator = new Program(COORDINATOR, [
      '--gpus', '2', '--epochs', '1', '--steps-per-epoch', '1', '--batch', '16', '--micro-batch', '4',
      '--dataset', 'synthetic', '--synthetic-count', '700', '--model', 'resnet50', '--image-size', '32',
      '--heartbeat-timeout', '3', '--runs', runs, '--run-id', 'r50', '--progress', 'lines',
    ]);
    const { code } = await coordinator.exit(300_000);
    expect(code, coordinator.output).toBe(0);
    const events = readEvents(path.join(runs, 'r50'));
    // no worker was lost while the run went on (a missed heartbeat would be one)
    const lost = events.filter((e) => e.event === 'worker_left' && e['expected'] !== true);
    expect(lost, JSON.stringify(lost)).toEqual([]);
    expect(events.filter((e) => e.event === 'replicas_verified').length).toBe(1);
    expect(events.at(-1)?.event).toBe('run_finished');
  });
});
