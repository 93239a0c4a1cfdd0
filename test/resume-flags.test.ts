// Issue 15: what `coordinator --resume` does with the flags it is given. Changeable settings
// (epochs, the LR schedule, early stopping, the world) are applied and said; any other setting
// given with another value is refused before anything starts; a finished run starts nothing.

import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { explicitFlags } from '../shared/cli.js';
import { parseCoordinatorArgs, requestedRunConfig, runConfigOf } from '../coordinator/command-line.js';
import { resumedSettings } from '../coordinator/run-flags.js';
import { COORDINATOR, Program, cleanUp, readCsv, readEvents, tempDir } from './helpers/processes.js';

afterEach(cleanUp);

const TINY = [
  '--gpus', '1', '--dataset', 'synthetic', '--synthetic-count', '300', '--model', 'small-cnn', '--image-size', '16',
  '--steps-per-epoch', '2', '--progress', 'lines',
];

describe('explicit flags', () => {
  it('are the ones on the command line or in --config, not the defaults', () => {
    const given = explicitFlags(['--resume', 'runs/x', '--lr=0.5', '--no-augment', '--imageSize', '32', '--', '--gpus'], ['patience']);
    expect([...given].sort()).toEqual(['augment', 'image-size', 'lr', 'patience', 'resume']);
  });
});

describe('the settings of a resumed run', () => {
  const saved = { ...runConfigOf(parseCoordinatorArgs([...TINY, '--epochs', '3', '--run-id', 'r']).argv), syntheticSeed: 1 };
  const requested = (args: string[]) => {
    const { argv, explicit } = parseCoordinatorArgs(['--resume', 'runs/r', ...args]);
    return { config: { ...requestedRunConfig(argv), syntheticSeed: argv['synthetic-seed'] }, explicit };
  };

  it("keep the run's own settings where no flag was given, whatever the defaults are", () => {
    const { config, explicit } = requested([]);
    const resumed = resumedSettings(saved, config, explicit);
    expect(resumed).toEqual({ config: saved, changes: [], changedKeys: [], refused: [] });
  });

  it('take the changeable flags that were given, each said once', () => {
    const { config, explicit } = requested(['--epochs', '5', '--patience', '7', '--early-stopping-patience', '2', '--gpus', '1']);
    const resumed = resumedSettings(saved, config, explicit);
    expect(resumed.refused).toEqual([]);
    expect(resumed.changes).toEqual(['epochs 3 → 5', 'patience 3 → 7', 'early-stopping patience none → 2']);
    expect(resumed.changedKeys).toEqual(['epochs', 'plateau.patience', 'earlyStopping.patience']);
    expect(resumed.config.epochs).toBe(5);
    expect(resumed.config.plateau.patience).toBe(7);
    expect(resumed.config.earlyStopping).toMatchObject({ patience: 2, monitor: 'val_loss' });
  });

  it('refuse every other flag given with another value, naming the flag and both values', () => {
    // --image-size 16 is the run's own (and --seed 42 too): given again, it is no change.
    const { config, explicit } = requested(['--lr', '0.5', '--model', 'resnet50', '--image-size', '16', '--seed', '42', '--no-augment']);
    const resumed = resumedSettings(saved, config, explicit);
    expect(resumed.refused).toEqual([
      "--model resnet50 differs from this run's model small-cnn",
      "--no-augment differs from this run's augmentation switch true",
      "--lr 0.5 differs from this run's learning rate 0.001",
    ]);
  });

  it('name what a run made before a flag existed has, not "none"', () => {
    // config.json of a run made before --val-split, --head and --allreduce: none of the three keys
    const { valSplit: _valSplit, head: _head, allreduce: _allreduce, ...older } = saved;
    const { config, explicit } = requested(['--val-split', '0.2', '--head', 'paper', '--allreduce', 'ring']);
    expect(resumedSettings(older, config, explicit).refused).toEqual([
      "--val-split 0.2 differs from this run's val split 1/9 (the default)",
      "--head paper differs from this run's head study (the default)",
      "--allreduce ring differs from this run's all-reduce star (the default)",
    ]);
  });
});

