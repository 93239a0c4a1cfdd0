// SPEC §8 with real processes: a lost worker is abandoned out of the step in flight and the run
// goes on (--elastic) or waits for its replacement (restarted locally, or started by hand); a
// worker joins a running world; workers outlive their coordinator and rejoin the resumed run; a
// local worker stopped before it joins is reported within seconds.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from './helpers/nats-server.js';
import { COORDINATOR, Program, WORKER, cleanUp, isAlive, readCsv, readEvents, sleep, tempDir, waitForEvents, workerPids } from './helpers/processes.js';

afterEach(cleanUp);

const TINY = ['--dataset', 'synthetic', '--synthetic-count', '700', '--model', 'small-cnn', '--image-size', '32', '--steps-per-epoch', '4', '--seed', '11', '--progress', 'lines', '--no-metrics'];

const ofKind = (runDir: string, kind: string) => readEvents(runDir).filter((e) => e.event === kind);

function lastCheckpoint(runDir: string): { weights: Buffer; state: Record<string, unknown> } {
  const dir = path.join(runDir, 'checkpoints', 'last');
  return { weights: readFileSync(path.join(dir, 'weights.bin')), state: JSON.parse(readFileSync(path.join(dir, 'state.json'), 'utf8')) as Record<string, unknown> };
}

/** Every epoch's replicas agreed with the shadow model (the run fails otherwise), over `workers` members. */
function verifiedWorkers(runDir: string): number[] {
  return ofKind(runDir, 'replicas_verified').map((e) => e['workers'] as number);
}

describe('losing a worker', () => {
  for (const allreduce of ['star', 'ring']) {
    it(`--elastic --allreduce ${allreduce}: SIGKILL of one of 3 workers mid-run shrinks the world, and every epoch still finishes with equal replicas`, async () => {
      const runs = tempDir('runs');
      const runDir = path.join(runs, 'elastic');
      const coordinator = new Program(COORDINATOR, ['--gpus', '3', '--epochs', '3', ...TINY, '--allreduce', allreduce, '--elastic', '--max-restarts', '0', '--runs', runs, '--run-id', 'elastic']);
      const pids = workerPids(await waitForEvents(runDir, (e) => e.some((x) => x.event === 'epoch_end'), 120_000));
      process.kill(pids.get(1)!, 'SIGKILL');
      const { code } = await coordinator.exit(120_000);
      expect(code, coordinator.output).toBe(0);
      expect(readCsv(path.join(runDir, 'metrics.csv')).map((row) => row['epoch'])).toEqual([1, 2, 3]);
      expect(ofKind(runDir, 'world_changed')).toEqual([expect.objectContaining({ from: 3, to: 2, ranks: [0, 2] })]);
      expect(verifiedWorkers(runDir)).toEqual([3, 2, 2]);
      expect(coordinator.output).toMatch(/world shrinks from 3 to 2 workers/);
      expect(readEvents(runDir).at(-1)?.event).toBe('run_finished');
      // no step lost or applied twice: the steps completed are 0..11 in order
      const state = lastCheckpoint(runDir).state;
      expect(state['step']).toBe(12);
      for (const pid of pids.values()) expect(isAlive(pid)).toBe(false);
    });
  }

  it('without --elastic, a killed local worker is started again and the run finishes', async () => {
    const runs = tempDir('runs');
    const runDir = path.join(runs, 'restart');
    const coordinator = new Program(COORDINATOR, ['--gpus', '2', '--epochs', '3', ...TINY, '--runs', runs, '--run-id', 'restart']);
    const pids = workerPids(await waitForEvents(runDir, (e) => e.some((x) => x.event === 'epoch_end'), 120_000));
    process.kill(pids.get(1)!, 'SIGKILL');
    const { code } = await coordinator.exit(120_000);
    expect(code, coordinator.output).toBe(0);
    const restarts = ofKind(runDir, 'worker_started').filter((e) => (e['restart'] as number) > 0);
    expect(restarts).toEqual([expect.objectContaining({ rank: 1, restart: 1, max_restarts: 3 })]);
    expect(restarts[0]!['reason']).toMatch(new RegExp(`its process \\(pid ${pids.get(1)}\\) was killed by SIGKILL`));
    expect(coordinator.output).toMatch(/started local worker 1 again \(pid \d+, restart 1 of 3\)/);
    expect(readCsv(path.join(runDir, 'metrics.csv'))).toHaveLength(3);
    expect(verifiedWorkers(runDir)).toEqual([2, 2, 2]);
    expect(ofKind(runDir, 'world_changed')).toEqual([]);
    expect(lastCheckpoint(runDir).state['step']).toBe(12);
  });

  it('without --elastic, a remote worker replaced by hand takes over its rank', async () => {
    const runs = tempDir('runs');
    const runDir = path.join(runs, 'replace');
    const coordinator = new Program(COORDINATOR, ['--gpus', '1', '--workers', '1', '--token', 'T', '--epochs', '3', ...TINY, '--runs', runs, '--run-id', 'replace']);
    const port = (await coordinator.waitFor(/listening on 127\.0\.0\.1:(\d+)/, 60_000))[1]!;
    const first = new Program(WORKER, ['--coordinator', `127.0.0.1:${port}`, '--token', 'T', '--reconnect-timeout', '0', '--data-threads', '1']);
    await waitForEvents(runDir, (e) => e.some((x) => x.event === 'epoch_end'), 120_000);
    first.kill('SIGKILL');
    await coordinator.waitFor(/to replace rank 1: worker --coordinator 127\.0\.0\.1:\d+ --token \$EMOTRAIN_TOKEN --rank 1/, 30_000);
    const second = new Program(WORKER, ['--coordinator', `127.0.0.1:${port}`, '--token', 'T', '--rank', '1', '--reconnect-timeout', '0', '--data-threads', '1']);
    const { code } = await coordinator.exit(120_000);
    expect(code, coordinator.output).toBe(0);
    expect((await second.exit(20_000)).code, second.output).toBe(0);
    const joined = ofKind(runDir, 'worker_joined').filter((e) => e['rank'] === 1);
    expect(joined.map((e) => e['pid'])).toEqual([first.pid, second.pid]);
    expect(ofKind(runDir, 'waiting_for_workers')).toEqual([expect.objectContaining({ free_ranks: [1], elastic: false })]);
    expect(verifiedWorkers(runDir)).toEqual([2, 2, 2]);
  });
});

