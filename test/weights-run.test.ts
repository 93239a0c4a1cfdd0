// Runs started with --weights begin from those weights on every worker; runs that freeze random
// layers say so; --weights is refused on --resume. Real coordinator and worker processes (from
// dist/); the weights file is written by h5py in Keras' layout (test/helpers/keras-h5-writer.py).

import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readLayersWeights } from '../shared/model-io.js';
import { buildReplicaModel } from '../shared/replica-model.js';
import { COORDINATOR, Program, cleanUp, readEvents, tempDir } from './helpers/processes.js';
import { SMALL_CNN, smallCnnKerasLayers, writeKerasH5 } from './helpers/weights-fixtures.js';

afterEach(cleanUp);

beforeAll(async () => {
  await tf.setBackend('cpu');
  tf.env().set('PROD', true);
});

const LEARNING_RATE = 1e-3;

function runArgs(runs: string, runId: string, gpus: number): string[] {
  return [
    '--gpus', String(gpus), '--epochs', '1', '--steps-per-epoch', '1', '--dataset', 'synthetic', '--synthetic-count', '700',
    '--model', 'small-cnn', '--image-size', '32', '--freeze', 'conv2', '--lr', String(LEARNING_RATE),
    '--runs', runs, '--run-id', runId, '--progress', 'lines',
  ];
}