describe('coordinator --resume', () => {
  let base: string;
  beforeAll(async () => {
    // One finished 1-epoch run, copied by each test.
    base = mkdtempSync(path.join(os.tmpdir(), 'emotrain-resume-base-'));
    const first = new Program(COORDINATOR, [...TINY, '--epochs', '1', '--runs', base, '--run-id', 'run']);
    expect((await first.exit(120_000)).code, first.output).toBe(0);
  }, 150_000);
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  function copyOfRun(): string {
    const runDir = path.join(tempDir('resume'), 'run');
    cpSync(path.join(base, 'run'), runDir, { recursive: true });
    return runDir;
  }

  /** Every file of a run directory with its bytes, to see that nothing changed. */
  function snapshot(dir: string): Record<string, string> {
    const files: Record<string, string> = {};
    const walk = (d: string) => {
      for (const name of readdirSync(d)) {
        const file = path.join(d, name);
        if (statSync(file).isDirectory()) walk(file);
        else files[path.relative(dir, file)] = readFileSync(file).toString('base64');
      }
    };
    walk(dir);
    return files;
  }

  it('applies an allowed flag: --epochs 2 trains a second epoch, and says so', async () => {
    const runDir = copyOfRun();
    const resumed = new Program(COORDINATOR, ['--resume', runDir, '--epochs', '2', '--progress', 'lines']);
    expect((await resumed.exit(120_000)).code, resumed.output).toBe(0);
    expect(resumed.output).toContain('resuming with changed settings: epochs 1 → 2');
    expect(resumed.output).toMatch(/resuming .* after epoch 1 \(step 2, lr 1\.00e-3,/);
    expect(resumed.output).toContain('finished 2 epochs');
    expect(readEvents(runDir).find((e) => e.event === 'run_resumed')?.['changed_settings']).toEqual(['epochs 1 → 2']);
    expect(readCsv(path.join(runDir, 'metrics.csv')).length).toBe(2);
    const state = JSON.parse(readFileSync(path.join(runDir, 'checkpoints', 'last', 'state.json'), 'utf8')) as { epochsCompleted: number };
    expect(state.epochsCompleted).toBe(2);
  });

  it('refuses a setting the run keeps, on the command line or in --config, before any worker starts', async () => {
    const runDir = copyOfRun();
    const before = snapshot(runDir);
    const refused = new Program(COORDINATOR, ['--resume', runDir, '--lr', '0.5', '--model', 'resnet50', '--epochs', '2']);
    expect((await refused.exit(30_000)).code).toBe(1);
    expect(refused.output).toContain("--model resnet50 differs from this run's model small-cnn; --lr 0.5 differs from this run's learning rate 0.001: a resumed run keeps its settings (start a new run to change them)");
    expect(refused.output).not.toMatch(/started local worker/);

    const file = path.join(tempDir('resume-config'), 'changes.yaml');
    writeFileSync(file, 'batch: 64\n');
    const fromFile = new Program(COORDINATOR, ['--resume', runDir, '--config', file]);
    expect((await fromFile.exit(30_000)).code).toBe(1);
    expect(fromFile.output).toContain("--batch 64 differs from this run's global batch 128: a resumed run keeps its settings (start a new run to change it)");
    expect(snapshot(runDir)).toEqual(before);
  });

  it('says a finished run is finished and exits 0 without starting any worker', async () => {
    const runDir = copyOfRun();
    const events = readEvents(runDir).length;
    const again = new Program(COORDINATOR, ['--resume', runDir, '--progress', 'lines']);
    expect((await again.exit(30_000)).code, again.output).toBe(0);
    expect(again.output).toContain(`${runDir} already finished its 1 epoch; nothing to train`);
    const appended = readEvents(runDir).slice(events);
    expect(appended.filter((e) => e.event === 'worker_started' || e.event === 'worker_joined')).toEqual([]);
    expect(appended).toEqual([]);
  });

  it('says a run that early stopping ended is finished, and trains it on when the resume gives it more patience', async () => {
    const base = tempDir('early');
    // val_accuracy never beats a baseline of 0.99, so the patience of 1 runs out after epoch 2
    const first = new Program(COORDINATOR, [...TINY, '--epochs', '5', '--early-stopping-patience', '1', '--early-stopping-monitor', 'val_accuracy', '--early-stopping-baseline', '0.99', '--runs', base, '--run-id', 'early']);
    expect((await first.exit(120_000)).code, first.output).toBe(0);
    const runDir = path.join(base, 'early');
    expect(readCsv(path.join(runDir, 'metrics.csv')).length).toBe(2);
    const events = readEvents(runDir).length;

    const again = new Program(COORDINATOR, ['--resume', runDir, '--progress', 'lines']);
    expect((await again.exit(30_000)).code, again.output).toBe(0);
    expect(again.output).toContain(`${runDir} was stopped by early stopping after epoch 2; nothing to train`);
    expect(readEvents(runDir).slice(events)).toEqual([]);

    const longer = new Program(COORDINATOR, ['--resume', runDir, '--early-stopping-patience', '2', '--progress', 'lines']);
    expect((await longer.exit(120_000)).code, longer.output).toBe(0);
    expect(longer.output).toContain('resuming with changed settings: early-stopping patience 1 → 2');
    expect(readCsv(path.join(runDir, 'metrics.csv')).length).toBe(3);
  });

  it('resumes a run whose state holds ±Infinity (early stopping not yet started), reading state.json as the checkpoint wrote it', async () => {
    const base = tempDir('infinite');
    const first = new Program(COORDINATOR, [...TINY, '--epochs', '1', '--early-stopping-patience', '2', '--early-stopping-start-from-epoch', '3', '--runs', base, '--run-id', 'r']);
    expect((await first.exit(120_000)).code, first.output).toBe(0);
    const runDir = path.join(base, 'r');
    // JSON has no Infinity: the checkpoint writes it as {"$number": "Infinity"}
    expect(readFileSync(path.join(runDir, 'checkpoints', 'last', 'state.json'), 'utf8')).toMatch(/"\$number": "-?Infinity"/);
    const resumed = new Program(COORDINATOR, ['--resume', runDir, '--epochs', '2', '--progress', 'lines']);
    expect((await resumed.exit(120_000)).code, resumed.output).toBe(0);
    expect(resumed.output).toContain('finished 2 epochs');
    expect(readCsv(path.join(runDir, 'metrics.csv')).length).toBe(2);
  });
});
