// The bounded read-and-discard that lets a client finish sending a refused upload: it resolves true
// once the body has ended, and false at its byte or time bound or when the client goes away,
// always on a real node:http server and client.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { discardBody } from '../app/serve/discard-body.js';

let server: http.Server | undefined;
afterEach(() => server?.close());

/** Starts a server that discards each body within the given bounds and records what discardBody said and how long it took. */
async function serve(limitBytes: number, limitMs: number): Promise<{ port: number; outcomes: Array<Promise<{ ended: boolean; ms: number }>> }> {
  const outcomes: Array<Promise<{ ended: boolean; ms: number }>> = [];
  server = http.createServer((request, response) => {
    const start = performance.now();
    const outcome = discardBody(request, limitBytes, limitMs).then((ended) => ({ ended, ms: performance.now() - start }));
    outcomes.push(outcome);
    void outcome.then(() => response.writeHead(413, { connection: 'close' }).end('refused'));
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, outcomes };
}

function upload(port: number, parts: Buffer[], gapMs: number): http.ClientRequest {
  const request = http.request({ port, host: '127.0.0.1', method: 'POST', agent: false, headers: { 'content-type': 'image/jpeg' } });
  request.on('error', () => {});
  let i = 0;
  const next = (): void => {
    if (i < parts.length) request.write(parts[i++]!, () => setTimeout(next, gapMs));
    else request.end();
  };
  next();
  return request;
}

/** A request that declares 1000 bytes, sends 10 and then nothing more. */
function stalledUpload(port: number): http.ClientRequest {
  const request = http.request({ port, host: '127.0.0.1', method: 'POST', agent: false, headers: { 'content-length': 1000 } });
  request.on('error', () => {});
  request.write(Buffer.alloc(10));
  return request;
}

describe('discardBody', () => {
  it('reads a whole body sent in pieces and says it ended', async () => {
    const { port, outcomes } = await serve(1_000_000, 5_000);
    const request = upload(port, Array.from({ length: 5 }, () => Buffer.alloc(100_000, 7)), 20);
    const status = await new Promise<number>((resolve) => request.on('response', (r) => resolve(r.statusCode!)));
    expect(status).toBe(413);
    expect((await outcomes[0]!).ended).toBe(true);
  });

  it('stops at its byte bound', async () => {
    const { port, outcomes } = await serve(150_000, 5_000);
    upload(port, Array.from({ length: 10 }, () => Buffer.alloc(100_000, 7)), 20);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const outcome = await outcomes[0]!;
    expect(outcome.ended).toBe(false);
    expect(outcome.ms).toBeLessThan(2_000);
  });

  it('stops at its time bound when the client stops sending', async () => {
    const { port, outcomes } = await serve(1_000_000, 300);
    const request = stalledUpload(port);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const outcome = await outcomes[0]!;
    expect(outcome.ended).toBe(false);
    expect(outcome.ms).toBeGreaterThanOrEqual(290);
    expect(outcome.ms).toBeLessThan(3_000);
    request.destroy();
  });

  it('says false when the client goes away', async () => {
    const { port, outcomes } = await serve(1_000_000, 10_000);
    const request = stalledUpload(port);
    await new Promise((resolve) => setTimeout(resolve, 100));
    request.destroy();
    const outcome = await outcomes[0]!;
    expect(outcome.ended).toBe(false);
    expect(outcome.ms).toBeLessThan(5_000);
  });
});
