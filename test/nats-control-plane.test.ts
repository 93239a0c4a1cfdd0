// Issue 13, acceptance a: with a real nats-server that authenticates its clients, a run's events
// arrive on its subject in order; `emotrain status` returns the live world and step; a worker
// started with --nats and no address finds the coordinator and joins; killing nats-server mid-run
// does not stop training; `emotrain stop` refuses a wrong token and then stops the run cleanly.

import path from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { COORDINATOR, EMOTRAIN, Program, WORKER, cleanUp, readEvents, tempDir, waitForEvents, type RunEventLine } from './helpers/processes.js';
import { NatsServer, cleanUpNatsServers, freePort, requireNatsServer } from './helpers/nats-server.js';

let subscriber: NatsConnection | undefined;

beforeAll(requireNatsServer);
afterEach(async () => {
  await subscriber?.close().catch(() => undefined);
  subscriber = undefined;
  cleanUp();
  await cleanUpNatsServers();
});

describe('the NATS control plane', () => {
  it('publishes events in order, answers status, survives a NATS outage, lets a worker find the run and stops it on request', async () => {
    const nats = new NatsServer('127.0.0.1', await freePort(), 'emotrain', 'nats-secret');
    await nats.start();
    const natsFlags = ['--nats', nats.url, '--nats-user', nats.user];
    const natsEnv = { EMOTRAIN_NATS_PASSWORD: nats.password };

    const runId = `nats-${process.pid}`;
    const received: Array<{ seq: number; event: RunEventLine }> = [];
    subscriber = await connect({ servers: nats.url, user: nats.user, pass: nats.password, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
    subscriber.subscribe(`emotrain.run.${runId}.events`, {
      callback: (_error, message) => {
        received.push({ seq: Number(message.headers?.get('Emotrain-Seq')), event: message.json<RunEventLine>() });
      },
    });
    await subscriber.flush();

    const runs = tempDir('nats-runs');
    const runDir = path.join(runs, runId);
    const coordinator = new Program(COORDINATOR, [
      '--gpus', '1', '--workers', '1', '--token', 'run-token', '--epochs', '40', '--steps-per-epoch', '3', '--dataset', 'synthetic',
      '--synthetic-count', '700', '--model', 'small-cnn', '--image-size', '16', '--runs', runs, '--run-id', runId, '--progress', 'lines', ...natsFlags,
    ], natsEnv);
    await coordinator.waitFor(/NATS: events on emotrain\.run\.\S+\.events/, 60_000);
    await coordinator.waitFor(/with EMOTRAIN_TOKEN set to this run's token on that host/, 10_000);
    // the waiting coordinator says what to run, with the token as a variable, never its value
    expect(coordinator.output).toContain(`worker --nats ${nats.url} --nats-user USER --nats-password $EMOTRAIN_NATS_PASSWORD --token $EMOTRAIN_TOKEN --run ${runId}`);
    expect(coordinator.output).not.toContain('run-token');

    // told only where NATS is, the worker finds the coordinator
    const worker = new Program(WORKER, [...natsFlags, '--token', 'run-token'], natsEnv);
    await worker.waitFor(new RegExp(`found run ${runId} on NATS: joining its coordinator at 127\\.0\\.0\\.1:\\d+`), 30_000);
    await coordinator.waitFor(/joined from \S+ \(wasm backend\) — 2\/2/, 30_000);
    await waitForEvents(runDir, (events) => events.some((e) => e.event === 'epoch_end'), 60_000);

    const status = new Program(EMOTRAIN, ['status', ...natsFlags, '--run', runId, '--json'], natsEnv);
    expect((await status.exit(20_000)).code, status.output).toBe(0);
    const live = JSON.parse(status.output) as { state: string; step: number; epoch: number; world: { size: number; members: Array<{ rank: number; host: string; gpu: number; backend: string }> } };
    expect(live.state).toBe('training');
    expect(live.step).toBeGreaterThan(0);
    expect(live.world.size).toBe(2);
    expect(live.world.members.map((m) => [m.rank, m.gpu, m.backend])).toEqual([[0, -1, 'wasm'], [1, -1, 'wasm']]);
    const human = new Program(EMOTRAIN, ['status', ...natsFlags], natsEnv);
    expect((await human.exit(20_000)).code, human.output).toBe(0);
    expect(human.output).toMatch(new RegExp(`run ${runId}: training\\n  epoch \\d+/40, step \\d+`));
    expect(human.output).toContain('world: 2/2 workers');

    // an outage: training goes on, the coordinator says so and reconnects when NATS is back
    await subscriber.flush();
    const deliveredBeforeOutage = received.length;
    await nats.kill();
    await coordinator.waitFor(/warning: lost the NATS server 127\.0\.0\.1:\d+; training goes on/, 20_000);
    const epochsAtOutage = readEvents(runDir).filter((e) => e.event === 'epoch_end').length;
    await waitForEvents(runDir, (events) => events.filter((e) => e.event === 'epoch_end').length >= epochsAtOutage + 2, 30_000);
    await nats.start();
    await coordinator.waitFor(/NATS: reconnected to 127\.0\.0\.1:\d+ after \d+\.\d s/, 30_000);

    const wrong = new Program(EMOTRAIN, ['stop', ...natsFlags, '--run', runId, '--token', 'not-the-token'], natsEnv);
    expect((await wrong.exit(20_000)).code).toBe(1);
    expect(wrong.output).toContain(`run ${runId} refused to stop: the token does not match run ${runId}'s worker token [STOP_REFUSED]`);

    const stop = new Program(EMOTRAIN, ['stop', ...natsFlags, '--token', 'run-token', '--reason', 'test'], natsEnv);
    expect((await stop.exit(20_000)).code, stop.output).toBe(0);
    expect(stop.output).toMatch(new RegExp(`run ${runId} stops at the next step boundary \\(step \\d+\\)`));
    expect((await coordinator.exit(60_000)).code, coordinator.output).toBe(0);
    expect((await worker.exit(10_000)).code, worker.output).toBe(0);

    const recorded = readEvents(runDir);
    const last = recorded.at(-1)!;
    expect(last.event).toBe('run_stopped');
    expect(last['reason']).toBe('stop requested over NATS');
    expect(recorded.filter((e) => e.event === 'epoch_end').length).toBeLessThan(40);
    expect(recorded.some((e) => e.event === 'warning' && e['code'] === 'NATS_DISCONNECTED')).toBe(true);
    expect(coordinator.output).toMatch(/stop requested over NATS by \S+@\S+: test: stopping after the current step/);

    // on the subject: numbered 1, 2, ... in the order the run emitted them — the same order as
    // events.jsonl, which leaves out the step-by-step progress
    await subscriber.flush();
    const beforeOutage = received.slice(0, deliveredBeforeOutage);
    expect(beforeOutage.map((r) => r.seq)).toEqual(beforeOutage.map((_, i) => i + 1));
    const durable = beforeOutage.map((r) => r.event).filter((e) => e.event !== 'step_completed');
    expect(durable.length).toBeGreaterThan(3);
    // events.jsonl adds the time it wrote each line
    expect(durable).toEqual(recorded.slice(0, durable.length).map(({ time: _time, ...event }) => event));
    expect(beforeOutage.some((r) => r.event.event === 'step_completed')).toBe(true);
    // after it, what was kept during the outage and what followed, still in order
    const seqs = received.map((r) => r.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(received.at(-1)!.event.event).toBe('run_stopped');
  });

  it('trains without the control plane when NATS cannot be reached, refuses wrong NATS credentials before anything else, and exits after a set-up error', async () => {
    const nats = new NatsServer('127.0.0.1', await freePort(), 'emotrain', 'nats-secret');
    const runs = tempDir('nats-down-runs');
    const tiny = ['--gpus', '1', '--epochs', '1', '--steps-per-epoch', '2', '--dataset', 'synthetic', '--synthetic-count', '700', '--model', 'small-cnn', '--image-size', '16', '--runs', runs, '--progress', 'lines'];

    // nobody listens on the port yet: the run goes on and says so
    const unreachable = new Program(COORDINATOR, [...tiny, '--run-id', 'nats-down', '--nats', nats.url, '--nats-user', nats.user, '--nats-password', nats.password]);
    expect((await unreachable.exit(60_000)).code, unreachable.output).toBe(0);
    expect(unreachable.output).toMatch(/warning: cannot reach NATS nats:\/\/127\.0\.0\.1:\d+ \(user emotrain\) \(.+\); training goes on without the control plane and keeps trying/);
    const events = readEvents(path.join(runs, 'nats-down'));
    expect(events.some((e) => e.event === 'warning' && e['code'] === 'NATS_UNREACHABLE')).toBe(true);
    expect(events.at(-1)!.event).toBe('run_finished');

    // a server that refuses us is a mistake on the command line: said at once, before the dataset is read
    await nats.start();
    const refused = new Program(COORDINATOR, [...tiny, '--run-id', 'nats-refused', '--nats', nats.url, '--nats-user', nats.user, '--nats-password', 'wrong']);
    expect((await refused.exit(30_000)).code).toBe(1);
    expect(refused.output).toMatch(/coordinator: NATS nats:\/\/127\.0\.0\.1:\d+ \(user emotrain\) refused our credentials: .+ \[CONTROL_AUTH_FAILED\]/);
    expect(refused.output).not.toContain('dataset');

    // regression: a set-up error after NATS connected left the connection open and the process running
    const badDataset = new Program(COORDINATOR, ['--gpus', '1', '--dataset', path.join(runs, 'missing'), '--nats', nats.url, '--nats-user', nats.user, '--nats-password', nats.password]);
    expect((await badDataset.exit(15_000)).code).toBe(1);
    expect(badDataset.output).toContain('[DATASET_NOT_FOUND]');
  });
});
