// The control plane's pure parts, in-process: the status board folded from events, the answers to
// stop and discovery requests against a fake bus, the checks on every untrusted payload, which
// run a worker joins, the NATS flags, the advertised addresses and the printed worker command.

import { describe, expect, it } from 'vitest';
import { ControlPlane, SEQUENCE_HEADER } from '../coordinator/control-plane.js';
import { isLoopbackHost } from '../shared/loopback.js';
import { advertisedAddresses } from '../coordinator/advertised-addresses.js';
import { joinInstructions, replacementInstructions } from '../coordinator/join-instructions.js';
import { RunStatusBoard } from '../coordinator/run-status.js';
import type { RunEvent } from '../coordinator/run-events.js';
import { chooseRun } from '../shared/control/discovery.js';
import { encodeJson, parseAnnouncement, parseRunStatus, parseStopReply, parseStopRequest, type Announcement } from '../shared/control/messages.js';
import type { ControlBus } from '../shared/control/nats-bus.js';
import { natsSettingsFrom } from '../shared/control/nats-settings.js';
import { runSubjects } from '../shared/control/subjects.js';
import { formatRunStatus } from '../shared/control/format-status.js';
import { WorkerProgress } from '../worker/progress-reporter.js';

class FakeBus implements ControlBus {
  readonly published: Array<{ subject: string; payload: unknown; headers?: Record<string, string> }> = [];
  readonly handlers = new Map<string, (payload: Uint8Array) => Uint8Array>();
  authenticates = false;

  publish(subject: string, payload: Uint8Array, headers?: Record<string, string>): void {
    this.published.push({ subject, payload: JSON.parse(new TextDecoder().decode(payload)), ...(headers ? { headers } : {}) });
  }
  serve(subject: string, respond: (payload: Uint8Array) => Uint8Array): void {
    this.handlers.set(subject, respond);
  }
  serverAuthenticates(): boolean {
    return this.authenticates;
  }
  ask(subject: string, body: unknown = undefined): Record<string, unknown> {
    const payload = body === undefined ? new Uint8Array() : typeof body === 'string' ? new TextEncoder().encode(body) : encodeJson(body);
    return JSON.parse(new TextDecoder().decode(this.handlers.get(subject)!(payload))) as Record<string, unknown>;
  }
}

const clock = { now: () => Date.UTC(2025, 0, 1) };
const started: RunEvent = { event: 'run_started', run_id: 'r1', listen: '0.0.0.0:5000', metrics: null, world: 2, step: 0, epochs: 3, epochs_completed: 0, learning_rate: 1e-3, loss_scale: 32768, best_val_accuracy: null };
const joined = (rank: number): RunEvent => ({ event: 'worker_joined', rank, host: `host-${rank}`, gpu: rank, pid: 100 + rank, backend: 'tfjs-node-gpu', local_data: false, workers: rank + 1, world: 2, peer: `198.18.0.${rank + 2}:4000` });
const step = (n: number): RunEvent => ({
  event: 'step_completed', step: n, epoch: 1, epochs: 3, step_in_epoch: n + 1, steps_in_epoch: 10, applied: true, batch: 128, seconds: 1, workers: [], bytes_up: 0, bytes_down: 0,
  loss_scale: 32768, next_loss_scale: 32768, learning_rate: 1e-3, epoch_loss: 1.5, epoch_accuracy: 0.25, images_per_second: 128, epoch_eta_seconds: 8, eta_seconds: 28,
});

function plane(bus = new FakeBus(), stops: string[] = []) {
  const board = new RunStatusBoard({ runId: 'r1', worldSize: 2, epochs: 3, clock });
  board.setAddresses(['198.18.1.1:5000']);
  const control = new ControlPlane({ bus, board, runId: 'r1', token: 'the-token', tls: false, startedAt: new Date(clock.now()), requestStop: (r) => stops.push(r) });
  control.start();
  return { bus, board, control, stops };
}

