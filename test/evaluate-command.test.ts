// Issue 5, acceptance d: `emotrain evaluate` on a real (tiny) run of the README's demo command
// reproduces the run's own val accuracy and loss for the same checkpoint exactly, on a machine
// whose dataset cache is empty; and it refuses a directory that is not a run, or a missing
// checkpoint, naming what is wrong.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COORDINATOR, EMOTRAIN, Program, cleanUp, readCsv, tempDir, tinyRunArgs } from './helpers/processes.js';
import { writeFixtureRun } from './helpers/fixture-run.js';

interface Summary {
  checkpoint: { kind: string; epoch: number; valAccuracy: number; valLoss: number };
  backend: string;
  tta: string;
  splits: Record<string, { count: number; accuracy: number; loss: number; mostConfused: string[] }>;
  files: string[];
}

function readSummary(dir: string): Summary {
  return JSON.parse(readFileSync(path.join(dir, 'summary.json'), 'utf8')) as Summary;
}

async function evaluate(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; output: string }> {
  const program = new Program(EMOTRAIN, ['evaluate', ...args], env);
  const { code } = await program.exit(120_000);
  return { code, output: program.output };
}

let runDir: string;

beforeAll(async () => {
  tf.env().set('PROD', true);
  await tf.setBackend('cpu');
  const runs = tempDir('eval-runs');
  // --val-split: evaluate must rebuild the run's own split from its config.json, not the default one.
  const coordinator = new Program(COORDINATOR, [...tinyRunArgs(runs, 'demo'), '--val-split', '0.2']);
  const { code } = await coordinator.exit(240_000);
  expect(code, coordinator.output).toBe(0);
  runDir = path.join(runs, 'demo');
});
afterAll(cleanUp);

