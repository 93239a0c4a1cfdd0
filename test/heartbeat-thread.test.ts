// The worker's heartbeat thread (worker/heartbeat-thread.ts; the thread itself runs from dist)
// against a real gRPC server: when the coordinator ends its heartbeat stream (closed as idle,
// a network blip), the thread opens a new one at once and its pings go on, so the worker is not
// lost for a stream the coordinator itself closed.

import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { HeartbeatThread } from '../worker/heartbeat.js';
import { loadTrainerService } from '../shared/wire/index.js';
import { sleep } from './helpers/processes.js';

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

describe('the heartbeat thread', () => {
  it('opens a new stream when the coordinator ends one with an error, and keeps pinging on it', async () => {
    const pings: number[] = [];
    const server = new grpc.Server();
    server.addService(loadTrainerService().service, {
      Heartbeat: (call: grpc.ServerReadableStream<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
        const index = pings.push(0) - 1;
        call.on('data', () => {
          pings[index]! += 1;
          // the first stream is closed after its first ping, as an idle stream is
          if (index === 0) callback({ code: grpc.status.DEADLINE_EXCEEDED, details: 'closed as idle' });
        });
        call.on('error', () => undefined);
      },
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
    );
    closers.push(async () => server.forceShutdown());
    const thread = new HeartbeatThread({ address: `127.0.0.1:${port}`, token: 'T', runId: 'r', workerId: 'w', intervalMs: 100 });
    closers.push(() => thread.stop());
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && !(pings.length >= 2 && pings[1]! >= 3)) await sleep(50);
    expect(pings.length).toBeGreaterThanOrEqual(2);
    expect(pings[1]).toBeGreaterThanOrEqual(3);
  });
});
