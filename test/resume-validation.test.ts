// `--resume` checks checkpoints/last before it uses or writes anything (issue 14): a state.json
// with a negative loss scale, impossible epochs or a string for the step, a truncated weights.bin,
// NaN weights or moments — each is refused naming the file and the field, and the run directory is
// left byte for byte as it was. Once a checkpoint is good, the temporary directories an interrupted
// checkpoint write left behind are removed.

import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkTrainingState } from '../coordinator/resume-checks.js';
import { removeStaleTemporaries, writeDirectoryAtomically } from '../shared/atomic-dir.js';
import { COORDINATOR, Program, cleanUp, tempDir } from './helpers/processes.js';

const FILE = '/runs/r/checkpoints/last/state.json';

function goodState(): Record<string, unknown> {
  return {
    version: 1, epochsCompleted: 1, step: 2, optimizerIteration: 2, trainableElements: 10, stateElements: 4, bestValAccuracy: 0.25,
    plateau: { learningRate: 0.001, best: 1.9, wait: 0, cooldownCounter: 0 },
    lossScaler: { scale: 32768, goodSteps: 2, skippedSteps: 0, consecutiveSkips: 0 },
  };
}

describe('the checks of state.json', () => {
  const limits = { version: 1, epochsRecorded: 1 };
  const change = (edit: (state: Record<string, unknown>) => void) => {
    const state = goodState();
    edit(state);
    return () => checkTrainingState(state, FILE, limits);
  };

  it('accepts the state of a run after its first epoch, with the plateau best still at Infinity', () => {
    expect(() => change((s) => ((s['plateau'] as Record<string, unknown>)['best'] = Infinity))()).not.toThrow();
  });

  it.each([
    ['version', (s: Record<string, unknown>) => (s['version'] = 2), 'version is 2; this emotrain reads version 1'],
    ['step', (s: Record<string, unknown>) => (s['step'] = 'abc'), 'step is a string of 3 characters; it must be an integer >= 0'],
    ['epochsCompleted', (s: Record<string, unknown>) => (s['epochsCompleted'] = -3), 'epochsCompleted (metrics.csv has 1 epoch rows) is -3; it must be an integer from 0 to 1'],
    ['epochsCompleted', (s: Record<string, unknown>) => (s['epochsCompleted'] = 99), 'epochsCompleted (metrics.csv has 1 epoch rows) is 99; it must be an integer from 0 to 1'],
    ['optimizerIteration', (s: Record<string, unknown>) => (s['optimizerIteration'] = 3), 'optimizerIteration (at most one update per step) is 3; it must be an integer from 0 to 2'],
    ['lossScaler.scale', (s: Record<string, unknown>) => ((s['lossScaler'] as Record<string, unknown>)['scale'] = -1), 'lossScaler.scale is -1; it must be a finite number > 0'],
    ['plateau.learningRate', (s: Record<string, unknown>) => ((s['plateau'] as Record<string, unknown>)['learningRate'] = NaN), 'plateau.learningRate is NaN; it must be a finite number > 0'],
    ['plateau.best', (s: Record<string, unknown>) => ((s['plateau'] as Record<string, unknown>)['best'] = NaN), 'plateau.best is NaN; it must be a number'],
    ['bestValAccuracy', (s: Record<string, unknown>) => (s['bestValAccuracy'] = 3.8), 'bestValAccuracy is 3.8; an accuracy is at most 1'],
    ['lossScaler', (s: Record<string, unknown>) => delete s['lossScaler'], 'lossScaler is missing; it must be an object'],
  ] as Array<[string, (state: Record<string, unknown>) => unknown, string]>)('refuses %s out of range, naming the file and the field', (_field, edit, expected) => {
    expect(change(edit)).toThrow(`${FILE}: ${expected}`);
  });
});