describe('a world that grows', () => {
  it('--elastic: a worker started by hand joins the running world at a step boundary', async () => {
    const runs = tempDir('runs');
    const runDir = path.join(runs, 'grow');
    const coordinator = new Program(COORDINATOR, [
      '--gpus', '2', '--workers', '1', '--token', 'T', '--elastic', '--min-workers', '2', '--join-timeout', '15', '--epochs', '3', ...TINY, '--runs', runs, '--run-id', 'grow',
    ]);
    const port = (await coordinator.waitFor(/listening on 127\.0\.0\.1:(\d+)/, 60_000))[1]!;
    await waitForEvents(runDir, (e) => e.some((x) => x.event === 'epoch_end'), 120_000);
    const joiner = new Program(WORKER, ['--coordinator', `127.0.0.1:${port}`, '--token', 'T', '--reconnect-timeout', '0', '--data-threads', '1']);
    const { code } = await coordinator.exit(120_000);
    expect(code, coordinator.output).toBe(0);
    expect((await joiner.exit(20_000)).code, joiner.output).toBe(0);
    expect(ofKind(runDir, 'world_changed')).toEqual([expect.objectContaining({ from: 2, to: 3, ranks: [0, 1, 2] })]);
    const verified = verifiedWorkers(runDir);
    expect(verified[0]).toBe(2);
    expect(verified.at(-1)).toBe(3);
    expect(lastCheckpoint(runDir).state['step']).toBe(12);
  });
});

