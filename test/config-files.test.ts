// Issue 15: --config FILE in YAML or JSON for every command, a run's own config.json given back as
// --config, its own messages for a missing or broken file, and one line with a suggestion for a
// mistyped flag instead of yargs' whole help.

import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EMOTION_CLASSES } from '../shared/classes.js';
import { closestFlag, loadConfigFile, usageMessage } from '../shared/cli.js';
import type { DatasetReport } from '../shared/dataset/inspect.js';
import { parseCoordinatorArgs, runConfigOf } from '../coordinator/command-line.js';
import { flagsOfConfigFile } from '../coordinator/run-flags.js';
import { faceJpeg, write } from './helpers/datasets.js';
import { COORDINATOR, EMOTRAIN, Program, WORKER, cleanUp, tempDir } from './helpers/processes.js';

afterEach(cleanUp);

function file(name: string, text: string): string {
  const at = path.join(tempDir('config'), name);
  writeFileSync(at, text);
  return at;
}

describe('loading a config file', () => {
  it('reads YAML and JSON alike', () => {
    expect(loadConfigFile(file('a.yaml', '# the quick recipe\nepochs: 3\nmodel: small-cnn\nadvertise: [a, b]\n'))).toEqual({ epochs: 3, model: 'small-cnn', advertise: ['a', 'b'] });
    expect(loadConfigFile(file('a.json', '{"epochs": 3, "image-size": 32}'))).toEqual({ epochs: 3, 'image-size': 32 });
    expect(loadConfigFile(file('empty.yaml', ''))).toEqual({});
  });

  it('says a missing file is not found', () => {
    expect(() => loadConfigFile('/nonexistent.json')).toThrow('--config /nonexistent.json: not found');
  });

  it('gives the line and column of a broken file', () => {
    const broken = file('broken.yaml', 'epochs: 3\nmodel: [small-cnn\n');
    expect(() => loadConfigFile(broken)).toThrow(new RegExp(`--config ${broken}: not valid YAML or JSON at line \\d+, column \\d+: `));
    const json = file('broken.json', '{\n  "epochs": 3,\n  "lr" 0.1\n}\n');
    expect(() => loadConfigFile(json)).toThrow(/not valid YAML or JSON at line 3, column \d+/);
  });

  it('refuses a file that is not a mapping of flags', () => {
    expect(() => loadConfigFile(file('list.yaml', '- epochs\n- 3\n'))).toThrow(/expected a mapping of flags to values .*got a list/);
  });
});

describe('a mistyped flag', () => {
  it('gets the closest known flag as a suggestion', () => {
    const known = ['epochs', 'steps-per-epoch', 'lr', 'lr-factor', 'gpus', 'image-size'];
    expect(closestFlag('epoch', known)).toBe('epochs');
    expect(closestFlag('imagesize', known)).toBe('image-size');
    expect(closestFlag('gpu', known)).toBe('gpus');
    expect(closestFlag('tensorboard', known)).toBeUndefined();
    expect(usageMessage('Unknown arguments: epoch, tensorboard', known)).toBe(
      'Unknown argument --epoch: did you mean --epochs?; Unknown argument --tensorboard: see --help for the options',
    );
  });

  it('leaves --help as it was, with --config described as YAML or JSON', async () => {
    const help = new Program(COORDINATOR, ['--help']);
    expect((await help.exit(20_000)).code).toBe(0);
    expect(help.output).toMatch(/--config\s+YAML or JSON file with any of these flags/);
    expect(help.output).toMatch(/--epochs/);
  });

  it('is one line from the coordinator, which exits at once', async () => {
    const coordinator = new Program(COORDINATOR, ['--epoch', '3']);
    expect((await coordinator.exit(20_000)).code).toBe(1);
    expect(coordinator.output.trim()).toBe('coordinator: Unknown argument --epoch: did you mean --epochs? [CONFIG_INVALID]');
  });
});

