// A run directory made in the test process, without training: config.json, a metrics.csv with
// made-up epochs, an LR reduction in events.jsonl, and best/last checkpoints of a freshly
// initialised small CNN. Enough for `emotrain evaluate` to report on in about a second, where a
// real run costs ~15 s; tests that need the run's own numbers train a real one instead. Any
// model can be asked for (the export tests write one of each).

import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { writeDirectoryAtomically } from '../../shared/atomic-dir.js';
import { EMOTION_CLASSES } from '../../shared/classes.js';
import { MODEL_DEFAULTS, workerConfigOf, type ModelName, type RunConfig, type WorkerConfig } from '../../shared/config.js';
import { layersModelFiles } from '../../shared/model-io.js';
import { buildModel } from '../../shared/models/index.js';
import { modelSpecOf } from '../../shared/replica-model.js';
import { prepareDataset } from '../../shared/dataset/prepare.js';
import { TEST_CACHE } from './processes.js';

export interface FixtureOptions {
  /** The model of the checkpoints (default small-cnn) and its input side (default 32). */
  model?: ModelName;
  imageSize?: number;
  /** Rows of metrics.csv (default 6; an LR reduction after epoch 4 when there are 4 or more). */
  epochs?: number;
  /** Which checkpoints to write (default both). */
  checkpoints?: ReadonlyArray<'best' | 'last'>;
}

export const FIXTURE_SYNTHETIC_COUNT = 700;

/** The model of the fixture run: the small CNN at 32 px, seed 42 (also what the --weights tests load into). */
export const FIXTURE_MODEL: WorkerConfig = {
  model: 'small-cnn',
  imageSize: 32,
  freeze: 'none',
  dropout: 0.5,
  l2: 0.01,
  seed: 42,
  precision: 'fp16',
  microBatch: 0,
  augment: true,
  preprocessing: 'unit',
};

export function fixtureConfig(runsDir: string, runId: string, model: ModelName = 'small-cnn', imageSize = 32): RunConfig & { syntheticSeed: number } {
  return {
    runId,
    dataset: 'synthetic',
    syntheticCount: FIXTURE_SYNTHETIC_COUNT,
    syntheticSeed: 1,
    ...FIXTURE_MODEL,
    model,
    imageSize,
    preprocessing: MODEL_DEFAULTS[model].preprocessing,
    epochs: 6,
    stepsPerEpoch: 0,
    globalBatch: 128,
    learningRate: 1e-3,
    plateau: { monitor: 'val_loss', factor: 0.1, patience: 3, minDelta: 1e-4, cooldown: 0, minLr: 0 },
    initialLossScale: 2 ** 15,
    lossScaleGrowthInterval: 2000,
    backend: 'auto',
    gpus: 2,
    remoteWorkers: 0,
    listen: '127.0.0.1:0',
    runsDir,
  };
}

/** Writes runs/<runId> and returns its path. Needs a tfjs backend set in the test process. */
export async function writeFixtureRun(runsDir: string, runId: string, options: FixtureOptions = {}): Promise<string> {
  const dir = path.join(runsDir, runId);
  mkdirSync(path.join(dir, 'checkpoints'), { recursive: true });
  const config = fixtureConfig(runsDir, runId, options.model, options.imageSize);
  const split = await fixtureSplit();
  writeFileSync(path.join(dir, 'config.json'), `${JSON.stringify({ ...config, split }, null, 2)}\n`);
  const epochs = options.epochs ?? 6;
  const rows = Array.from({ length: epochs }, (_, i) => {
    const e = i + 1;
    const lr = e > 4 ? 1e-4 : 1e-3;
    return [e, 2.2 - 0.15 * e, 0.2 + 0.08 * e, 2.3 - 0.1 * e, 0.2 + 0.06 * e, lr, 32768, 150, 0].join(',');
  });
  writeFileSync(
    path.join(dir, 'metrics.csv'),
    `epoch,loss,accuracy,val_loss,val_accuracy,lr,loss_scale,images_per_second,skipped_steps\n${rows.join('\n')}\n`,
  );
  const events = [
    { event: 'run_started', run_id: runId },
    ...(epochs >= 4 ? [{ event: 'lr_reduced', epoch: 4, from: 1e-3, to: 1e-4, monitor: 'val_loss' }] : []),
    { event: 'run_finished', epochs },
  ];
  writeFileSync(path.join(dir, 'events.jsonl'), events.map((e) => `${JSON.stringify(e)}\n`).join(''));

  const model = buildModel(modelSpecOf(workerConfigOf(config)));
  try {
    const files = await layersModelFiles(model);
    for (const kind of options.checkpoints ?? (['best', 'last'] as const)) {
      const meta = {
        runId,
        epoch: epochs,
        step: epochs * 5,
        valAccuracy: 0.5,
        valLoss: 1.7,
        model: config.model,
        imageSize: config.imageSize,
        preprocessing: config.preprocessing,
        classes: EMOTION_CLASSES,
        savedAt: new Date(0).toISOString(),
      };
      writeDirectoryAtomically(path.join(dir, 'checkpoints', kind), { ...files, 'meta.json': `${JSON.stringify(meta, null, 2)}\n` });
    }
  } finally {
    model.dispose();
  }
  return dir;
}

/** The split sizes a run of the fixture's configuration really gets (the dataset's own rule). */
export async function fixtureSplit(): Promise<{ train: number; val: number; test: number; rule: string }> {
  process.env['EMOTRAIN_CACHE'] ??= TEST_CACHE;
  const { split } = await prepareDataset('synthetic', { syntheticCount: FIXTURE_SYNTHETIC_COUNT, syntheticSeed: 1, splitSeed: 42 });
  return { train: split.train.length, val: split.val.length, test: split.test.length, rule: split.rule };
}