describe('a coordinator that restarts', () => {
  it('keeps its remote workers, which rejoin the resumed run; the weights end as in an uninterrupted run', async () => {
    const runs = tempDir('runs');
    const straight = new Program(COORDINATOR, ['--gpus', '2', '--epochs', '3', ...TINY, '--runs', runs, '--run-id', 'straight']);
    expect((await straight.exit(120_000)).code, straight.output).toBe(0);

    const runDir = path.join(runs, 'restarted');
    const listen = `127.0.0.1:${await freePort()}`;
    const first = new Program(COORDINATOR, ['--gpus', '0', '--workers', '2', '--listen', listen, '--token', 'T', '--epochs', '3', ...TINY, '--runs', runs, '--run-id', 'restarted']);
    const workers = [0, 1].map(() => new Program(WORKER, ['--coordinator', listen, '--token', 'T', '--reconnect-timeout', '60', '--data-threads', '1']));
    await waitForEvents(runDir, (e) => e.some((x) => x.event === 'checkpoint_saved' && x['kind'] === 'last'), 120_000);
    first.kill('SIGKILL');
    await first.exit(10_000);
    for (const worker of workers) await worker.waitFor(/joining the coordinator at .* again as rank \d/, 30_000);
    const resumed = new Program(COORDINATOR, ['--resume', runDir, '--listen', listen, '--token', 'T', '--progress', 'lines', '--no-metrics']);
    expect((await resumed.exit(120_000)).code, resumed.output).toBe(0);
    for (const worker of workers) expect((await worker.exit(20_000)).code, worker.output).toBe(0);
    expect(resumed.output).toMatch(/resuming .* after epoch 1/);
    const a = lastCheckpoint(path.join(runs, 'straight'));
    const b = lastCheckpoint(runDir);
    expect(b.state['step']).toBe(a.state['step']);
    expect(b.state['lossScaler']).toEqual(a.state['lossScaler']);
    expect(b.weights.equals(a.weights)).toBe(true);
  });
});

describe('a local worker stalled before it joins', () => {
  it('is reported within 15 s of being stopped, killed and started again', async () => {
    const runs = tempDir('runs');
    const runDir = path.join(runs, 'stopped');
    const coordinator = new Program(COORDINATOR, ['--gpus', '2', '--epochs', '1', ...TINY, '--runs', runs, '--run-id', 'stopped']);
    const pid = Number((await coordinator.waitFor(/started local worker 1 \(pid (\d+)\)/, 60_000))[1]);
    process.kill(pid, 'SIGSTOP');
    const stoppedAt = Date.now();
    try {
      await coordinator.waitFor(/local worker 1 \(pid \d+\) is stalled: stopped for [\d.]+ s before joining/, 15_000);
      expect((Date.now() - stoppedAt) / 1000).toBeLessThan(15);
      const { code } = await coordinator.exit(120_000);
      expect(code, coordinator.output).toBe(0);
    } finally {
      if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    }
    expect(ofKind(runDir, 'worker_stalled')).toEqual([expect.objectContaining({ rank: 1, pid })]);
    expect(ofKind(runDir, 'worker_joined').some((e) => e['pid'] === pid)).toBe(false);
  });
});

describe('the coordinator stopped for longer than the heartbeat timeout and the stream idle timeout', () => {
  it('does not count that time as its workers\' silence nor its streams\' idleness, and records the stop in events.jsonl', async () => {
    const runs = tempDir('runs');
    const runDir = path.join(runs, 'paused');
    const coordinator = new Program(COORDINATOR, ['--gpus', '2', '--epochs', '3', ...TINY, '--heartbeat-timeout', '3', '--stream-idle-timeout', '4', '--runs', runs, '--run-id', 'paused']);
    // Stopped after epoch 1, with two epochs still to train: the run cannot have finished first.
    await waitForEvents(runDir, (e) => e.some((x) => x.event === 'epoch_end'), 120_000);
    coordinator.child.kill('SIGSTOP');
    await sleep(7000);
    coordinator.child.kill('SIGCONT');
    const { code } = await coordinator.exit(120_000);
    expect(code, coordinator.output).toBe(0);
    const stalls = ofKind(runDir, 'coordinator_stalled');
    expect(stalls.length, coordinator.output).toBeGreaterThanOrEqual(1);
    expect(Math.max(...stalls.map((e) => e['seconds'] as number))).toBeGreaterThan(5);
    expect(coordinator.output).toMatch(/the coordinator itself did not run for [\d.]+ s \(stopped, suspended or blocked\)/);
    // Before, the idle timers fired first on waking and closed the heartbeat streams unread, and
    // the workers, which never opened theirs again, were lost 3 s later.
    expect(ofKind(runDir, 'worker_left')).toEqual([]);
    expect(ofKind(runDir, 'step_abandoned')).toEqual([]);
    expect(coordinator.output).not.toMatch(/sent nothing for 4 s/);
    expect(ofKind(runDir, 'worker_started').every((e) => e['restart'] === 0)).toBe(true);
    expect(readCsv(path.join(runDir, 'metrics.csv')).map((row) => row['epoch'])).toEqual([1, 2, 3]);
  });
});