describe('coordinator --config', () => {
  it('takes its settings from a YAML file, flags on the command line winning', () => {
    const yaml = file('recipe.yaml', 'model: small-cnn\nimage-size: 32\nepochs: 4\nlr: 0.002\npatience: 1\nearly-stopping-patience: 2\naugment: false\n');
    const { argv, explicit } = parseCoordinatorArgs(['--config', yaml, '--epochs', '6']);
    const config = runConfigOf(argv);
    expect(config).toMatchObject({ model: 'small-cnn', imageSize: 32, epochs: 6, learningRate: 0.002, plateau: { patience: 1 }, earlyStopping: { patience: 2 }, augment: false });
    expect([...explicit]).toEqual(expect.arrayContaining(['model', 'image-size', 'epochs', 'lr', 'patience', 'early-stopping-patience']));
  });

  it('gives each value the type of its flag, as YAML reads 40 as a number', () => {
    const yaml = file('types.yaml', 'model: resnet50\nfreeze: 40\nrun-id: 123\nimage-size: "64"\nadvertise: [10, b]\n');
    const { argv } = parseCoordinatorArgs(['--config', yaml]);
    expect(runConfigOf(argv)).toMatchObject({ freeze: '40', runId: '123', imageSize: 64 });
    expect(argv.advertise).toEqual(['10', 'b']);
  });

  it("reproduces a run's settings from its config.json", () => {
    const original = runConfigOf(parseCoordinatorArgs([
      '--model', 'small-cnn', '--image-size', '40', '--epochs', '7', '--batch', '64', '--lr', '0.003', '--patience', '2', '--min-lr', '1e-6',
      '--early-stopping-patience', '3', '--early-stopping-monitor', 'val_accuracy', '--restore-best-weights', '--rotation', '0.1', '--no-augment',
      '--synthetic-count', '500', '--steps-per-epoch', '5', '--precision', 'fp32', '--seed', '9', '--gpus', '1', '--runs', '/tmp/somewhere', '--run-id', 'original',
      '--val-split', '0.05',
    ]).argv);
    expect(original.valSplit).toBe(0.05);
    // As run-setup.ts writes it in the run directory.
    const written = {
      ...original, weights: null, syntheticSeed: 4, datasetRoot: '/cache/synthetic', datasetLayout: 'raf-db-official',
      split: { train: 300, val: 40, test: 160, rule: 'whatever' },
    };
    const configJson = file('config.json', `${JSON.stringify(written, null, 2)}\n`);
    const { argv } = parseCoordinatorArgs(['--config', configJson]);
    const { runId: _new, ...again } = runConfigOf(argv);
    const { runId: _old, ...settings } = original;
    expect(again).toEqual(settings);
    expect(argv['synthetic-seed']).toBe(4);
  });

  it('refuses a --val-split outside (0, 0.5] before anything starts, and leaves it out when not given', () => {
    expect(() => runConfigOf(parseCoordinatorArgs(['--val-split', '0.7']).argv)).toThrow(/--val-split must be a number in \(0, 0.5\].*got 0.7/);
    expect(() => runConfigOf(parseCoordinatorArgs(['--val-split', '0']).argv)).toThrow(/--val-split must be a number in \(0, 0.5\]/);
    expect(runConfigOf(parseCoordinatorArgs([]).argv)).not.toHaveProperty('valSplit');
  });

  it('maps config.json keys onto flags and leaves its records out', () => {
    expect(flagsOfConfigFile({ globalBatch: 64, learningRate: 0.01, plateau: { monitor: 'val_loss', patience: 4 }, earlyStopping: null, split: {}, runId: 'x', weights: { path: 'w.h5' } }))
      .toEqual({ batch: 64, lr: 0.01, patience: 4, weights: 'w.h5' });
  });

  it('says a missing file is not found, and an unknown key in it is an unknown argument', async () => {
    const missing = new Program(COORDINATOR, ['--config', '/nonexistent.json']);
    expect((await missing.exit(20_000)).code).toBe(1);
    expect(missing.output.trim()).toBe('coordinator: --config /nonexistent.json: not found [CONFIG_INVALID]');
    const unknown = new Program(COORDINATOR, ['--config', file('typo.yaml', 'epoch: 3\n')]);
    expect((await unknown.exit(20_000)).code).toBe(1);
    expect(unknown.output).toContain('Unknown argument --epoch: did you mean --epochs?');
  });

  it('drives a real run from a YAML file', async () => {
    const runs = tempDir('config-runs');
    const yaml = file('tiny.yaml', [
      'gpus: 1', 'dataset: synthetic', 'synthetic-count: 300', 'model: small-cnn', 'image-size: 16', 'steps-per-epoch: 2',
      'patience: 5', `runs: ${runs}`, 'run-id: from-yaml', 'progress: lines', '',
    ].join('\n'));
    const coordinator = new Program(COORDINATOR, ['--config', yaml, '--epochs', '1']);
    expect((await coordinator.exit(120_000)).code, coordinator.output).toBe(0);
    const config = JSON.parse(readFileSync(path.join(runs, 'from-yaml', 'config.json'), 'utf8')) as Record<string, unknown>;
    expect(config).toMatchObject({ gpus: 1, epochs: 1, imageSize: 16, stepsPerEpoch: 2, syntheticCount: 300, plateau: { patience: 5 } });
  }, 150_000);
});

