import * as grpc from '@grpc/grpc-js';
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { WorkerConfig } from '../shared/config.js';
import { encodeFp16 } from '../shared/fp16/codec.js';
import { buildReplicaModel } from '../shared/replica-model.js';
import {
  CHANNEL_OPTIONS, PROTOCOL_VERSION, authMetadata, bytesOf, chunkPayload, loadTrainerService, writeMessage,
  type Command, type ExchangeUpload, type GradientHeader, type JoinReply, type StateManifest,
} from '../shared/wire/index.js';
import { CoordinatorClient } from '../worker/coordinator-client.js';
import { COORDINATOR, Program, cleanUp, sleep, tempDir } from './helpers/processes.js';

const TOKEN = 'test-token-0123456789';

afterEach(cleanUp);
beforeAll(async () => {
  tf.env().set('PROD', true);
  await tf.setBackend('cpu');
});

/** A coordinator waiting for one remote worker; returns its address. */
async function startCoordinator(extra: string[] = []): Promise<{ program: Program; address: string }> {
  const program = new Program(COORDINATOR, [
    ...extra,
    '--gpus', '0', '--workers', '1', '--listen', '127.0.0.1:0', '--token', TOKEN, '--epochs', '1',
    '--dataset', 'synthetic', '--synthetic-count', '700', '--model', 'small-cnn', '--image-size', '16',
    '--runs', tempDir('runs'), '--progress', 'lines',
  ]);
  const match = await program.waitFor(/listening on 127\.0\.0\.1:(\d+)/, 60_000);
  return { program, address: `127.0.0.1:${match[1]}` };
}

function joinRequest() {
  return { protocolVersion: PROTOCOL_VERSION, host: 'test', gpu: -1, pid: process.pid, backend: 'cpu', requestedRank: -1, localData: false, peerAddress: '' };
}

/** Joins as a worker, fetches the state, and returns the first train-step command. */
async function joinAndGetStep(
  client: CoordinatorClient,
): Promise<{ joined: JoinReply; manifest: StateManifest; step: Extract<Command, { kind: 'trainStep' }>['trainStep']; trainable: number; stateSize: number }> {
  const joined = await client.join(joinRequest());
  const config = JSON.parse(joined.configJson) as WorkerConfig;
  const { state } = buildReplicaModel(config);
  const ref = { runId: joined.runId, workerId: joined.workerId };
  const manifest = await client.fetchState(ref, (m) => {
    state.requireSameLayout(m.weights, 'test');
    return [...state.weightBytes(), new Uint8Array(state.trainable.length * 8)];
  });
  const commands = client.commands(ref);
  const first = await new Promise<Command>((resolve, reject) => {
    commands.once('data', resolve);
    commands.once('error', reject);
  });
  expect(first.kind).toBe('trainStep');
  return { joined, manifest, step: (first as Extract<Command, { kind: 'trainStep' }>).trainStep, trainable: state.trainable.length, stateSize: state.state.length };
}

function grpcCode(error: unknown): string {
  const code = (error as { grpcStatus?: number }).grpcStatus;
  return code === undefined ? 'none' : grpc.status[code]!;
}

