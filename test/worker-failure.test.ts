import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { COORDINATOR, Program, cleanUp, isAlive, readEvents, tempDir, waitForEvents, workerPids } from './helpers/processes.js';

afterEach(cleanUp);

function startLongRun(runs: string, runId: string, extra: string[] = []): Program {
  return new Program(COORDINATOR, [
    '--gpus', '2', '--epochs', '50', '--dataset', 'synthetic', '--synthetic-count', '700',
    '--model', 'small-cnn', '--image-size', '32', '--runs', runs, '--run-id', runId, '--progress', 'lines', '--max-restarts', '0', ...extra,
  ]);
}

describe('a worker that dies', () => {
  it('makes the coordinator exit non-zero within 10 s, naming the worker, with no orphan processes', async () => {
    const runs = tempDir('runs');
    const runDir = path.join(runs, 'kill');
    const coordinator = startLongRun(runs, 'kill');
    // wait until training is under way: both workers joined and one epoch is done
    const pids = workerPids(await waitForEvents(runDir, (e) => e.some((x) => x.event === 'epoch_end'), 120_000));
    expect(pids.size).toBe(2);
    const victim = { rank: 1, pid: pids.get(1)! };
    const survivor = { rank: 0, pid: pids.get(0)! };

    const killedAt = Date.now();
    process.kill(victim.pid, 'SIGKILL');
    const { code } = await coordinator.exit(10_000);
    const seconds = (Date.now() - killedAt) / 1000;

    expect(code).not.toBe(0);
    expect(seconds).toBeLessThan(10);
    expect(coordinator.output).toMatch(new RegExp(`worker 1 \\([^)]*pid ${victim.pid}\\) was lost`));
    expect(isAlive(survivor.pid)).toBe(false);
    expect(isAlive(victim.pid)).toBe(false);
    const failed = readEvents(runDir).find((e) => e.event === 'run_failed');
    expect(failed?.['error']).toMatch(/worker 1/);
  });
});

describe('a worker that dies in a ring (--allreduce ring)', () => {
  it('fails the run within seconds, naming it, with no orphan processes', async () => {
    const runs = tempDir('runs');
    const runDir = path.join(runs, 'ring-kill');
    const coordinator = new Program(COORDINATOR, [
      '--gpus', '3', '--epochs', '50', '--dataset', 'synthetic', '--synthetic-count', '700', '--allreduce', 'ring',
      '--model', 'small-cnn', '--image-size', '32', '--runs', runs, '--run-id', 'ring-kill', '--progress', 'lines', '--max-restarts', '0',
    ]);
    const pids = workerPids(await waitForEvents(runDir, (e) => e.some((x) => x.event === 'epoch_end'), 120_000));
    expect(pids.size).toBe(3);
    const victim = pids.get(1)!;
    const killedAt = Date.now();
    process.kill(victim, 'SIGKILL');
    const { code } = await coordinator.exit(15_000);
    expect(code).not.toBe(0);
    expect((Date.now() - killedAt) / 1000).toBeLessThan(10);
    expect(coordinator.output).toMatch(/run failed: .*worker 1 \(/);
    for (const pid of pids.values()) expect(isAlive(pid)).toBe(false);
  });
});

describe('a worker that stalls', () => {
  it('is detected by its missing heartbeats and the run stops, naming it', async () => {
    const runs = tempDir('runs');
    const runDir = path.join(runs, 'stall');
    const coordinator = startLongRun(runs, 'stall', ['--heartbeat-timeout', '3']);
    const pids = workerPids(await waitForEvents(runDir, (e) => e.some((x) => x.event === 'epoch_end'), 120_000));
    const frozen = pids.get(0)!;
    const stoppedAt = Date.now();
    process.kill(frozen, 'SIGSTOP');
    try {
      const { code } = await coordinator.exit(15_000);
      expect(code).not.toBe(0);
      expect((Date.now() - stoppedAt) / 1000).toBeLessThan(10);
      expect(coordinator.output).toMatch(new RegExp(`worker 0 \\([^)]*pid ${frozen}\\) was lost at step \\d+: no heartbeat for \\d+ s`));
      expect(isAlive(pids.get(1)!)).toBe(false);
    } finally {
      if (isAlive(frozen)) process.kill(frozen, 'SIGKILL');
    }
    expect(isAlive(frozen)).toBe(false);
  });
});
