// The coordinator's one port (coordinator/coordinator-port.ts): a connection goes to the
// node:http2 exchange server only when its first SETTINGS frame carries the worker's mark, to
// grpc-js otherwise, with every byte it sent put back; a connection that sends nothing is closed.
// The first bytes tested are what real clients send (the worker's exchange link, node:http2
// without the mark, grpc-js), captured here. Over the port, a marked connection serves Exchange alone and only to
// the token's holder.

import * as grpc from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { connectionKind, CoordinatorPort, type ConnectionKind } from '../coordinator/coordinator-port.js';
import { TrainerServer } from '../coordinator/trainer-service.js';
import { EXCHANGE_CONNECTION_SETTING, EXCHANGE_PATH, statusFrom } from '../shared/wire/http2-grpc.js';
import { CHANNEL_OPTIONS, loadTrainerService, PROTOCOL_VERSION, authMetadata } from '../shared/wire/index.js';
import { ExchangeLink } from '../worker/exchange-link.js';
import { grpcSession } from '../worker/peer-link.js';
import { selfSignedCertificate } from './helpers/certificates.js';
import { inProcessRun } from './helpers/in-process-run.js';
import { cleanUp, tempDir } from './helpers/processes.js';

const closers: Array<() => unknown> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  cleanUp();
});