describe('the status board', () => {
  it('follows the world, the step, the metrics and the end of the run', () => {
    const board = new RunStatusBoard({ runId: 'r1', worldSize: 2, epochs: 3, clock });
    for (const e of [started, joined(0), joined(1)]) board.onEvent(e);
    expect(board.snapshot()).toMatchObject({ state: 'waiting', wants_workers: false, world: { size: 2, members: [{ rank: 0, host: 'host-0', gpu: 0 }, { rank: 1 }] } });
    board.onEvent(step(4));
    expect(board.snapshot()).toMatchObject({ state: 'training', step: 5, epoch: 1, step_in_epoch: 5, loss: 1.5, accuracy: 0.25, eta_seconds: 28, images_per_second: 128 });
    board.onEvent({ event: 'worker_left', rank: 1, host: 'host-1', gpu: 1, pid: 101, reason: 'gone', expected: false, workers: 1 });
    expect(board.snapshot().world.members.map((m) => m.rank)).toEqual([0]);
    board.onEvent({ event: 'run_failed', step: 5, error: 'worker 1 was lost', code: 'WORKER_LOST' });
    expect(board.snapshot()).toMatchObject({ state: 'failed', reason: 'worker 1 was lost', eta_seconds: null });
  });

  it('wants workers only while waiting with free ranks', () => {
    const board = new RunStatusBoard({ runId: 'r1', worldSize: 2, epochs: 3, clock });
    board.onEvent(started);
    expect(board.wantsWorkers).toBe(true);
    board.markStopping('Ctrl-C');
    expect(board.wantsWorkers).toBe(false);
    expect(board.snapshot().state).toBe('stopping');
  });
});

describe('the control plane', () => {
  it('publishes every event on the run subject, numbered, and announces when it stops wanting workers', () => {
    const { bus, control } = plane();
    for (const e of [started, joined(0), joined(1), step(0)]) control.onEvent(e);
    const events = bus.published.filter((p) => p.subject === 'emotrain.run.r1.events');
    expect(events.map((p) => (p.payload as RunEvent).event)).toEqual(['run_started', 'worker_joined', 'worker_joined', 'step_completed']);
    expect(events.map((p) => p.headers?.[SEQUENCE_HEADER])).toEqual(['1', '2', '3', '4']);
    const announcements = bus.published.filter((p) => p.subject === 'emotrain.announce').map((p) => (p.payload as Announcement).wants_workers);
    expect(announcements).toEqual([true, false]);
    expect(bus.ask('emotrain.discover')).toMatchObject({ run_id: 'r1', grpc: ['198.18.1.1:5000'], wants_workers: false, workers: 2, world: 2, state: 'training' });
    expect(bus.ask('emotrain.run.r1.status')).toMatchObject({ run_id: 'r1', state: 'training', step: 1 });
  });

  it('stops for the run token, refuses a wrong one, and refuses none unless NATS authenticates', () => {
    const { bus, control, stops } = plane();
    control.onEvent(started);
    expect(bus.ask('emotrain.run.r1.stop', { token: 'wrong' })).toEqual({ accepted: false, run_id: 'r1', code: 'STOP_REFUSED', message: "the token does not match run r1's worker token" });
    expect(bus.ask('emotrain.run.r1.stop', {})).toMatchObject({ accepted: false, code: 'STOP_REFUSED', message: expect.stringContaining('this NATS server does not authenticate its clients') });
    expect(bus.ask('emotrain.run.r1.stop', '{not json')).toMatchObject({ accepted: false, code: 'CONTROL_INVALID' });
    expect(bus.ask('emotrain.run.r1.stop', { token: 42 })).toMatchObject({ accepted: false, code: 'CONTROL_INVALID', message: expect.stringContaining('field token must be a string') });
    expect(stops).toEqual([]);
    bus.authenticates = true;
    expect(bus.ask('emotrain.run.r1.stop', { by: 'ana@desk', reason: 'done' })).toMatchObject({ accepted: true, step: 0 });
    expect(stops).toEqual(['stop requested over NATS by ana@desk: done']);
    expect(bus.ask('emotrain.run.r1.stop', { token: 'the-token' })).toMatchObject({ accepted: true, message: 'run r1 is already stopping at the next step boundary' });
    expect(stops).toHaveLength(1);
    control.onEvent({ event: 'run_stopped', epochs: 0, step: 0, reason: 'stop requested over NATS' });
    expect(bus.ask('emotrain.run.r1.stop', { token: 'the-token' })).toMatchObject({ accepted: false, message: 'run r1 has already stopped' });
  });
});