describe('a run started with --weights', () => {
  it('starts every worker from the file: frozen layers keep its values exactly, trained ones move by at most one Adam step', async () => {
    const runs = tempDir('weights-run');
    const file = path.join(runs, 'small-cnn-backbone.h5');
    const written = writeKerasH5(file, { layers: smallCnnKerasLayers(), seed: 11, scale: 0.05 });
    const coordinator = new Program(COORDINATOR, [...runArgs(runs, 'from-file', 2), '--weights', file]);
    const { code } = await coordinator.exit(180_000);
    expect(code, coordinator.output).toBe(0);
    expect(coordinator.output).toMatch(/weights: loaded 4 layers of small-cnn \(8 tensors, [\d,]+ values\) from the Keras HDF5 file /);
    expect(coordinator.output).toContain('weights: predictions: not in the source (head layers start fresh)');
    expect(coordinator.output).not.toContain('RANDOM');

    const runDir = path.join(runs, 'from-file');
    const config = JSON.parse(readFileSync(path.join(runDir, 'config.json'), 'utf8')) as { weights: Record<string, unknown> };
    const sha256 = createHash('sha256').update(readFileSync(file)).digest('hex');
    expect(config.weights).toMatchObject({ path: file, kind: 'keras-h5', files: [{ path: file, sha256 }], loadedLayers: 4, loadedTensors: 8 });

    const events = readEvents(runDir);
    const loaded = events.find((e) => e.event === 'weights_loaded')!;
    expect(loaded).toMatchObject({
      loaded: ['conv1_conv', 'conv2_conv', 'conv3_conv', 'conv4_conv'],
      fresh: [
        { layer: 'head_dense', reason: 'not in the source (head layers start fresh)' },
        { layer: 'predictions', reason: 'not in the source (head layers start fresh)' },
      ],
      no_weights: ['input', 'head_pool', 'head_dropout'],
      unused: [],
    });
    // Each replica's checksum matched the shadow's after the step: a worker that had started from
    // its own seed-initialised frozen layers would have failed the run.
    expect(events.filter((e) => e.event === 'replicas_verified')).toHaveLength(1);
    expect(events.some((e) => e.event === 'warning')).toBe(false);

    const saved = new Map(readLayersWeights(path.join(runDir, 'checkpoints', 'last')).map((w) => [w.name, w.values]));
    const seeded = buildReplicaModel({ ...SMALL_CNN, freeze: 'conv2' });
    const seededValues = new Map(seeded.state.slots.map((slot) => [slot.name, slot.values]));
    for (const tensor of written) {
      const name = `${tensor.layer}/${tensor.weight}`;
      const values = saved.get(name)!;
      const frozen = tensor.layer === 'conv1_conv' || tensor.layer === 'conv2_conv';
      if (frozen) {
        expect(Buffer.from(values.buffer, values.byteOffset, values.byteLength).equals(Buffer.from(tensor.values.buffer)), name).toBe(true);
      } else {
        const moved = Math.max(...values.map((v, i) => Math.abs(v - tensor.values[i]!)));
        expect(moved, name).toBeGreaterThan(0);
        expect(moved, name).toBeLessThanOrEqual(LEARNING_RATE * 1.001);
      }
      // and nowhere near where the seed would have put them
      expect(values.some((v, i) => Math.abs(v - seededValues.get(name)![i]!) > 0.01), name).toBe(true);
    }
    seeded.model.dispose();
  });

  it('starts again from the same weights when it stopped before its first epoch ended, and refuses weights that changed since', async () => {
    const runs = tempDir('weights-restart');
    const file = path.join(runs, 'small-cnn-backbone.h5');
    const written = writeKerasH5(file, { layers: smallCnnKerasLayers(), seed: 11, scale: 0.05 });
    const first = new Program(COORDINATOR, [...runArgs(runs, 'restart', 1), '--weights', file]);
    expect((await first.exit(180_000)).code, first.output).toBe(0);
    const runDir = path.join(runs, 'restart');
    // as it is when the run is killed before its first epoch ends: no checkpoint, no metrics row
    const stopBeforeFirstEpoch = () => {
      rmSync(path.join(runDir, 'checkpoints'), { recursive: true, force: true });
      const metrics = readFileSync(path.join(runDir, 'metrics.csv'), 'utf8');
      writeFileSync(path.join(runDir, 'metrics.csv'), `${metrics.split('\n')[0]}\n`);
    };
    stopBeforeFirstEpoch();
    const resumed = new Program(COORDINATOR, ['--resume', runDir, '--progress', 'lines']);
    expect((await resumed.exit(180_000)).code, resumed.output).toBe(0);
    expect(resumed.output).toContain(`${runDir} stopped before finishing its first epoch (no checkpoints/last): starting it again from the beginning, from its --weights ${file} (unchanged since)`);
    const saved = new Map(readLayersWeights(path.join(runDir, 'checkpoints', 'last')).map((w) => [w.name, w.values]));
    for (const tensor of written.filter((t) => t.layer === 'conv1_conv' || t.layer === 'conv2_conv')) {
      const values = saved.get(`${tensor.layer}/${tensor.weight}`)!;
      // frozen, so exactly the file's values: the restart read the file again, it did not seed them
      expect(Buffer.from(values.buffer, values.byteOffset, values.byteLength).equals(Buffer.from(tensor.values.buffer)), tensor.layer).toBe(true);
    }

    stopBeforeFirstEpoch();
    writeKerasH5(file, { layers: smallCnnKerasLayers(), seed: 12, scale: 0.05 });
    const refused = new Program(COORDINATOR, ['--resume', runDir, '--progress', 'lines']);
    expect((await refused.exit(120_000)).code).toBe(1);
    expect(refused.output).toMatch(new RegExp(`started from --weights ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} and stopped before finishing its first epoch; ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} has changed since \\(sha256 [0-9a-f]{12}… then, [0-9a-f]{12}… now\\), so it cannot start again from the same weights: start a new run \\[WEIGHTS_CHANGED\\]`));
    expect(existsSync(path.join(runDir, 'checkpoints', 'last'))).toBe(false);
  });

  it('is refused with --resume, which continues from the weights the run already has', async () => {
    const runs = tempDir('weights-resume');
    const coordinator = new Program(COORDINATOR, ['--resume', path.join(runs, 'earlier'), '--weights', path.join(runs, 'w.h5')]);
    const { code } = await coordinator.exit(60_000);
    expect(code).toBe(1);
    expect(coordinator.output).toContain(
      `coordinator: --weights cannot be used with --resume: ${path.join(runs, 'earlier')} continues from its checkpoints/last, which already holds the run's weights. To fine-tune from that run, start a new run with --weights ${path.join(runs, 'earlier')} [CONFIG_INVALID]`,
    );
  });
});

describe('a run that freezes layers without --weights', () => {
  it('warns once, on the console and in events.jsonl, that the frozen layers are random', async () => {
    const runs = tempDir('random-frozen');
    const coordinator = new Program(COORDINATOR, runArgs(runs, 'random', 1));
    const { code } = await coordinator.exit(180_000);
    expect(code, coordinator.output).toBe(0);
    const runDir = path.join(runs, 'random');
    const warnings = readEvents(runDir).filter((e) => e.event === 'warning');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ code: 'FROZEN_RANDOM_WEIGHTS' });
    expect(warnings[0]!['message']).toMatch(/^--freeze conv2 freezes 2 layers of small-cnn with weights \(5,088 values\) that are RANDOM/);
    expect(coordinator.output.match(/that are RANDOM/g)).toHaveLength(1);
    const config = JSON.parse(readFileSync(path.join(runDir, 'config.json'), 'utf8')) as { weights: unknown };
    expect(config.weights).toBeNull();
  });
});