/** The first bytes a client sends, as a plain TCP server receives them: its preface and first frame, whole. */
async function firstBytes(connect: (port: number) => { close(): void }): Promise<Buffer> {
  let resolveBytes!: (b: Buffer) => void;
  const received = new Promise<Buffer>((resolve) => (resolveBytes = resolve));
  const server = net.createServer((socket) => {
    let got = Buffer.alloc(0);
    socket.on('data', (piece: Buffer) => {
      got = Buffer.concat([got, piece]);
      if (got.length >= 24 + 9 && got.length >= 24 + 9 + got.readUIntBE(24, 3)) {
        resolveBytes(got.subarray(0, 24 + 9 + got.readUIntBE(24, 3)));
        socket.destroy();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const client = connect((server.address() as net.AddressInfo).port);
  const bytes = await received;
  client.close();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return bytes;
}

/** The worker's own exchange connection, as it opens its first call. */
const exchangeLink = (port: number) => {
  const link = new ExchangeLink(`127.0.0.1:${port}`, 'a-token', undefined);
  link.open().on('error', () => undefined);
  return link;
};
const unmarked = (port: number) => {
  const session = grpcSession(`127.0.0.1:${port}`, undefined, () => undefined);
  session.on('error', () => undefined);
  return { close: () => session.destroy() };
};
const grpcJs = (port: number) => {
  const Trainer = loadTrainerService().client;
  const client = new Trainer(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
  client.waitForReady(Date.now() + 5000, () => undefined);
  return { close: () => client.close() };
};

describe('the coordinator port', () => {
  it("tells a worker's exchange connection from every other by its first SETTINGS frame", async () => {
    const whole = await firstBytes(exchangeLink);
    expect(connectionKind(whole)).toBe('exchange');
    // every shorter prefix asks for more
    for (let n = 0; n < whole.length; n++) expect(connectionKind(whole.subarray(0, n)), `first ${n} bytes`).toBeUndefined();

    expect(connectionKind(await firstBytes(unmarked))).toBe('grpc');
    expect(connectionKind(await firstBytes(grpcJs))).toBe('grpc');

    // the mark with another value, the mark in a frame that is not SETTINGS, a stream id, not HTTP/2 at all
    const withValue = (value: number) => {
      const copy = Buffer.from(whole);
      for (let at = 33; at < copy.length; at += 6) if (copy.readUInt16BE(at) === EXCHANGE_CONNECTION_SETTING) copy.writeUInt32BE(value, at + 2);
      return copy;
    };
    expect(connectionKind(withValue(0))).toBe('grpc');
    expect(connectionKind(withValue(2))).toBe('grpc');
    const notSettings = Buffer.from(whole);
    notSettings[24 + 3] = 0x8;
    expect(connectionKind(notSettings)).toBe('grpc');
    const onAStream = Buffer.from(whole);
    onAStream.writeUInt32BE(1, 24 + 5);
    expect(connectionKind(onAStream)).toBe('grpc');
    expect(connectionKind(Buffer.from('GET / HTTP/1.1\r\n'))).toBe('grpc');
    expect(connectionKind(Buffer.from('P'))).toBeUndefined();
  });

  it('hands each connection over with the bytes it sent, over TLS too, and closes one that sends nothing', async () => {
    const files = selfSignedCertificate(tempDir('port-tls'));
    for (const secure of [false, true]) {
      const routed: Array<{ kind: ConnectionKind; connection: Duplex }> = [];
      const exchange = http2.createServer();
      exchange.on('stream', (stream, headers) => {
        stream.respond({ ':status': 200 });
        stream.end(`exchange ${String(headers[':path'])}`);
      });
      const others = http2.createServer();
      others.on('stream', (stream, headers) => {
        stream.respond({ ':status': 200 });
        stream.end(`others ${String(headers[':path'])}`);
      });
      const port = new CoordinatorPort((kind, connection) => {
        routed.push({ kind, connection });
        (kind === 'exchange' ? exchange : others).emit('connection', connection);
      }, 300);
      const bound = await port.listen('127.0.0.1', 0, secure ? { cert: readFileSync(files.cert), key: readFileSync(files.key) } : undefined);
      closers.push(() => port.close());
      const address = `127.0.0.1:${bound}`;
      const tlsFiles = secure ? { ca: readFileSync(files.cert) } : undefined;
      for (const mark of [true, false]) {
        const session = grpcSession(address, tlsFiles, () => undefined, mark ? { [EXCHANGE_CONNECTION_SETTING]: 1 } : undefined);
        const request = session.request({ ':method': 'POST', ':path': '/a/path' });
        let body = '';
        request.on('data', (piece: Buffer) => (body += piece.toString()));
        await new Promise((resolve) => request.on('end', resolve));
        expect(body, `secure ${secure}, marked ${mark}`).toBe(`${mark ? 'exchange' : 'others'} /a/path`);
        session.destroy();
      }
      expect(routed.map((r) => r.kind)).toEqual(['exchange', 'grpc']);
      for (const { connection } of routed) connection.destroy();

      // a connection that sends nothing is closed once the preface is overdue, handed to nobody
      const silent = secure ? tls.connect({ port: bound, host: '127.0.0.1', ca: readFileSync(files.cert), ALPNProtocols: ['h2'] }) : net.connect(bound, '127.0.0.1');
      silent.on('error', () => undefined);
      const started = Date.now();
      await new Promise((resolve) => silent.on('close', resolve));
      expect(Date.now() - started).toBeLessThan(5000);
      expect(routed).toHaveLength(2);
    }
  });

  it('serves a marked connection Exchange alone, and only with the token', async () => {
    const run = await inProcessRun({ workers: 1, epochs: 1 });
    const server = new TrainerServer(run.session, 'the-token', { idleStreamMs: 5000 });
    const port = await server.listen('127.0.0.1:0');
    closers.push(() => server.close(100));
    const session = grpcSession(`127.0.0.1:${port}`, undefined, () => undefined, { [EXCHANGE_CONNECTION_SETTING]: 1 });
    closers.push(() => session.destroy());
    const statusOf = async (path: string, token: string) => {
      const stream = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc+proto', te: 'trailers', authorization: `Bearer ${token}` });
      stream.on('error', () => undefined);
      stream.on('data', () => undefined);
      const headers = await new Promise<Record<string, string | string[] | undefined>>((resolve) => stream.on('response', resolve));
      return statusFrom(headers);
    };
    const wrongPath = await statusOf('/emotrain.v1.Trainer/Join', 'the-token');
    expect(wrongPath?.details).toMatch(/a connection marked for the exchange serves only POST \/emotrain\.v1\.Trainer\/Exchange, not POST \/emotrain\.v1\.Trainer\/Join/);
    const stranger = await statusOf(EXCHANGE_PATH, 'not-the-token');
    expect(stranger?.code).toBe(grpc.status.UNAUTHENTICATED);

    // the port's other calls still go to grpc-js: a join with the token is answered there
    const Trainer = loadTrainerService().client;
    const client = new Trainer(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
    closers.push(() => client.close());
    const refused = await new Promise<grpc.ServiceError | null>((resolve) =>
      client.join({ protocolVersion: PROTOCOL_VERSION, host: 'x', gpu: -1, pid: 1, backend: 'cpu', requestedRank: -1, localData: false, peerAddress: '' }, authMetadata('not-the-token'), (error) => resolve(error)),
    );
    expect(refused?.code).toBe(grpc.status.UNAUTHENTICATED);
    run.trainer.stopWorkers('the test is over');
  });
});