/** sha256 of every file and the name of every directory under `dir`, by relative path. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (at: string) => {
    for (const name of readdirSync(at).sort()) {
      const full = path.join(at, name);
      const rel = path.relative(dir, full);
      if (statSync(full).isDirectory()) {
        out[`${rel}/`] = 'dir';
        walk(full);
      } else {
        out[rel] = createHash('sha256').update(readFileSync(full)).digest('hex');
      }
    }
  };
  walk(dir);
  return out;
}

describe('resuming from a corrupted checkpoint', () => {
  let runs: string;
  let base: string;

  beforeAll(async () => {
    runs = tempDir('resume-checks');
    const program = new Program(COORDINATOR, [
      '--gpus', '1', '--epochs', '1', '--dataset', 'synthetic', '--synthetic-count', '300', '--model', 'small-cnn', '--image-size', '16',
      '--steps-per-epoch', '2', '--runs', runs, '--run-id', 'base', '--progress', 'lines',
    ]);
    const { code } = await program.exit(120_000);
    expect(code, program.output).toBe(0);
    base = path.join(runs, 'base');
  });
  afterAll(cleanUp);

  let copies = 0;
  /** A copy of the base run with one thing corrupted. */
  function corrupted(corrupt: (last: string) => void): string {
    const copy = path.join(runs, `copy-${++copies}`);
    cpSync(base, copy, { recursive: true });
    corrupt(path.join(copy, 'checkpoints', 'last'));
    return copy;
  }

  const editState = (edit: (state: Record<string, unknown>) => void) => (last: string) => {
    const file = path.join(last, 'state.json');
    const state = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    edit(state);
    writeFileSync(file, JSON.stringify(state));
  };
  const nanAt = (file: string, offset: number) => (last: string) => {
    const bytes = readFileSync(path.join(last, file));
    bytes.writeFloatLE(NaN, offset);
    writeFileSync(path.join(last, file), bytes);
  };

  it.each([
    ['a negative loss scale', editState((s) => ((s['lossScaler'] as Record<string, unknown>)['scale'] = -1)), /checkpoints\/last\/state\.json: lossScaler\.scale is -1; it must be a finite number > 0/],
    ['more epochs than metrics.csv records', editState((s) => (s['epochsCompleted'] = 99)), /checkpoints\/last\/state\.json: epochsCompleted \(metrics\.csv has 1 epoch rows\) is 99/],
    ['a string for the step', editState((s) => (s['step'] = 'abc')), /checkpoints\/last\/state\.json: step is a string of 3 characters; it must be an integer >= 0/],
    [
      'a truncated weights.bin',
      (last: string) => {
        const file = path.join(last, 'weights.bin');
        writeFileSync(file, readFileSync(file).subarray(0, 1001));
      },
      /checkpoints\/last\/weights\.bin has 1001 bytes; the model needs \d+ \(\d+ float32 weights\)/,
    ],
    ['a NaN weight', nanAt('weights.bin', 8), /checkpoints\/last\/weights\.bin: weight \S+ value 2 is NaN; every value must be finite/],
    ['a NaN Adam moment', nanAt('optimizer.bin', 4), /checkpoints\/last\/optimizer\.bin: Adam m value 1 is NaN; every value must be finite/],
  ])('refuses %s naming the file and the field, and changes nothing in the run directory', async (_what, corrupt, expected) => {
    const copy = corrupted(corrupt);
    // an unfinished checkpoint write: it stays too, since the checkpoint is refused
    mkdirSync(path.join(copy, 'checkpoints', '.last.tmp-0badc0de'));
    const before = snapshot(copy);
    // --epochs 2: a run that goes on needs the whole checkpoint (a finished one only its state.json)
    const resume = new Program(COORDINATOR, ['--resume', copy, '--epochs', '2', '--progress', 'lines']);
    const { code } = await resume.exit(60_000);
    expect(code, resume.output).not.toBe(0);
    expect(resume.output).toMatch(expected);
    expect(snapshot(copy)).toEqual(before);
  });

  it('removes the temporary directories of interrupted checkpoint writes when it resumes, and nothing else', async () => {
    const copy = corrupted(() => undefined);
    const checkpoints = path.join(copy, 'checkpoints');
    mkdirSync(path.join(checkpoints, '.last.tmp-0badc0de'));
    writeFileSync(path.join(checkpoints, '.last.tmp-0badc0de', 'weights.bin'), 'partial');
    mkdirSync(path.join(checkpoints, '.best.tmp-12345678'));
    mkdirSync(path.join(checkpoints, 'my.tmp-notes'));
    const resume = new Program(COORDINATOR, ['--resume', copy, '--epochs', '2', '--progress', 'lines']);
    const { code } = await resume.exit(120_000);
    expect(code, resume.output).toBe(0);
    expect(resume.output).toMatch(/removed 2 unfinished checkpoint writes from .*checkpoints: \.best\.tmp-12345678, \.last\.tmp-0badc0de/);
    expect(readdirSync(checkpoints).sort()).toEqual(['best', 'last', 'my.tmp-notes']);
  });
});

describe('stale temporary directories', () => {
  it('are removed by the name writeDirectoryAtomically gives them only: not other names, not files, not a finished directory', () => {
    const parent = tempDir('atomic');
    mkdirSync(path.join(parent, '.last.tmp-00112233'));
    mkdirSync(path.join(parent, '.last.tmp-short'));
    writeFileSync(path.join(parent, '.best.tmp-44556677'), 'a file, not ours');
    writeDirectoryAtomically(path.join(parent, 'last'), { 'a.txt': 'x' });
    expect(removeStaleTemporaries(parent)).toEqual(['.last.tmp-00112233']);
    expect(readdirSync(parent).sort()).toEqual(['.best.tmp-44556677', '.last.tmp-short', 'last']);
    cleanUp();
  });
});
