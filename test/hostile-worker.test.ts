// A worker that holds the token and sends hostile values (issue 14, acceptance a): NaN, infinities,
// negative and huge numbers in every numeric field of every message it can send, over real gRPC
// to a real coordinator. Each is refused with a status naming the field and costs its sender its
// membership; the run never fails, and once a real worker has trained it to the end, metrics.csv
// and the checkpoints are exactly those of a run in which the same fake sent only valid messages.

import * as grpc from '@grpc/grpc-js';
import * as tf from '@tensorflow/tfjs';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { NUM_CLASSES } from '../shared/classes.js';
import type { WorkerConfig } from '../shared/config.js';
import { buildReplicaModel } from '../shared/replica-model.js';
import {
  CHANNEL_OPTIONS, PROTOCOL_VERSION, authMetadata, bytesOf, chunkPayload, loadTrainerService, writeMessage,
  type Command, type ExchangeUpload, type EvaluationResult, type GradientHeader, type JoinRequest, type ReportRequest, type StateManifest,
} from '../shared/wire/index.js';
import type { RpcError } from '../shared/wire/status.js';
import { CoordinatorClient } from '../worker/coordinator-client.js';
import { COORDINATOR, Program, WORKER, cleanUp, readEvents, tempDir } from './helpers/processes.js';

const TOKEN = 'hostile-test-token-42';

afterEach(cleanUp);
beforeAll(async () => {
  tf.env().set('PROD', true);
  await tf.setBackend('cpu');
});

/** The values every double field gets; floats get the same (1e300 is Infinity in a float). */
const DOUBLE_VALUES = [NaN, Infinity, -Infinity, -1, 1e300];
/** uint64 fields travel as numbers: ones past 2^53 cannot be counts. 2^63 and 2^64 - 2048 are exact doubles. */
const UINT64_VALUES = [2 ** 63, 2 ** 64 - 2048];
const UINT32_MAX = 2 ** 32 - 1;

type TrainStep = Extract<Command, { kind: 'trainStep' }>['trainStep'];
type Evaluate = Extract<Command, { kind: 'evaluate' }>['evaluate'];

/** One membership of the fake worker: joined, state fetched, command stream and heartbeats open. */
class FakeMember {
  private readonly commands: Command[] = [];
  private readonly waiting: Array<(command: Command) => void> = [];
  private readonly stream: ReturnType<CoordinatorClient['commands']>;
  private readonly beats: ReturnType<CoordinatorClient['heartbeat']>;
  private readonly pinger: NodeJS.Timeout;

  private constructor(
    readonly client: CoordinatorClient,
    readonly ref: { runId: string; workerId: string },
    readonly manifest: StateManifest,
    readonly trainable: number,
    readonly stateSize: number,
  ) {
    this.stream = client.commands(ref);
    this.stream.on('data', (command: Command) => {
      const waiter = this.waiting.shift();
      if (waiter) waiter(command);
      else this.commands.push(command);
    });
    this.stream.on('error', () => undefined);
    this.beats = client.heartbeat();
    this.beats.on('error', () => undefined);
    this.pinger = setInterval(() => this.beats.write({ ...ref, sentAtMs: Date.now() }), 200);
  }

  static async join(client: CoordinatorClient): Promise<FakeMember> {
    const joined = await client.join(joinRequest());
    const config = JSON.parse(joined.configJson) as WorkerConfig;
    const { state } = buildReplicaModel(config);
    const ref = { runId: joined.runId, workerId: joined.workerId };
    const manifest = await client.fetchState(ref, () => [...state.weightBytes(), new Uint8Array(state.trainable.length * 8)]);
    return new FakeMember(client, ref, manifest, state.trainable.length, state.state.length);
  }