describe('the coordinator validates every message', () => {
  it('refuses a join with a wrong token, or with none', async () => {
    const { address } = await startCoordinator();
    const wrong = new CoordinatorClient(address, 'not-the-token');
    const error = await wrong.join(joinRequest()).catch((e: unknown) => e);
    expect(grpcCode(error)).toBe('UNAUTHENTICATED');
    expect(String(error)).toMatch(/wrong token/);
    wrong.close();
    const none = new CoordinatorClient(address, '');
    expect(String(await none.join(joinRequest()).catch((e: unknown) => e))).toMatch(/no token given/);
    none.close();
  });

  it('exits on Ctrl-C while a client still holds a connection to its port', async () => {
    const { program, address } = await startCoordinator();
    const Trainer = loadTrainerService().client;
    const client = new Trainer(address, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
    const refused = await new Promise<grpc.ServiceError | null>((resolve) => client.join(joinRequest(), authMetadata('not-the-token'), (error) => resolve(error)));
    expect(refused?.code).toBe(grpc.status.UNAUTHENTICATED);
    // the client's connection stays open; the coordinator must not wait for it to leave
    const started = Date.now();
    program.kill('SIGINT');
    expect((await program.exit(15_000)).code).toBe(130);
    expect(Date.now() - started).toBeLessThan(10_000);
    client.close();
  });

  it('rejects uploads with the wrong run, step or length, expels the sender of an invalid one, and applies only the valid one', async () => {
    const { address } = await startCoordinator();
    const client = new CoordinatorClient(address, TOKEN);
    let { joined, manifest, step, trainable, stateSize } = await joinAndGetStep(client);
    expect(manifest.lossScale).toBe(32768);
    expect(step.step).toBe(0);
    expect(step.samples.length).toBe(128);

    // gradients we choose, exactly representable in fp16
    const gradients = new Float32Array(trainable);
    for (let i = 0; i < trainable; i++) gradients[i] = ((i % 17) - 8) / 64;
    const wire = new Uint16Array(trainable);
    encodeFp16(gradients, wire);
    const state = new Float32Array(stateSize);
    const headerOf = (): GradientHeader => ({
      runId: joined.runId,
      workerId: joined.workerId,
      step: step.step,
      generation: step.generation,
      lossScale: manifest.lossScale,
      dtype: 'TENSOR_DTYPE_FLOAT16',
      gradientElements: trainable,
      stateElements: stateSize,
      shardSize: 128,
      lossSum: 250,
      correct: 20,
      regularizationLoss: 0.1,
      nonFinite: 0,
      segmentOffset: 0,
      segmentElements: 0,
      timings: { dataSeconds: 0, computeSeconds: 0, exchangeSeconds: 0, applySeconds: 0, totalSeconds: 0 },
    });
    let header = headerOf();
    const received = new Uint16Array(trainable);
    const targets = () => [bytesOf(received), new Uint8Array(stateSize * 4)];
    const payload = [bytesOf(wire), bytesOf(state)];
    const attempt = (h: GradientHeader, p: Uint8Array[] = payload) => client.exchange(h, p, targets).catch((e: unknown) => e);

    // Late or misaddressed uploads are refused, and the worker stays a member.
    const wrongRun = await attempt({ ...header, runId: 'another-run' });
    expect(grpcCode(wrongRun)).toBe('PERMISSION_DENIED');
    expect(String(wrongRun)).toMatch(/names run "another-run"/);

    const wrongStep = await attempt({ ...header, step: 5 });
    expect(grpcCode(wrongStep)).toBe('INVALID_ARGUMENT');
    expect(String(wrongStep)).toMatch(/step 5, but the current step is 0/);

    // An invalid upload is refused and its sender expelled (issue 14): it joins again as a replacement.
    const refusedAndExpelled = async (h: (base: GradientHeader) => GradientHeader, expected: RegExp, p?: Uint8Array[]) => {
      const refused = await attempt(h(header), p);
      expect(grpcCode(refused)).toBe('INVALID_ARGUMENT');
      expect(String(refused)).toMatch(expected);
      expect(String(await attempt(header))).toMatch(/unknown worker id/);
      ({ joined, manifest, step } = await joinAndGetStep(client));
      header = headerOf();
    };
    await refusedAndExpelled((h) => ({ ...h, lossScale: 1024 }), /GradientHeader\.lossScale is 1024 for step 0; the step's loss scale is 32768/);
    await refusedAndExpelled((h) => ({ ...h, gradientElements: trainable - 1 }), new RegExp(`GradientHeader\\.gradientElements is ${trainable - 1} and GradientHeader\\.stateElements 0`));
    // A cut-off upload is dropped, not held against the worker: it may send the step again.
    const Trainer = loadTrainerService().client;
    const raw = new Trainer(address, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
    const call = raw.exchange(authMetadata(TOKEN));
    const cutStatus = new Promise<grpc.ServiceError>((resolve) => call.on('error', resolve));
    call.on('data', () => undefined);
    await writeMessage<ExchangeUpload>(call, { kind: 'header', header });
    await writeMessage<ExchangeUpload>(call, { kind: 'chunk', chunk: { offset: 0, data: Buffer.from(bytesOf(wire).subarray(0, 1000)) } });
    call.end();
    const cut = await cutStatus;
    expect(grpc.status[cut.code]).toBe('ABORTED');
    expect(cut.details).toMatch(/stream ended after 1000 of \d+ bytes; send the step again/);
    raw.close();
    // The worker's client sends it again by itself; an upload that keeps breaking off costs its sender its membership.
    await refusedAndExpelled((h) => h, /upload ended after 1000 of \d+ bytes: its upload of step 0 broke off 4 times, more than the 3 a member may/, [bytesOf(wire).subarray(0, 1000)]);
    await refusedAndExpelled((h) => h, /more than the .* declared/, [bytesOf(wire), bytesOf(state), new Uint8Array(8)]);
    await refusedAndExpelled((h) => ({ ...h, shardSize: 100 }), /GradientHeader\.shardSize is 100 for step 0; its shard has 128 samples/);
    await refusedAndExpelled((h) => ({ ...h, dtype: 'TENSOR_DTYPE_FLOAT32' }), /GradientHeader\.dtype is "TENSOR_DTYPE_FLOAT32" for step 0; this run exchanges TENSOR_DTYPE_FLOAT16/);
    await refusedAndExpelled((h) => ({ ...h, timings: { ...h.timings, dataSeconds: NaN } }), /worker 0 \(test, cpu, pid \d+\): GradientHeader\.timings\.dataSeconds is NaN; it must be a finite number >= 0/);

    const strangerClient = new CoordinatorClient(address, 'bad');
    const stranger = await strangerClient.exchange(header, payload, targets).catch((e: unknown) => e);
    expect(grpcCode(stranger)).toBe('UNAUTHENTICATED');
    strangerClient.close();

    // the valid upload: with one worker the reduced gradients are exactly ours — nothing the
    // rejected uploads sent was added
    expect(step.step).toBe(0);
    const reduced = await client.exchange(header, payload, targets);
    expect(reduced).toMatchObject({ step: 0, applied: true, optimizerIteration: 1, lossScale: 32768, nextLossScale: 32768 });
    expect(Buffer.from(bytesOf(received)).equals(Buffer.from(bytesOf(wire)))).toBe(true);

    // and a second upload for the same step is refused
    const twice = await attempt(header);
    expect(String(twice)).toMatch(/current step is 1|uploaded step 0 twice/);
    client.close();
  });

  it('takes the upload again after an exchange cancelled after its first chunk, and refuses a second command stream without harming the member', async () => {
    const { program, address } = await startCoordinator();
    const client = new CoordinatorClient(address, TOKEN);
    const { joined, manifest, step, trainable, stateSize } = await joinAndGetStep(client);
    const ref = { runId: joined.runId, workerId: joined.workerId };

    // a second command stream for the member: refused, and the member keeps its own
    const duplicate = client.commands(ref);
    const refused = await new Promise<grpc.ServiceError>((resolve) => duplicate.on('error', resolve));
    expect(refused.details).toMatch(/worker 0 \(test, cpu, pid \d+\) already has a command stream/);

    const wire = new Uint16Array(trainable).fill(0x2c00); // 1/16 in fp16
    const state = new Float32Array(stateSize);
    const payload = [bytesOf(wire), bytesOf(state)];
    const header: GradientHeader = {
      ...ref, step: step.step, generation: step.generation, lossScale: manifest.lossScale, dtype: 'TENSOR_DTYPE_FLOAT16', gradientElements: trainable,
      stateElements: stateSize, shardSize: 128, lossSum: 250, correct: 20, regularizationLoss: 0.1, nonFinite: 0, segmentOffset: 0, segmentElements: 0,
      timings: { dataSeconds: 0, computeSeconds: 0, exchangeSeconds: 0, applySeconds: 0, totalSeconds: 0 },
    };
    // an exchange that sends its header and first chunk, then is cancelled (the worker's process hiccuped)
    const Trainer = loadTrainerService().client;
    const raw = new Trainer(address, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
    const call = raw.exchange(authMetadata(TOKEN));
    call.on('error', () => undefined);
    await writeMessage<ExchangeUpload>(call, { kind: 'header', header });
    const [first] = [...chunkPayload(payload, 1024)]; // the first KiB of several
    await writeMessage<ExchangeUpload>(call, { kind: 'chunk', chunk: first! });
    await sleep(200);
    call.cancel();
    await sleep(300);
    raw.close();

    // the retry is taken whole, and only it counts
    const received = new Uint16Array(trainable);
    const reduced = await client.exchange(header, payload, () => [bytesOf(received), new Uint8Array(stateSize * 4)]);
    expect(reduced).toMatchObject({ step: 0, applied: true, optimizerIteration: 1 });
    expect(Buffer.from(bytesOf(received)).equals(Buffer.from(bytesOf(wire)))).toBe(true);
    expect(program.output).not.toMatch(/run failed/);
    client.close();
  });

  it('closes an upload or a heartbeat stream that sends nothing for --stream-idle-timeout, and takes the step again from the same member', async () => {
    const { program, address } = await startCoordinator(['--stream-idle-timeout', '1.5']);
    const client = new CoordinatorClient(address, TOKEN);
    const { joined, manifest, step, trainable, stateSize } = await joinAndGetStep(client);
    const ref = { runId: joined.runId, workerId: joined.workerId };
    // this member's own heartbeats, so that only the quiet streams below are idle
    const beats = client.heartbeat();
    const pinger = setInterval(() => beats.write({ ...ref, sentAtMs: Date.now() }), 200);
    try {
      const Trainer = loadTrainerService().client;
      const raw = new Trainer(address, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
      const statusOf = (call: grpc.ClientDuplexStream<ExchangeUpload, unknown>) =>
        new Promise<{ error: grpc.ServiceError; seconds: number }>((resolve) => {
          const started = Date.now();
          call.on('error', (error: grpc.ServiceError) => resolve({ error, seconds: (Date.now() - started) / 1000 }));
          call.on('data', () => undefined);
        });

      // an exchange that never sends its header
      const silent = await statusOf(raw.exchange(authMetadata(TOKEN)));
      expect(grpc.status[silent.error.code]).toBe('DEADLINE_EXCEEDED');
      expect(silent.error.details).toMatch(/the exchange from .* sent nothing for 1\.5 s while a gradient header was due; it is closed/);
      expect(silent.seconds).toBeGreaterThan(1.2);
      expect(silent.seconds).toBeLessThan(20);

      // a heartbeat stream that never pings
      // (a client-streaming call: its status comes to the callback)
      const quiet = await new Promise<grpc.ServiceError | null>((resolve) => raw.heartbeat(authMetadata(TOKEN), (error) => resolve(error)));
      expect(grpc.status[quiet!.code]).toBe('DEADLINE_EXCEEDED');
      expect(quiet!.details).toMatch(/the heartbeat stream from .* sent nothing for 1\.5 s while a ping was due; it is closed/);

      // an upload that stops after its header and first chunk: closed, and its staging released
      const wire = new Uint16Array(trainable).fill(0x2c00); // 1/16 in fp16
      const payload = [bytesOf(wire), bytesOf(new Float32Array(stateSize))];
      const header: GradientHeader = {
        ...ref, step: step.step, generation: step.generation, lossScale: manifest.lossScale, dtype: 'TENSOR_DTYPE_FLOAT16', gradientElements: trainable,
        stateElements: stateSize, shardSize: 128, lossSum: 250, correct: 20, regularizationLoss: 0.1, nonFinite: 0, segmentOffset: 0, segmentElements: 0,
        timings: { dataSeconds: 0, computeSeconds: 0, exchangeSeconds: 0, applySeconds: 0, totalSeconds: 0 },
      };
      const stalled = raw.exchange(authMetadata(TOKEN));
      const stalledStatus = statusOf(stalled);
      await writeMessage<ExchangeUpload>(stalled, { kind: 'header', header });
      await writeMessage<ExchangeUpload>(stalled, { kind: 'chunk', chunk: [...chunkPayload(payload, 1024)][0]! });
      const cut = await stalledStatus;
      expect(grpc.status[cut.error.code]).toBe('DEADLINE_EXCEEDED');
      expect(cut.error.details).toMatch(/sent nothing for 1\.5 s while more after 2 messages \(send the step again\) was due/);
      raw.close();

      // the member is still in the run, and its whole upload is taken
      const received = new Uint16Array(trainable);
      const reduced = await client.exchange(header, payload, () => [bytesOf(received), new Uint8Array(stateSize * 4)]);
      expect(reduced).toMatchObject({ step: 0, applied: true, optimizerIteration: 1 });
      expect(Buffer.from(bytesOf(received)).equals(Buffer.from(bytesOf(wire)))).toBe(true);
      expect(program.output).not.toMatch(/run failed|left the run/);
    } finally {
      clearInterval(pinger);
      beats.end();
      client.close();
    }
  });
});
