// A worker whose upload the coordinator dropped half-sent — it went quiet past
// --stream-idle-timeout (STREAM_IDLE) or its stream ended short (UPLOAD_INCOMPLETE) — sends the
// whole step again instead of leaving the run; any other refusal is the worker's to fail on.
// A real gRPC server stands in for the coordinator's Exchange.

import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { EmotrainError, type ErrorCode } from '../shared/errors.js';
import {
  SERVER_OPTIONS, bytesOf, chunkPayload, loadTrainerService, serviceError,
  type ExchangeDownload, type GradientHeader, type ReducedHeader,
} from '../shared/wire/index.js';
import { CoordinatorClient } from '../worker/coordinator-client.js';

const ELEMENTS = 3000;
let server: grpc.Server | undefined;

afterEach(() => {
  server?.forceShutdown();
  server = undefined;
});

/** A server whose Exchange refuses its first `refusals` calls with `code`, then echoes the upload back with a verdict. */
async function fakeCoordinator(code: ErrorCode, refusals: number, elements = ELEMENTS): Promise<{ address: string; calls: () => number }> {
  let calls = 0;
  server = new grpc.Server(SERVER_OPTIONS);
  const exchange = (call: grpc.ServerDuplexStream<{ kind: string; header?: GradientHeader; chunk?: { offset: number; data: Buffer } }, ExchangeDownload>) => {
    const attempt = ++calls;
    let header: GradientHeader | undefined;
    const received: Buffer[] = [];
    call.on('data', (message) => {
      if (message.header) header = message.header;
      if (message.chunk) received.push(Buffer.from(message.chunk.data));
      if (attempt <= refusals && received.length === 1) call.emit('error', serviceError(new EmotrainError(code, `the test refuses attempt ${attempt}`)));
    });
    call.on('end', () => {
      if (attempt <= refusals) return;
      for (const chunk of chunkPayload([new Uint8Array(Buffer.concat(received))], elements > ELEMENTS ? 2 * 1024 * 1024 : 1024)) call.write({ kind: 'chunk', chunk });
      const verdict: ReducedHeader = {
        step: header!.step, applied: true, skipReason: '', lossScale: header!.lossScale, dtype: header!.dtype, gradientElements: elements, stateElements: 0,
        learningRate: 0.001, optimizerIteration: 1, nextLossScale: header!.lossScale,
      };
      call.write({ kind: 'header', header: verdict });
      call.end();
    });
  };
  const unused = () => undefined;
  server.addService(loadTrainerService().service, { Join: unused, Commands: unused, Heartbeat: unused, FetchState: unused, Report: unused, Exchange: exchange } as never);
  const port = await new Promise<number>((resolve, reject) => server!.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  return { address: `127.0.0.1:${port}`, calls: () => calls };
}

function upload(client: CoordinatorClient, elements = ELEMENTS) {
  const gradients = Uint16Array.from({ length: elements }, (_, i) => i);
  const header: GradientHeader = {
    runId: 'r', workerId: 'w', step: 4, generation: 0, lossScale: 1024, dtype: 'TENSOR_DTYPE_FLOAT16', gradientElements: elements, stateElements: 0,
    shardSize: 8, lossSum: 8, correct: 1, regularizationLoss: 0, nonFinite: 0, segmentOffset: 0, segmentElements: 0,
    timings: { dataSeconds: 0, computeSeconds: 0, exchangeSeconds: 0, applySeconds: 0, totalSeconds: 0 },
  };
  const received = new Uint16Array(elements);
  return { result: client.exchange(header, [bytesOf(gradients)], () => [bytesOf(received)]), gradients, received };
}

describe('a worker whose upload was dropped half-sent', () => {
  it.each(['STREAM_IDLE', 'UPLOAD_INCOMPLETE'] as const)('sends the step again after %s and takes the verdict of the whole upload', async (code) => {
    const fake = await fakeCoordinator(code, 2);
    const client = new CoordinatorClient(fake.address, 'token');
    const { result, gradients, received } = upload(client);
    await expect(result).resolves.toMatchObject({ step: 4, applied: true });
    expect(fake.calls()).toBe(3);
    expect(Buffer.from(bytesOf(received)).equals(Buffer.from(bytesOf(gradients)))).toBe(true);
    client.close();
  });

  it('sends a 64 MiB upload again when the coordinator restarts the step after its first chunk, instead of waiting for a drain that never comes', async () => {
    const elements = 32 * 1024 * 1024; // 32 chunks of 2 MiB in fp16
    const fake = await fakeCoordinator('STEP_RESTARTED', 1, elements);
    const client = new CoordinatorClient(fake.address, 'token');
    const { result, gradients, received } = upload(client, elements);
    await expect(result).resolves.toMatchObject({ step: 4, applied: true });
    expect(fake.calls()).toBe(2);
    expect(Buffer.from(bytesOf(received)).equals(Buffer.from(bytesOf(gradients)))).toBe(true);
    client.close();
  }, 30_000);

  it('fails on any other refusal, at the first', async () => {
    const fake = await fakeCoordinator('PROTOCOL_INVALID', 1);
    const client = new CoordinatorClient(fake.address, 'token');
    await expect(upload(client).result).rejects.toMatchObject({ code: 'PROTOCOL_INVALID' });
    expect(fake.calls()).toBe(1);
    client.close();
  });
});