  next(): Promise<Command> {
    const ready = this.commands.shift();
    if (ready) return Promise.resolve(ready);
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  leave(): void {
    clearInterval(this.pinger);
    this.beats.end();
    this.stream.cancel();
  }
}

function joinRequest(changes: Partial<JoinRequest> = {}): JoinRequest {
  return { protocolVersion: PROTOCOL_VERSION, host: 'fake', gpu: -1, pid: process.pid, backend: 'cpu', requestedRank: -1, localData: false, peerAddress: '', ...changes };
}

function validHeader(member: FakeMember, step: TrainStep): GradientHeader {
  return {
    ...member.ref, step: step.step, generation: step.generation, lossScale: member.manifest.lossScale, dtype: 'TENSOR_DTYPE_FLOAT16',
    gradientElements: member.trainable, stateElements: member.stateSize, shardSize: step.samples.length, lossSum: 1.9 * step.samples.length,
    correct: 3, regularizationLoss: 0.01, nonFinite: 0, segmentOffset: 0, segmentElements: 0,
    timings: { dataSeconds: 0.01, computeSeconds: 0.02, exchangeSeconds: 0.03, applySeconds: 0.04, totalSeconds: 0.1 },
  };
}

/** Gradients the fake sends: small, fixed, exactly representable in fp16; and zero BatchNorm statistics. */
function payloadOf(member: FakeMember): Uint8Array[] {
  const wire = new Uint16Array(member.trainable).fill(0x2c00); // 1/16
  return [bytesOf(wire), new Uint8Array(member.stateSize * 4)];
}

function validEvaluation(evaluate: Evaluate): EvaluationResult {
  // every sample taken for class 0: right exactly for the samples of class 0
  const confusion = new Array<number>(NUM_CLASSES * NUM_CLASSES).fill(0);
  for (const sample of evaluate.samples) confusion[sample.label * NUM_CLASSES]! += 1;
  return {
    evaluationId: evaluate.evaluationId, count: evaluate.samples.length, correct: confusion[0]!, confusion,
    sampleIds: [], probabilities: [], regularizationLoss: 0.01, sampleLosses: evaluate.samples.map(() => 1.9),
  };
}

function exchange(member: FakeMember, header: GradientHeader) {
  return member.client.exchange(header, payloadOf(member), () => [new Uint8Array(member.trainable * 2), new Uint8Array(member.stateSize * 4)]);
}

interface Refusal {
  what: string;
  message: string;
}

function statusName(error: unknown): string {
  const code = (error as RpcError).grpcStatus;
  return code === undefined ? `no status (${String(error)})` : grpc.status[code]!;
}

/** Cases for one message: each numeric field with each hostile value its wire type can carry. */
function cases<T>(message: string, fields: Record<string, readonly number[]>, tamper: (base: T, field: string, value: number) => T) {
  return Object.entries(fields).flatMap(([field, values]) =>
    values.map((value) => ({ what: `${message}.${field} = ${value}`, field: new RegExp(`${message}\\.${field.replace(/[.[\]]/g, '\\$&')}(?!\\w)`), tamper: (base: T) => tamper(base, field, value) })),
  );
}

const HEADER_CASES = cases<GradientHeader>(
  'GradientHeader',
  {
    step: UINT64_VALUES, generation: UINT64_VALUES, lossScale: [...DOUBLE_VALUES, 0], gradientElements: UINT64_VALUES, stateElements: UINT64_VALUES,
    shardSize: [UINT32_MAX], lossSum: DOUBLE_VALUES, correct: [UINT32_MAX], regularizationLoss: DOUBLE_VALUES, nonFinite: UINT64_VALUES,
    segmentOffset: UINT64_VALUES, segmentElements: UINT64_VALUES,
    'timings.dataSeconds': DOUBLE_VALUES, 'timings.computeSeconds': DOUBLE_VALUES, 'timings.exchangeSeconds': DOUBLE_VALUES,
    'timings.applySeconds': DOUBLE_VALUES, 'timings.totalSeconds': DOUBLE_VALUES,
  },
  (base, field, value) => (field.startsWith('timings.') ? { ...base, timings: { ...base.timings, [field.slice(8)]: value } } : { ...base, [field]: value }),
);

const EVALUATION_CASES = cases<EvaluationResult>(
  'EvaluationResult',
  {
    evaluationId: UINT64_VALUES, count: [UINT32_MAX], correct: [UINT32_MAX], 'confusion[8]': [UINT32_MAX], regularizationLoss: DOUBLE_VALUES,
    'sampleLosses[5]': DOUBLE_VALUES, probabilities: DOUBLE_VALUES,
  },
  (base, field, value) => {
    if (field === 'probabilities') {
      // validation asks for no probabilities: any that come, hostile or not, are refused
      const probabilities = new Array<number>(base.count * NUM_CLASSES).fill(1 / NUM_CLASSES);
      probabilities[3] = value;
      return { ...base, probabilities, sampleIds: Array.from({ length: base.count }, (_, i) => i) };
    }
    const element = /^(\w+)\[(\d+)\]$/.exec(field);
    if (!element) return { ...base, [field]: value };
    const name = element[1] as 'confusion' | 'sampleLosses';
    const values = [...base[name]];
    values[Number(element[2])] = value;
    return { ...base, [name]: values };
  },
);

/** A gradient chunk that claims to start where it does not (chunks must arrive in order, from byte 0). */
const CHUNK_OFFSETS = [...UINT64_VALUES, 1];

/** Sends `header` and one chunk at `offset` on a call of its own; resolves with the status the coordinator ends it with. */
async function uploadChunkAt(address: string, header: GradientHeader, payload: Uint8Array[], offset: number): Promise<grpc.ServiceError> {
  const Trainer = loadTrainerService().client;
  const raw = new Trainer(address, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
  const call = raw.exchange(authMetadata(TOKEN));
  const status = new Promise<grpc.ServiceError>((resolve) => call.on('error', resolve));
  call.on('data', () => undefined);
  await writeMessage<ExchangeUpload>(call, { kind: 'header', header });
  const first = [...chunkPayload(payload, 1024)][0]!;
  await writeMessage<ExchangeUpload>(call, { kind: 'chunk', chunk: { ...first, offset } }).catch(() => undefined);
  const error = await status;
  raw.close();
  return error;
}

const JOIN_CASES = cases<JoinRequest>('JoinRequest', { gpu: [2 ** 31 - 1, -(2 ** 31)], pid: [UINT32_MAX], requestedRank: [2 ** 31 - 1, -(2 ** 31)] }, (base, field, value) => ({ ...base, [field]: value }));

type Report = Extract<ReportRequest, { kind: 'checksum' }>['checksum'];
const CHECKSUM_CASES = cases<Report>('ChecksumResult', { step: UINT64_VALUES, requestId: UINT64_VALUES }, (base, field, value) => ({ ...base, [field]: value }));
const STEP_FAILURE_CASES = cases<{ step: number; generation: number; message: string }>('StepFailure', { step: UINT64_VALUES, generation: UINT64_VALUES }, (base, field, value) => ({ ...base, [field]: value }));

interface HostileRun {
  runDir: string;
  refusals: Refusal[];
  coordinator: Program;
}

/**
 * One run of a coordinator waiting for one remote worker, 2 epochs of 1 step. The fake worker
 * uploads step 0 and evaluates epoch 1, sending every hostile case first when `hostile`, then
 * leaves at the checksum of epoch 1; a real worker joins and trains the run to its end.
 */
async function hostileRun(hostile: boolean): Promise<HostileRun> {
  const runs = tempDir('runs');
  const coordinator = new Program(COORDINATOR, [
    '--gpus', '0', '--workers', '1', '--listen', '127.0.0.1:0', '--token', TOKEN, '--epochs', '2', '--steps-per-epoch', '1',
    '--dataset', 'synthetic', '--synthetic-count', '700', '--model', 'small-cnn', '--image-size', '16', '--batch', '32',
    '--runs', runs, '--run-id', 'hostile', '--progress', 'lines', '--no-metrics',
  ]);
  const address = `127.0.0.1:${(await coordinator.waitFor(/listening on 127\.0\.0\.1:(\d+)/, 60_000))[1]}`;
  const client = new CoordinatorClient(address, TOKEN);
  const refusals: Refusal[] = [];
  const refused = (what: string, error: unknown) => {
    expect(statusName(error), what).toBe('INVALID_ARGUMENT');
    const message = String((error as Error).message);
    refusals.push({ what, message });
    return message;
  };

  if (hostile) {
    for (const c of JOIN_CASES) {
      const message = refused(c.what, await client.join(c.tamper(joinRequest())).catch((e: unknown) => e));
      expect(message, c.what).toMatch(c.field);
    }
  }
  let member = await FakeMember.join(client);
  const again = async () => {
    // the refused message cost the fake its membership: it is unknown now, and joins as a replacement
    const probe = member.client.commands(member.ref);
    const status = await new Promise<grpc.ServiceError>((resolve) => probe.on('error', resolve));
    expect(status.details).toMatch(/unknown worker id/);
    member.leave();
    member = await FakeMember.join(client);
  };

  let command = await member.next();
  expect(command.kind).toBe('trainStep');
  if (hostile) {
    for (const c of HEADER_CASES) {
      const step = (command as Extract<Command, { kind: 'trainStep' }>).trainStep;
      expect(refused(c.what, await exchange(member, c.tamper(validHeader(member, step))).catch((e: unknown) => e)), c.what).toMatch(c.field);
      await again();
      command = await member.next();
      expect(command.kind).toBe('trainStep');
    }
  }
  if (hostile) {
    for (const offset of CHUNK_OFFSETS) {
      const step = (command as Extract<Command, { kind: 'trainStep' }>).trainStep;
      const error = await uploadChunkAt(address, validHeader(member, step), payloadOf(member), offset);
      const what = `TensorChunk.offset = ${offset}`;
      expect(grpc.status[error.code], what).toBe('INVALID_ARGUMENT');
      refusals.push({ what, message: error.details });
      expect(error.details).toMatch(new RegExp(`TensorChunk\\.offset is ${offset}; the next chunk starts at byte 0`));
      await again();
      command = await member.next();
      expect(command.kind).toBe('trainStep');
    }
  }
  const step = (command as Extract<Command, { kind: 'trainStep' }>).trainStep;
  expect(await exchange(member, validHeader(member, step))).toMatchObject({ step: 0, applied: true });

  command = await member.next();
  expect(command.kind).toBe('evaluate');
  if (hostile) {
    for (const c of EVALUATION_CASES) {
      const evaluate = (command as Extract<Command, { kind: 'evaluate' }>).evaluate;
      const evaluation = c.tamper(validEvaluation(evaluate));
      const error = await member.client.report({ ...member.ref, kind: 'evaluation', evaluation }).catch((e: unknown) => e);
      expect(refused(c.what, error), c.what).toMatch(c.field);
      await again();
      command = await member.next();
      expect(command.kind).toBe('evaluate');
    }
  }
  const evaluate = (command as Extract<Command, { kind: 'evaluate' }>).evaluate;
  await member.client.report({ ...member.ref, kind: 'evaluation', evaluation: validEvaluation(evaluate) });

  command = await member.next();
  expect(command.kind).toBe('checksum');
  if (hostile) {
    for (const c of CHECKSUM_CASES) {
      // each replacement is asked again, under a new request id
      const asked = (command as Extract<Command, { kind: 'checksum' }>).checksum;
      const checksum = c.tamper({ step: asked.step, requestId: asked.requestId, sha256: '0'.repeat(64) });
      expect(refused(c.what, await member.client.report({ ...member.ref, kind: 'checksum', checksum }).catch((e: unknown) => e)), c.what).toMatch(c.field);
      await again();
      command = await member.next();
      expect(command.kind).toBe('checksum');
    }
    for (const c of STEP_FAILURE_CASES) {
      const stepFailure = c.tamper({ step: 0, generation: 0, message: 'hostile' });
      expect(refused(c.what, await member.client.report({ ...member.ref, kind: 'stepFailure', stepFailure }).catch((e: unknown) => e)), c.what).toMatch(c.field);
      await again();
      command = await member.next();
      expect(command.kind).toBe('checksum');
    }
  }
  // the fake leaves without answering; a real worker takes its place and trains to the end
  member.leave();
  client.close();
  const worker = new Program(WORKER, ['--coordinator', address, '--token', TOKEN, '--data-threads', '1', '--backend', 'cpu']);
  expect(await coordinator.exit(120_000)).toEqual({ code: 0, signal: null });
  await worker.exit(30_000);
  return { runDir: path.join(runs, 'hostile'), refusals, coordinator };
}

/** What the run kept: metrics.csv without its timing column, and the checkpoints' weights. */
function kept(runDir: string) {
  const [head, ...rows] = fs.readFileSync(path.join(runDir, 'metrics.csv'), 'utf8').trim().split('\n');
  const timing = head!.split(',').indexOf('images_per_second');
  const metrics = [head, ...rows].map((line) => line.split(',').filter((_, i) => i !== timing).join(','));
  const digest = (file: string) => crypto.createHash('sha256').update(fs.readFileSync(path.join(runDir, 'checkpoints', file))).digest('hex');
  return { metrics, best: digest('best/weights.bin'), last: digest('last/weights.bin') };
}

describe('a worker holding the token that sends hostile values in every field', () => {
  it('is refused field by field, never fails the run, and changes nothing the run keeps', async () => {
    const [bad, clean] = [await hostileRun(true), await hostileRun(false)];
    const total = JOIN_CASES.length + HEADER_CASES.length + CHUNK_OFFSETS.length + EVALUATION_CASES.length + CHECKSUM_CASES.length + STEP_FAILURE_CASES.length;
    expect(bad.refusals).toHaveLength(total);
    expect(total).toBe(93);

    for (const run of [bad, clean]) {
      expect(run.coordinator.output).not.toMatch(/run failed/);
      const events = readEvents(run.runDir);
      expect(events.filter((e) => e.event === 'run_failed')).toEqual([]);
      expect(events.filter((e) => e.event === 'run_finished')).toHaveLength(1);
    }
    // every refusal after a join cost the sender its membership, with the field in the reason
    const left = readEvents(bad.runDir).filter((e) => e.event === 'worker_left' && /invalid message/.test(String(e.reason)));
    expect(left).toHaveLength(total - JOIN_CASES.length);

    // nothing a refused message carried is in metrics.csv or a checkpoint
    const keptBad = kept(bad.runDir);
    expect(keptBad).toEqual(kept(clean.runDir));
    expect(keptBad.metrics).toHaveLength(3);
    for (const row of keptBad.metrics.slice(1)) {
      for (const value of row.split(',').map(Number)) expect(Number.isFinite(value)).toBe(true);
    }
  }, 300_000);
});
