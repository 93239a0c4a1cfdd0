import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { COORDINATOR, Program, cleanUp, isAlive, readCsv, readEvents, tempDir, waitForEvents, workerPids } from './helpers/processes.js';

afterEach(cleanUp);

const COMMON = [
  '--gpus', '2', '--dataset', 'synthetic', '--synthetic-count', '700', '--model', 'small-cnn', '--image-size', '32',
  '--steps-per-epoch', '3', '--seed', '11', '--progress', 'lines',
];

function lastCheckpoint(runDir: string): { weights: Buffer; state: Record<string, unknown> } {
  const dir = path.join(runDir, 'checkpoints', 'last');
  return {
    weights: readFileSync(path.join(dir, 'weights.bin')),
    state: JSON.parse(readFileSync(path.join(dir, 'state.json'), 'utf8')) as Record<string, unknown>,
  };
}

describe('stopping and resuming', () => {
  it('stops cleanly on Ctrl-C: exit 130, no worker left, last checkpoint intact', async () => {
    const runs = tempDir('runs');
    const runDir = path.join(runs, 'interrupted');
    // its own process group, so the signal reaches coordinator and workers as a terminal's Ctrl-C does
    const coordinator = new Program(COORDINATOR, [...COMMON, '--epochs', '100', '--runs', runs, '--run-id', 'interrupted'], {}, true);
    const pids = workerPids(await waitForEvents(runDir, (e) => e.filter((x) => x.event === 'checkpoint_saved').length >= 2, 120_000));
    process.kill(-coordinator.pid, 'SIGINT');
    const { code } = await coordinator.exit(20_000);
    expect(code).toBe(130);
    for (const pid of pids.values()) expect(isAlive(pid)).toBe(false);
    expect(coordinator.output).toMatch(/continue with: coordinator --resume /);
    expect(readEvents(runDir).at(-1)?.event).toBe('run_stopped');
    const { state } = lastCheckpoint(runDir);
    expect(state['epochsCompleted']).toBeGreaterThanOrEqual(1);
    const epochs = readCsv(path.join(runDir, 'metrics.csv')).length;
    expect(state['epochsCompleted']).toBeLessThanOrEqual(epochs);
  });

  it('continues a stopped run exactly: the same weights, LR and loss scale as an uninterrupted run', async () => {
    const runs = tempDir('runs');
    const straight = new Program(COORDINATOR, [...COMMON, '--epochs', '3', '--patience', '1', '--runs', runs, '--run-id', 'straight']);
    expect((await straight.exit(120_000)).code, straight.output).toBe(0);

    const first = new Program(COORDINATOR, [...COMMON, '--epochs', '2', '--patience', '1', '--runs', runs, '--run-id', 'resumed']);
    expect((await first.exit(120_000)).code, first.output).toBe(0);
    const second = new Program(COORDINATOR, ['--resume', path.join(runs, 'resumed'), '--epochs', '3', '--progress', 'lines']);
    expect((await second.exit(120_000)).code, second.output).toBe(0);
    expect(second.output).toMatch(/resuming .* after epoch 2/);

    const a = lastCheckpoint(path.join(runs, 'straight'));
    const b = lastCheckpoint(path.join(runs, 'resumed'));
    expect(b.state['step']).toBe(a.state['step']);
    expect(b.state['optimizerIteration']).toBe(a.state['optimizerIteration']);
    expect(b.state['plateau']).toEqual(a.state['plateau']);
    expect(b.state['lossScaler']).toEqual(a.state['lossScaler']);
    expect(b.weights.equals(a.weights)).toBe(true);
    const metrics = (run: string) => readCsv(path.join(runs, run, 'metrics.csv')).map(({ images_per_second: _, ...row }) => row);
    expect(metrics('resumed')).toEqual(metrics('straight'));
    expect(readEvents(path.join(runs, 'resumed')).some((e) => e.event === 'run_resumed')).toBe(true);
  });
});
