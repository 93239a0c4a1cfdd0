// The coordinator's node:http2 exchange server keeps a paused call's chunk intact: the reducer holds
// a chunk that waits for slower workers by reference (no copy), so pausing the call from within its
// 'data' handler must stop the message reader before it hands over (or assembles, in the same
// buffer) the next message, and the end of the upload must wait until what waited is handed over.

import http2 from 'node:http2';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ExchangeServer } from '../coordinator/exchange-server.js';
import { TokenCheck } from '../shared/wire/auth.js';
import { chunkedMessageParts, EXCHANGE_PATH, writeGrpcMessage } from '../shared/wire/http2-grpc.js';
import { loadTrainerService } from '../shared/wire/index.js';

interface Call {
  on(event: 'data', listener: (message: { kind: string; chunk?: { offset: number | string; data: Uint8Array } }) => void): void;
  on(event: 'end' | 'cancelled', listener: () => void): void;
  pause(): void;
  resume(): void;
  end(): void;
}

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A message of `bytes` bytes, each byte (index + seed) mod 251: large enough to span DATA frames, so the reader assembles it in its buffer. */
function pattern(bytes: number, seed: number): Buffer {
  const data = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) data[i] = (i + seed) % 251;
  return data;
}

describe('exchange server, a paused call', () => {
  it('hands over nothing more and leaves the held chunk intact until resumed, then the rest and the end, in order', async () => {
    const seen: Array<{ offset: number; intact: boolean }> = [];
    let held: Uint8Array | undefined;
    let ended = false;
    let call: Call | undefined;
    let sent: Buffer[] = [];
    const handler = (opened: Call) => {
      call = opened;
      opened.on('data', (message) => {
        const chunk = message.chunk!;
        seen.push({ offset: Number(chunk.offset), intact: Buffer.from(chunk.data).equals(sent[seen.length]!) });
        if (seen.length === 1) {
          held = chunk.data;
          opened.pause();
        }
      });
      opened.on('end', () => {
        ended = true;
      });
    };
    const exchange = new ExchangeServer(handler as never, new TokenCheck('secret'));
    const port = net.createServer((socket) => exchange.accept(socket));
    await new Promise<void>((resolve) => port.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => {
      exchange.close();
      port.close();
    });
    const client = http2.connect(`http://127.0.0.1:${(port.address() as net.AddressInfo).port}`);
    cleanups.push(() => client.destroy());
    const stream = client.request({ ':method': 'POST', ':path': EXCHANGE_PATH, 'content-type': 'application/grpc+proto', te: 'trailers', authorization: 'Bearer secret' });
    stream.on('error', () => undefined);

    const sizes = [600_000, 500_002, 300_000];
    sent = sizes.map((size, i) => pattern(size, i * 7));
    const serialize = loadTrainerService().service.Exchange.requestSerialize;
    let offset = 0;
    for (const data of sent) {
      writeGrpcMessage(stream, chunkedMessageParts({ kind: 'chunk', chunk: { offset, data } } as never, serialize));
      offset += data.byteLength;
    }
    stream.end();

    // Everything has been sent (it fits the stream's window); paused, nothing more comes.
    await sleep(400);
    expect(seen).toEqual([{ offset: 0, intact: true }]);
    expect(ended).toBe(false);
    expect(Buffer.from(held!).equals(sent[0]!)).toBe(true);

    call!.resume();
    for (let i = 0; i < 200 && !ended; i++) await sleep(10);
    expect(seen).toEqual([
      { offset: 0, intact: true },
      { offset: 600_000, intact: true },
      { offset: 1_100_002, intact: true },
    ]);
    expect(ended).toBe(true);
    call!.end();
  });
});
