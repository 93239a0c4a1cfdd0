import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { COORDINATOR, Program, cleanUp, readCsv, readEvents, tempDir } from './helpers/processes.js';
import { serveDirectory } from './helpers/serve-dir.js';

afterEach(cleanUp);
beforeAll(async () => {
  tf.env().set('PROD', true);
  await tf.setBackend('cpu');
});

describe('a distributed run, end to end', () => {
  it('trains with two worker processes and writes the run directory of SPEC §6', async () => {
    const runs = tempDir('runs');
    const coordinator = new Program(COORDINATOR, [
      '--gpus', '2', '--epochs', '2', '--dataset', 'synthetic', '--synthetic-count', '700',
      '--model', 'small-cnn', '--image-size', '32', '--runs', runs, '--run-id', 'e2e', '--progress', 'lines',
    ]);
    const { code } = await coordinator.exit(240_000);
    expect(code, coordinator.output).toBe(0);
    expect(coordinator.output).toMatch(/the 2 local workers run on the CPU with the wasm backend/);
    const runDir = path.join(runs, 'e2e');

    const config = JSON.parse(readFileSync(path.join(runDir, 'config.json'), 'utf8')) as Record<string, unknown>;
    expect(config).toMatchObject({ model: 'small-cnn', imageSize: 32, globalBatch: 128, epochs: 2, precision: 'fp16', gpus: 2 });

    const events = readEvents(runDir);
    const kinds = events.map((e) => e.event);
    expect(kinds[0]).toBe('run_started');
    expect(kinds.filter((k) => k === 'worker_joined').length).toBe(2);
    expect(kinds.filter((k) => k === 'epoch_end').length).toBe(2);
    expect(kinds.filter((k) => k === 'replicas_verified').length).toBe(2);
    expect(kinds.at(-1)).toBe('run_finished');
    // two workers, each computing half of every global batch of 128
    const trainCount = (config['split'] as { train: number }).train;
    for (const epochEnd of events.filter((e) => e.event === 'epoch_end')) {
      const perWorker = epochEnd['samples_per_worker'] as number[];
      expect(perWorker.length).toBe(2);
      expect(perWorker[0]! + perWorker[1]!).toBe(trainCount);
      expect(Math.abs(perWorker[0]! - perWorker[1]!)).toBeLessThanOrEqual(Math.ceil(trainCount / 128));
    }

    const metrics = readCsv(path.join(runDir, 'metrics.csv'));
    expect(metrics.map((m) => m['epoch'])).toEqual([1, 2]);
    for (const row of metrics) {
      for (const column of ['loss', 'accuracy', 'val_loss', 'val_accuracy', 'lr', 'loss_scale', 'images_per_second', 'skipped_steps']) {
        expect(Number.isFinite(row[column]), column).toBe(true);
      }
      expect(row['lr']).toBeCloseTo(1e-3, 9);
      expect(row['val_accuracy']).toBeGreaterThanOrEqual(0);
      expect(row['val_accuracy']).toBeLessThanOrEqual(1);
    }

    // checkpoints/best: plain tf.loadLayersModel loads it and it predicts
    const best = path.join(runDir, 'checkpoints', 'best');
    const meta = JSON.parse(readFileSync(path.join(best, 'meta.json'), 'utf8')) as { epoch: number; valAccuracy: number };
    expect(meta.valAccuracy).toBe(Math.max(...metrics.map((m) => m['val_accuracy']!)));
    const server = await serveDirectory(best);
    try {
      const model = await tf.loadLayersModel(`${server.url}/model.json`);
      const prediction = model.predict(tf.randomUniform([3, 32, 32, 3])) as tf.Tensor2D;
      expect(prediction.shape).toEqual([3, 7]);
      for (const row of prediction.arraySync()) expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    } finally {
      await server.close();
    }

    // checkpoints/last: everything resume needs
    const last = path.join(runDir, 'checkpoints', 'last');
    const state = JSON.parse(readFileSync(path.join(last, 'state.json'), 'utf8')) as { epochsCompleted: number; step: number; trainableElements: number };
    expect(state.epochsCompleted).toBe(2);
    expect(statSync(path.join(last, 'optimizer.bin')).size).toBe(state.trainableElements * 8);
    expect(existsSync(path.join(runDir, 'checkpoints', '.last.old'))).toBe(false);
  });

  it('skips every step whose gradients overflow fp16 on any worker, halving the loss scale, and says so', async () => {
    const runs = tempDir('runs');
    // 2^30 makes the scaled gradients overflow fp16 (max 65504) until the scale has come down
    const coordinator = new Program(COORDINATOR, [
      '--gpus', '2', '--epochs', '3', '--dataset', 'synthetic', '--synthetic-count', '700',
      '--model', 'small-cnn', '--image-size', '32', '--runs', runs, '--run-id', 'overflow', '--progress', 'lines',
      '--initial-loss-scale', String(2 ** 30),
    ]);
    const { code } = await coordinator.exit(120_000);
    expect(code, coordinator.output).toBe(0);
    const runDir = path.join(runs, 'overflow');
    const skipped = readEvents(runDir).filter((e) => e.event === 'step_skipped');
    expect(skipped.length).toBeGreaterThan(0);
    expect(skipped.length).toBeLessThan(15);
    skipped.forEach((event, i) => {
      expect(event['step']).toBe(i); // the first steps, in a row
      expect(event['loss_scale_before']).toBe(2 ** (30 - i));
      expect(event['loss_scale_after']).toBe(2 ** (29 - i));
      expect(event['skipped_total']).toBe(i + 1);
      expect(event['reason']).toMatch(/worker \d sent \d+ non-finite or fp16-overflowing gradient values/);
    });
    expect(coordinator.output).toMatch(/step 0 skipped: worker \d sent/);
    const rows = readCsv(path.join(runDir, 'metrics.csv'));
    expect(rows.reduce((sum, row) => sum + row['skipped_steps']!, 0)).toBe(skipped.length);
    expect(rows.at(-1)!['loss_scale']).toBe(2 ** (30 - skipped.length));
    // skipped steps are not Adam iterations, and every replica skipped them: checksums still agree
    const state = JSON.parse(readFileSync(path.join(runDir, 'checkpoints', 'last', 'state.json'), 'utf8')) as { optimizerIteration: number; step: number };
    const { split } = JSON.parse(readFileSync(path.join(runDir, 'config.json'), 'utf8')) as { split: { train: number } };
    expect(state.step).toBe(3 * Math.ceil(split.train / 128)); // 3 epochs of whole batches
    expect(state.optimizerIteration).toBe(state.step - skipped.length);
    expect(readEvents(runDir).some((e) => e.event === 'replicas_verified')).toBe(true);
  });

  it('says so at the end, and in events.jsonl, when every step was skipped and no update was ever applied', async () => {
    const runs = tempDir('runs');
    // a scale so large that even 30 halvings cannot bring the scaled gradients into fp16 range
    const coordinator = new Program(COORDINATOR, [
      '--gpus', '1', '--epochs', '1', '--steps-per-epoch', '3', '--dataset', 'synthetic', '--synthetic-count', '700',
      '--model', 'small-cnn', '--image-size', '16', '--runs', runs, '--run-id', 'all-skipped', '--progress', 'lines',
      '--initial-loss-scale', String(2 ** 40),
    ]);
    const { code } = await coordinator.exit(120_000);
    expect(code, coordinator.output).toBe(0);
    const events = readEvents(path.join(runs, 'all-skipped'));
    expect(events.filter((e) => e.event === 'step_skipped')).toHaveLength(3);
    const warnings = events.filter((e) => e.event === 'warning').map((e) => e['code']);
    expect(warnings).toEqual(['STEPS_MOSTLY_SKIPPED', 'NO_UPDATE_APPLIED']);
    const noUpdate = coordinator.output.indexOf('warning: no update was applied: all 3 steps were skipped');
    expect(noUpdate).toBeGreaterThan(0);
    // the warning comes before the summary line
    expect(noUpdate).toBeLessThan(coordinator.output.indexOf('finished 1 epoch'));
  });
});
