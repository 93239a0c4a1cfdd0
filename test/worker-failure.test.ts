import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { COORDINATOR, Program, cleanUp, isAlive, readEvents, sleep, tempDir } from './helpers/processes.js';

afterEach(cleanUp);

async function waitForEvents(runDir: string, predicate: (events: ReturnType<typeof readEvents>) => boolean, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const events = readEvents(runDir);
    if (predicate(events)) return events;
    await sleep(100);
  }
  throw new Error(`events never matched in ${runDir}: ${JSON.stringify(readEvents(runDir))}`);
}

describe('a worker that dies', () => {
  it('makes the coordinator exit non-zero within 10 s, naming the worker, with no orphan processes', async () => {
    const runs = tempDir('runs');
    const runDir = path.join(runs, 'kill');
    const coordinator = new Program(COORDINATOR, [
      '--gpus', '2', '--epochs', '50', '--dataset', 'synthetic', '--synthetic-count', '700',
      '--model', 'small-cnn', '--image-size', '32', '--runs', runs, '--run-id', 'kill', '--progress', 'lines',
    ]);
    // wait until training is under way: both workers joined and one epoch is done
    const events = await waitForEvents(runDir, (e) => e.some((x) => x.event === 'epoch_end'), 120_000);
    const workers = events.filter((e) => e.event === 'worker_joined').map((e) => ({ rank: e['rank'] as number, pid: e['pid'] as number }));
    expect(workers.length).toBe(2);
    const victim = workers.find((w) => w.rank === 1)!;
    const survivor = workers.find((w) => w.rank === 0)!;

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