describe('control messages from the network', () => {
  const announcement: Announcement = { version: 1, run_id: 'r1', grpc: ['198.18.1.1:5000'], tls: true, wants_workers: true, workers: 0, world: 2, state: 'waiting', started_at: 'now' };

  it('parses what the coordinator sends and refuses anything else, naming the field', () => {
    expect(parseAnnouncement(encodeJson(announcement))).toEqual(announcement);
    expect(() => parseAnnouncement(encodeJson({ ...announcement, grpc: ['not an address'] }))).toThrow(/announcement: field grpc must be a list of at most 64 host:port addresses/);
    expect(() => parseAnnouncement(encodeJson({ ...announcement, version: 2 }))).toThrow(/control protocol version 2, this emotrain speaks 1/);
    expect(() => parseAnnouncement(encodeJson({ ...announcement, state: 'dancing' }))).toThrow(/field state must be one of waiting, training/);
    expect(() => parseAnnouncement(encodeJson([1]))).toThrow(/expected a JSON object, got an array/);
    expect(() => parseAnnouncement(new Uint8Array([0xff, 0xfe]))).toThrow(/not UTF-8 JSON/);
    expect(() => parseAnnouncement(new Uint8Array(2 << 20))).toThrow(/more than the 1048576 allowed/);
    const status = new RunStatusBoard({ runId: 'r1', worldSize: 2, epochs: 3, clock }).snapshot();
    expect(parseRunStatus(encodeJson(status))).toEqual(status);
    expect(() => parseRunStatus(encodeJson({ ...status, step: -1 }))).toThrow(/status reply: field step must be an integer/);
    expect(() => parseRunStatus(encodeJson({ ...status, world: { size: 2, members: [{ rank: 'x' }] } }))).toThrow(/world, members\[0\]: field rank/);
    expect(parseStopRequest(new Uint8Array())).toEqual({});
    expect(() => parseStopRequest(encodeJson({ reason: 'x'.repeat(501) }))).toThrow(/field reason must be a string of at most 500/);
    expect(parseStopReply(encodeJson({ accepted: false, run_id: 'r1', code: 'STOP_REFUSED', message: 'no' }))).toEqual({ accepted: false, run_id: 'r1', code: 'STOP_REFUSED', message: 'no' });
  });

  it('names subjects per run and refuses a run id that cannot be a subject token', () => {
    expect(runSubjects('20250101-120000-resnet50-ab12')).toEqual({
      events: 'emotrain.run.20250101-120000-resnet50-ab12.events', status: 'emotrain.run.20250101-120000-resnet50-ab12.status', stop: 'emotrain.run.20250101-120000-resnet50-ab12.stop',
    });
    expect(() => runSubjects('a.b')).toThrow(/run id "a.b" cannot name a NATS subject/);
    expect(() => runSubjects('a*')).toThrow(/cannot name a NATS subject/);
  });

  it('chooses the run a worker joins', () => {
    const a = { ...announcement, run_id: 'a' };
    const b = { ...announcement, run_id: 'b' };
    expect(chooseRun([a], undefined)).toEqual({ kind: 'chosen', run: a });
    expect(chooseRun([a, { ...b, wants_workers: false, state: 'training' as const }], undefined)).toEqual({ kind: 'chosen', run: a });
    expect(chooseRun([a, b], 'b')).toEqual({ kind: 'chosen', run: b });
    const several = chooseRun([a, b], undefined);
    expect(several.kind === 'error' && several.error.message).toBe('2 runs want workers: a (waiting, 0/2 workers), b (waiting, 0/2 workers); name one with --run ID');
    expect(chooseRun([], undefined)).toEqual({ kind: 'wait', why: 'no run on NATS wants workers yet' });
    expect(chooseRun([a], 'c')).toEqual({ kind: 'wait', why: 'run c has not answered on NATS yet' });
    const full = chooseRun([{ ...a, wants_workers: false, state: 'training', workers: 2 }], 'a');
    expect(full.kind === 'error' && full.error.message).toBe('run a has all its 2 workers (training)');
    const over = chooseRun([{ ...a, wants_workers: false, state: 'finished' }], 'a');
    expect(over.kind === 'error' && over.error.code).toBe('CONTROL_NO_RUN');
  });
});