describe('emotrain evaluate on a real run', () => {
  it("reproduces the last epoch's val accuracy and loss exactly from checkpoints/last, with an empty dataset cache", async () => {
    const emptyCache = tempDir('clean-cache');
    const { code, output } = await evaluate([runDir, '--checkpoint', 'last'], { EMOTRAIN_CACHE: emptyCache });
    expect(code, output).toBe(0);
    expect(output).toMatch(/regenerated the synthetic dataset/);
    expect(output).toMatch(/with the wasm backend/);
    expect(output).toMatch(/report: .*report\.html/);

    const lastEpoch = readCsv(path.join(runDir, 'metrics.csv')).at(-1)!;
    const summary = readSummary(path.join(runDir, 'report'));
    expect(summary.checkpoint).toMatchObject({ kind: 'last', epoch: lastEpoch['epoch'] });
    // Same checkpoint, same data, same function, same summation order: the same doubles.
    expect(summary.splits['val']!.accuracy).toBe(lastEpoch['val_accuracy']);
    expect(summary.splits['val']!.loss).toBe(lastEpoch['val_loss']);

    const config = JSON.parse(readFileSync(path.join(runDir, 'config.json'), 'utf8')) as { split: { train: number; val: number; test: number; rule: string }; syntheticSeed: number; valSplit: number };
    expect(config.syntheticSeed).toBe(1);
    expect(config.valSplit).toBe(0.2);
    expect(config.split.rule).toMatch(/^test: the dataset's own test split; val: 20% of the rest \(--val-split\)/);
    expect(config.split.val / (config.split.train + config.split.val)).toBeCloseTo(0.2, 2);
    expect(summary.splits['val']!.count).toBe(config.split.val);
    expect(summary.splits['test']!.count).toBe(config.split.test);
    expect(Number.isFinite(summary.splits['test']!.loss)).toBe(true);
    for (const file of summary.files) expect(existsSync(path.join(runDir, 'report', file)), file).toBe(true);
    expect(summary.files).toEqual(
      expect.arrayContaining([
        'report.html', 'training-accuracy.png', 'training-loss.png',
        'val-classification-report.txt', 'val-classification-report.json', 'val-confusion-counts.csv', 'val-confusion-normalized.csv',
        'val-confusion-counts.png', 'val-confusion-normalized.png', 'val-predictions-correct.png', 'val-predictions-incorrect.png',
        'val-most-confused.txt', 'val-predictions.csv', 'test-classification-report.txt', 'test-confusion-counts.png',
      ]),
    );
    // The text report's support column adds up to the split.
    const reportText = readFileSync(path.join(runDir, 'report', 'val-classification-report.txt'), 'utf8');
    expect(reportText).toMatch(new RegExp(`accuracy\\s+\\d\\.\\d\\d\\s+${config.split.val}\\n`));
  });

  it("reproduces checkpoints/best's recorded val numbers, writing one split where --out says", async () => {
    const out = tempDir('eval-out');
    const { code, output } = await evaluate([runDir, '--split', 'val', '--out', out]);
    expect(code, output).toBe(0);
    const meta = JSON.parse(readFileSync(path.join(runDir, 'checkpoints', 'best', 'meta.json'), 'utf8')) as { valAccuracy: number; valLoss: number; epoch: number };
    const summary = readSummary(out);
    expect(summary.checkpoint).toMatchObject({ kind: 'best', epoch: meta.epoch });
    expect(summary.splits['val']!.accuracy).toBe(meta.valAccuracy);
    expect(summary.splits['val']!.loss).toBe(meta.valLoss);
    expect(Object.keys(summary.splits)).toEqual(['val']);
    expect(existsSync(path.join(out, 'test-confusion-counts.csv'))).toBe(false);
    expect(summary.tta).toBe('none');
  });

  it('evaluates with --tta flip and flip-zoom, saying so in its output, summary.json and report', async () => {
    const out = tempDir('eval-tta');
    const { code, output } = await evaluate([runDir, '--split', 'val', '--out', out, '--tta', 'flip']);
    expect(code, output).toBe(0);
    expect(output).toContain('each image averaged with its mirror image (--tta flip)');
    const summary = readSummary(out);
    expect(summary.tta).toBe('flip');
    const val = summary.splits['val']!;
    expect(val.accuracy).toBeGreaterThanOrEqual(0);
    expect(val.accuracy).toBeLessThanOrEqual(1);
    expect(Number.isFinite(val.loss)).toBe(true);
    expect(readFileSync(path.join(out, 'report.html'), 'utf8')).toContain('test-time augmentation: flip');
    const zoomed = tempDir('eval-tta-zoom');
    const withZoom = await evaluate([runDir, '--split', 'val', '--out', zoomed, '--tta', 'flip-zoom']);
    expect(withZoom.code, withZoom.output).toBe(0);
    // the run trained with the study's --zoom 0.2
    expect(withZoom.output).toContain('each image averaged over six views: as it is and mirrored, each at zoom 1, 0.8 and 1.2 (--tta flip-zoom)');
    expect(readSummary(zoomed).tta).toBe('flip-zoom');
    const zoomedVal = readSummary(zoomed).splits['val']!;
    expect(zoomedVal.accuracy).toBeGreaterThanOrEqual(0);
    expect(zoomedVal.accuracy).toBeLessThanOrEqual(1);
    expect(Number.isFinite(zoomedVal.loss)).toBe(true);
    // the six views were really judged: neither the run's own val loss (as it is) nor flip's
    const meta = JSON.parse(readFileSync(path.join(runDir, 'checkpoints', 'best', 'meta.json'), 'utf8')) as { valLoss: number };
    expect(zoomedVal.loss).not.toBe(meta.valLoss);
    expect(zoomedVal.loss).not.toBe(val.loss);
    expect(readFileSync(path.join(zoomed, 'report.html'), 'utf8')).toContain('test-time augmentation: flip-zoom (each image averaged over six views');
    const refused = await evaluate([runDir, '--tta', 'rotate']);
    expect(refused.code).toBe(1);
    expect(refused.output).toMatch(/tta.*rotate|Invalid values/s);
  });
});

describe('emotrain evaluate on something that is not a usable run', () => {
  it('names the missing config.json of a directory that is not a run', async () => {
    const notARun = tempDir('not-a-run');
    const { code, output } = await evaluate([notARun]);
    expect(code).toBe(1);
    expect(output).toContain(`${path.join(notARun, 'config.json')} is missing`);
    expect(output).toContain('[RUN_NOT_FOUND]');
  });

  it('names the missing checkpoint and the one that exists', async () => {
    const fixture = await writeFixtureRun(tempDir('fixture-runs'), 'only-last', { checkpoints: ['last'] });
    const { code, output } = await evaluate([fixture, '--checkpoint', 'best']);
    expect(code).toBe(1);
    expect(output).toContain(`--checkpoint best: ${path.join(fixture, 'checkpoints', 'best')} does not exist (--checkpoint last exists)`);
    expect(output).toContain('[CHECKPOINT_NOT_FOUND]');
  });

  it('refuses a run whose dataset has changed since, since its numbers cannot be reproduced', async () => {
    const fixture = await writeFixtureRun(tempDir('fixture-runs'), 'changed');
    const configFile = path.join(fixture, 'config.json');
    const config = JSON.parse(readFileSync(configFile, 'utf8')) as { split: { train: number; val: number; test: number } };
    const { val } = config.split;
    writeFileSync(configFile, JSON.stringify({ ...config, split: { ...config.split, val: val + 1 } }));
    const { code, output } = await evaluate([fixture]);
    expect(code).toBe(1);
    expect(output).toMatch(new RegExp(`now gives a val split of ${val} images, but the run \\(.*config\\.json\\) had ${val + 1}: it has changed since the run`));
    expect(output).toContain('[RUN_INVALID]');
  });

  it('refuses a bad flag value by name', async () => {
    const { code, output } = await evaluate([runDir, '--split', 'train']);
    expect(code).toBe(1);
    expect(output).toMatch(/split.*Invalid values|Invalid values[\s\S]*split/);
  });
});