describe('worker and emotrain --config', () => {
  it('worker says a missing config file is not found', async () => {
    const worker = new Program(WORKER, ['--config', '/nonexistent.yaml']);
    expect((await worker.exit(20_000)).code).toBe(1);
    expect(worker.output.trim()).toBe('worker: --config /nonexistent.yaml: not found [CONFIG_INVALID]');
  });

  it('emotrain dataset inspect takes its flags from a YAML file', async () => {
    const root = tempDir('config-dataset');
    EMOTION_CLASSES.forEach((name, c) => {
      for (let k = 0; k < 3; k++) write(root, path.join('train', name, `${k}.jpg`), faceJpeg(c, 10 * c + k));
    });
    const inspect = new Program(EMOTRAIN, ['dataset', 'inspect', root, '--config', file('inspect.yaml', 'json: true\nseed: 7\n')]);
    let stdout = '';
    inspect.child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    expect((await inspect.exit(60_000)).code, inspect.output).toBe(0);
    const report = JSON.parse(stdout) as DatasetReport;
    expect(report.totals.total).toBe(21);
  });

  it('emotrain says a mistyped flag in one line', async () => {
    const inspect = new Program(EMOTRAIN, ['dataset', 'inspect', 'x', '--jsn']);
    expect((await inspect.exit(20_000)).code).toBe(1);
    expect(inspect.output.trim()).toBe('emotrain: Unknown argument --jsn: did you mean --json? [CONFIG_INVALID]');
  });
});

describe('coordinator --print-config', () => {
  it('prints each setting with where it came from, as YAML that --config takes back to the same settings', async () => {
    const printed = async (args: string[]) => {
      const program = new Program(COORDINATOR, [...args, '--print-config']);
      let stdout = '';
      program.child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
      expect((await program.exit(30_000)).code, program.output).toBe(0);
      return stdout;
    };
    const first = await printed(['--config', file('print.yaml', 'epochs: 7\nmodel: small-cnn\n'), '--lr', '0.01']);
    expect(first).toMatch(/^epochs: 7 +# --config file$/m);
    expect(first).toMatch(/^lr: 0\.01 +# flag$/m);
    expect(first).toMatch(/^image-size: 64 +# default$/m);
    const again = await printed(['--config', file('printed.yaml', first)]);
    const values = (text: string) => text.split('\n').filter((l) => !l.startsWith('#')).map((l) => l.replace(/ *#.*$/, ''));
    expect(values(again)).toEqual(values(first));
    // starts nothing: no run directory
    expect(first).not.toMatch(/listening on/);
  });
});