describe('NATS flags', () => {
  it('checks the URL and that exactly one way to log in is given', () => {
    expect(natsSettingsFrom({})).toBeUndefined();
    expect(natsSettingsFrom({ nats: 'nats://a:4222,b' })).toEqual({ servers: ['nats://a:4222', 'b'], auth: { kind: 'none' } });
    expect(natsSettingsFrom({ nats: 'tls://a:4222', 'nats-user': 'u', 'nats-password': 'p' })!.auth).toEqual({ kind: 'user', user: 'u', password: 'p' });
    expect(() => natsSettingsFrom({ nats: 'http://a/b' })).toThrow(/--nats "http:\/\/a\/b" is not a NATS server URL/);
    expect(() => natsSettingsFrom({ nats: 'a:99999' })).toThrow(/is not a NATS server URL/);
    expect(() => natsSettingsFrom({ 'nats-token': 't' })).toThrow(/--nats-token needs --nats URL/);
    expect(() => natsSettingsFrom({ nats: 'a', 'nats-token': 't', 'nats-user': 'u' })).toThrow(/give one way to log in to NATS, not --nats-token and --nats-user\/--nats-password/);
    expect(() => natsSettingsFrom({ nats: 'a', 'nats-user': 'u' })).toThrow(/--nats-user and --nats-password go together/);
    expect(() => natsSettingsFrom({ nats: 'a', 'nats-creds': '/nonexistent.creds' })).toThrow(/--nats-creds \/nonexistent.creds: cannot read it/);
  });
});

describe('reaching the coordinator', () => {
  const interfaces = {
    lo: [{ address: '127.0.0.1', family: 'IPv4', internal: true, netmask: '', mac: '', cidr: null }],
    eth0: [
      { address: '198.18.1.1', family: 'IPv4', internal: false, netmask: '', mac: '', cidr: null },
      { address: 'fe80::1', family: 'IPv6', internal: false, netmask: '', mac: '', cidr: null, scopeid: 1 },
    ],
  } as NodeJS.Dict<import('node:os').NetworkInterfaceInfo[]>;

  it('advertises the listen host, or this host\'s addresses for a wildcard, or --advertise', () => {
    expect(advertisedAddresses('198.18.1.1', 5000, interfaces, 'gpu-a')).toEqual(['198.18.1.1:5000']);
    expect(advertisedAddresses('0.0.0.0', 5000, interfaces, 'gpu-a')).toEqual(['198.18.1.1:5000', 'gpu-a:5000']);
    expect(advertisedAddresses('0.0.0.0', 5000, { lo: interfaces['lo'] }, 'gpu-a')).toEqual(['127.0.0.1:5000']);
    expect(advertisedAddresses('0.0.0.0', 5000, interfaces, 'gpu-a', ['coord.example', 'lb:6000'])).toEqual(['coord.example:5000', 'lb:6000']);
    expect(() => advertisedAddresses('0.0.0.0', 5000, interfaces, 'gpu-a', ['a b'])).toThrow(/--advertise "a b" is not HOST or HOST:PORT/);
    expect([isLoopbackHost('127.0.0.2'), isLoopbackHost('[::1]'), isLoopbackHost('0.0.0.0')]).toEqual([true, true, false]);
  });

  it('prints the worker command with the token as a variable', () => {
    const lines = joinInstructions({ remoteWorkers: 2, addresses: ['198.18.1.1:5000', 'gpu-a:5000'], tls: true, nats: { servers: 'nats://n:4222', runId: 'r1', auth: 'token' } });
    expect(lines).toEqual([
      'waiting for 2 remote workers; on each GPU host run, once per GPU (N = 0, 1, ...):',
      '  worker --coordinator 198.18.1.1:5000 --token $EMOTRAIN_TOKEN --gpu N --tls-ca CA.pem',
      '  (this coordinator is also reachable at gpu-a:5000)',
      '  or, through NATS: worker --nats nats://n:4222 --nats-token $EMOTRAIN_NATS_TOKEN --token $EMOTRAIN_TOKEN --run r1 --gpu N --tls-ca CA.pem',
      "  with EMOTRAIN_TOKEN set to this run's token on that host",
    ]);
  });

  it('asks workers of a ring run over TLS for a certificate of their own, and only then', () => {
    const ring = joinInstructions({ remoteWorkers: 1, addresses: ['198.18.1.1:5000'], tls: true, ring: true });
    expect(ring[1]).toBe('  worker --coordinator 198.18.1.1:5000 --token $EMOTRAIN_TOKEN --gpu N --tls-ca CA.pem --tls-cert WORKER.pem --tls-key WORKER-KEY.pem');
    expect(ring.at(-1)).toMatch(/WORKER\.pem a certificate signed by CA\.pem for the address other workers reach that one at/);
    expect(replacementInstructions({ freeRanks: [1], addresses: ['198.18.1.1:5000'], tls: true, ring: true })).toEqual([
      '  to replace rank 1: worker --coordinator 198.18.1.1:5000 --token $EMOTRAIN_TOKEN --rank 1 --gpu N --tls-ca CA.pem --tls-cert WORKER.pem --tls-key WORKER-KEY.pem',
    ]);
    expect(joinInstructions({ remoteWorkers: 1, addresses: ['h:1'], tls: false, ring: true })[1]).toBe('  worker --coordinator h:1 --token $EMOTRAIN_TOKEN --gpu N');
    expect(joinInstructions({ remoteWorkers: 1, addresses: ['h:1'], tls: true })).toHaveLength(3);
  });
});

describe('what people read', () => {
  it('formats a status for a person', () => {
    const board = new RunStatusBoard({ runId: 'r1', worldSize: 2, epochs: 3, clock });
    board.setAddresses(['198.18.1.1:5000']);
    for (const e of [started, joined(0), joined(1), step(4)]) board.onEvent(e);
    expect(formatRunStatus(board.snapshot())).toBe(
      'run r1: training\n' +
        '  epoch 1/3, step 5 (5/10 in the epoch), ETA 0:28\n' +
        '  loss 1.5000  accuracy 0.2500  lr 1.00e-3  loss scale 32768  128.0 img/s\n' +
        '  world: 2/2 workers; gRPC 198.18.1.1:5000\n' +
        '    rank 0  host-0  gpu 0  tfjs-node-gpu  pid 100\n' +
        '    rank 1  host-1  gpu 1  tfjs-node-gpu  pid 101\n' +
        '  as of 2025-01-01T00:00:00.000Z\n',
    );
  });

  it("prints a remote worker's progress on its first step and then once per interval", () => {
    let now = 0;
    const lines: string[] = [];
    const progress = new WorkerProgress(() => 3, (l) => lines.push(l), () => now, 10_000);
    const times = { step: 0, epoch: 0, samples: 64, dataSeconds: 0.1, computeSeconds: 0.6, exchangeSeconds: 0.2, applySeconds: 0.1 };
    progress.step(times);
    for (let s = 1; s <= 9; s++) {
      now += 1000;
      progress.step({ ...times, step: s });
    }
    now += 1000;
    progress.step({ ...times, step: 10, epoch: 1 });
    expect(lines).toEqual([
      'worker 3: step 0 (epoch 1), 1 steps done; 64.0 img/s own over the last 1 steps; last step 1.00 s (data 0.10, compute 0.60, exchange 0.20, apply 0.10)',
      'worker 3: step 10 (epoch 2), 11 steps done; 64.0 img/s own over the last 10 steps; last step 1.00 s (data 0.10, compute 0.60, exchange 0.20, apply 0.10)',
    ]);
  });
});
