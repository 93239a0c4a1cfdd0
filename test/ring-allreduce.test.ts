// The ring all-reduce between workers (--allreduce ring), in one process over real gRPC on
// loopback: every worker ends with the same bytes, each segment summed in its fixed order, and a
// peer message that does not fit the plan is refused, naming the field, and never used.

import * as grpc from '@grpc/grpc-js';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http2 from 'node:http2';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeFp16, halfBitsToFloat32, float32ToHalfBits } from '../shared/fp16/codec.js';
import { ownedSegment, ringSegments } from '../shared/ring-plan.js';
import { authMetadata, CHANNEL_OPTIONS, loadPeerService, writeMessage, type RingPeer } from '../shared/wire/index.js';
import type { RingMessage } from '../shared/wire/generated/emotrain/v1/RingMessage.js';
import { MAX_REQUEST_BYTES } from '../shared/wire/index.js';
import type { TlsFiles } from '../worker/coordinator-client.js';
import { ringChunkPrefix } from '../worker/peer-link.js';
import { selfSignedCertificate } from './helpers/certificates.js';
import { sleep } from './helpers/processes.js';
import { PeerServer } from '../worker/peer-server.js';
import { RingAllReduce } from '../worker/ring-allreduce.js';

const TOKEN = 'ring-token';
const RUN = 'ring-run';
const open: Array<{ close(): void | Promise<void> }> = [];

afterEach(async () => {
  for (const thing of open.splice(0)) await thing.close();
});

async function member(rank: number, chunkBytes = 64, idleStreamMs?: number, tls?: TlsFiles): Promise<{ rank: number; server: PeerServer; ring: RingAllReduce; peer: RingPeer }> {
  const server = new PeerServer(TOKEN);
  const port = await server.listen('127.0.0.1:0', tls);
  server.setRun(RUN, idleStreamMs);
  const ring = new RingAllReduce(server, TOKEN, tls, chunkBytes);
  open.push(server, ring);
  return { rank, server, ring, peer: { rank, address: `127.0.0.1:${port}` } };
}

/** A Peer service that takes whatever it is sent (the successor of a worker under test). */
async function sinkPeer(): Promise<string> {
  const server = new grpc.Server(CHANNEL_OPTIONS);
  server.addService(loadPeerService().service, {
    Ring: (call: grpc.ServerReadableStream<unknown, unknown>, callback: grpc.sendUnaryData<object>) => {
      call.on('data', () => undefined);
      call.on('end', () => callback(null, {}));
      call.on('error', () => undefined);
    },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  open.push({ close: () => void server.forceShutdown() });
  return `127.0.0.1:${port}`;
}

/** Gradients of rank r: small values, exactly representable in fp16. */
function gradientsOf(rank: number, n: number): Uint16Array {
  const values = Float32Array.from({ length: n }, (_, i) => (((i * 13 + rank * 7) % 29) - 14) / 16);
  const halves = new Uint16Array(n);
  encodeFp16(values, halves);
  return halves;
}

/** The reduction the plan defines: each segment from its own index upward, a fp16 rounding per hop. */
function expectedSums(world: number, n: number, weights: number[]): Uint16Array {
  const out = new Uint16Array(n);
  const own = Array.from({ length: world }, (_, r) => gradientsOf(r, n));
  for (const segment of ringSegments(n, world)) {
    for (let i = segment.start; i < segment.start + segment.count; i++) {
      let partial = float32ToHalfBits(Math.fround(0 + weights[segment.index]! * halfBitsToFloat32(own[segment.index]![i]!)));
      for (let k = 1; k < world; k++) {
        const r = (segment.index + k) % world;
        partial = float32ToHalfBits(Math.fround(Math.fround(0 + 1 * halfBitsToFloat32(partial)) + weights[r]! * halfBitsToFloat32(own[r]![i]!)));
      }
      out[i] = partial;
    }
  }
  return out;
}

describe('ring all-reduce between workers', () => {
  for (const world of [2, 3, 4]) {
    it(`gives every one of ${world} workers the same bytes: each segment summed in its fixed order`, async () => {
      const n = 103; // segments and chunks of uneven sizes
      const members = await Promise.all(Array.from({ length: world }, (_, r) => member(r)));
      const ring = members.map((m) => m.peer);
      const weights = Array.from({ length: world }, (_, r) => (r + 1) / ((world * (world + 1)) / 2));
      const results = members.map(() => new Uint16Array(n));
      const outcomes = members.map((m, r) =>
        m.ring.run({ runId: RUN, step: 0, generation: 0, rank: m.rank, ring, dtype: 'TENSOR_DTYPE_FLOAT16', own: gradientsOf(r, n), weight: weights[r]!, result: results[r]! }),
      );
      const owned = await Promise.all(outcomes.map((o) => o.owned));
      await Promise.all(outcomes.map((o) => o.done));
      const expected = expectedSums(world, n, weights);
      for (const result of results) expect(Array.from(result)).toEqual(Array.from(expected));
      // each worker owns the segment after its own index
      const segments = ringSegments(n, world);
      owned.forEach((o, r) => expect(o).toEqual({ offset: segments[ownedSegment(r, world)]!.start, count: segments[ownedSegment(r, world)]!.count }));
    });
  }

  it('runs consecutive steps, a faster predecessor already sending the next one', async () => {
    const members = await Promise.all([0, 1, 2].map((r) => member(r)));
    const ring = members.map((m) => m.peer);
    for (const step of [0, 1, 2]) {
      const results = members.map(() => new Uint16Array(40));
      const outcomes = members.map((m, r) => m.ring.run({ runId: RUN, step, generation: 0, rank: m.rank, ring, dtype: 'TENSOR_DTYPE_FLOAT16', own: gradientsOf(r + step, 40), weight: 1 / 3, result: results[r]! }));
      await Promise.all(outcomes.map((o) => o.done));
      expect(Array.from(results[1]!)).toEqual(Array.from(results[0]!));
      expect(Array.from(results[2]!)).toEqual(Array.from(results[0]!));
    }
  });

  it('refuses a peer stream that does not fit the plan, naming the field, and never uses its bytes', async () => {
    const victim = await member(1);
    // rank 0 is played by hand below; what the victim sends goes to a peer that takes anything
    const ring = [{ rank: 0, address: await sinkPeer() }, victim.peer];
    const cases: Array<{ name: string; header?: Partial<Record<string, unknown>>; chunk?: Partial<Record<string, unknown>>; error: RegExp }> = [
      { name: 'another sender', header: { senderRank: 5 }, error: /comes from rank 5; this worker's predecessor is rank 0/ },
      { name: 'another world', header: { worldSize: 3 }, error: /is for a world of 3; the ring has 2/ },
      { name: 'another model', header: { gradientElements: 41 }, error: /carries 41 gradient values; the model has 40/ },
      { name: 'another dtype', header: { dtype: 'TENSOR_DTYPE_FLOAT32' }, error: /is TENSOR_DTYPE_FLOAT32; this run exchanges TENSOR_DTYPE_FLOAT16/ },
      { name: 'a wrong offset', chunk: { offset: 7 }, error: /offset 7, expected 0/ },
      { name: 'a wrong segment', chunk: { segment: 1 }, error: /segment 1, expected 0/ },
      { name: 'a short chunk', chunk: { data: Buffer.alloc(10) }, error: /10 bytes, expected 32/ },
    ];
    let step = 0;
    for (const c of cases) {
      const result = new Uint16Array(40).fill(0x1234);
      const outcome = victim.ring.run({ runId: RUN, step, generation: 0, rank: 1, ring, dtype: 'TENSOR_DTYPE_FLOAT16', own: gradientsOf(1, 40), weight: 0.5, result });
      outcome.done.catch(() => undefined);
      // a hand-made predecessor: rank 0's stream with one thing wrong
      const Peer = loadPeerService().client;
      const client = new Peer(victim.peer.address, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
      const refused = new Promise<grpc.ServiceError | null>((resolve) => {
        const call = client.ring(authMetadata(TOKEN), (error) => resolve(error));
        void (async () => {
          await writeMessage<RingMessage>(call, { kind: 'header', header: { runId: RUN, step, senderRank: 0, worldSize: 2, gradientElements: 40, dtype: 'TENSOR_DTYPE_FLOAT16', ...c.header } });
          await writeMessage<RingMessage>(call, { kind: 'chunk', chunk: { hop: 0, segment: 0, offset: 0, data: Buffer.alloc(32), ...c.chunk } });
          call.end();
        })().catch(() => undefined);
      });
      await expect(outcome.owned, c.name).rejects.toThrow(c.error);
      expect((await refused)?.details, c.name).toMatch(c.error);
      // the victim's own segment was sent on, but nothing it received was used
      expect(Array.from(result.subarray(0, 20)).every((v) => v === 0x1234), c.name).toBe(true);
      client.close();
      step++;
    }
  });

  it('fails the step, naming the peer, when its successor cannot be reached', async () => {
    const lonely = await member(1);
    const ring = [{ rank: 0, address: '127.0.0.1:1' }, lonely.peer];
    const outcome = lonely.ring.run({ runId: RUN, step: 0, generation: 0, rank: 1, ring, dtype: 'TENSOR_DTYPE_FLOAT16', own: gradientsOf(1, 40), weight: 0.5, result: new Uint16Array(40) });
    outcome.owned.catch(() => undefined);
    await expect(outcome.done).rejects.toThrow(/ring stream of step 0 to worker 0 \(127\.0\.0\.1:1\) failed.*UNAVAILABLE/);
  });

  it('refuses a peer without the run token', async () => {
    const victim = await member(1);
    const Peer = loadPeerService().client;
    const client = new Peer(victim.peer.address, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
    const error = await new Promise<grpc.ServiceError | null>((resolve) => {
      const call = client.ring(authMetadata('wrong'), (e) => resolve(e));
      call.end();
    });
    expect(error?.code).toBe(grpc.status.UNAUTHENTICATED);
    client.close();
  });

  it('fails the step at once, naming the peer, when the predecessor goes away mid-stream', async () => {
    const victim = await member(1, 16);
    const ring = [{ rank: 0, address: await sinkPeer() }, victim.peer];
    const outcome = victim.ring.run({ runId: RUN, step: 0, generation: 0, rank: 1, ring, dtype: 'TENSOR_DTYPE_FLOAT16', own: gradientsOf(1, 40), weight: 0.5, result: new Uint16Array(40) });
    outcome.done.catch(() => undefined);
    const Peer = loadPeerService().client;
    const client = new Peer(victim.peer.address, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
    const call = client.ring(authMetadata(TOKEN), () => undefined);
    await writeMessage<RingMessage>(call, { kind: 'header', header: { runId: RUN, step: 0, senderRank: 0, worldSize: 2, gradientElements: 40, dtype: 'TENSOR_DTYPE_FLOAT16' } });
    await writeMessage<RingMessage>(call, { kind: 'chunk', chunk: { hop: 0, segment: 0, offset: 0, data: Buffer.alloc(8) } });
    await sleep(300); // the victim is reading the stream
    // the one chunk that came is final (rank 1 owns segment 0): what may be uploaded so far
    expect(outcome.segment).toEqual({ offset: 0, count: 20 });
    await expect(outcome.finalUpTo(4)).resolves.toBeUndefined();
    const rest = outcome.finalUpTo(5);
    rest.catch(() => undefined);
    const started = Date.now();
    call.cancel();
    const cut = /ring stream from .* was cancelled|worker 0 \(127\.0\.0\.1:\d+\)'s ring stream of step 0 ended \(or was cancelled\) after 1 of \d+ chunks/;
    await expect(rest).rejects.toThrow(cut);
    await expect(outcome.finalUpTo(20)).rejects.toThrow(cut);
    await expect(outcome.owned).rejects.toThrow(cut);
    expect(Date.now() - started).toBeLessThan(3000);
    client.close();
  });

  it('closes a predecessor stream that goes quiet while a chunk or its header is due, failing the step naming the peer', async () => {
    const victim = await member(1, 16, 700);
    const ring = [{ rank: 0, address: await sinkPeer() }, victim.peer];
    const Peer = loadPeerService().client;
    const client = new Peer(victim.peer.address, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
    open.push(client);

    // a stream that sends its header and one chunk, then nothing
    const outcome = victim.ring.run({ runId: RUN, step: 0, generation: 0, rank: 1, ring, dtype: 'TENSOR_DTYPE_FLOAT16', own: gradientsOf(1, 40), weight: 0.5, result: new Uint16Array(40) });
    outcome.done.catch(() => undefined);
    const closed = new Promise<grpc.ServiceError | null>((resolve) => {
      const call = client.ring(authMetadata(TOKEN), (error) => resolve(error));
      void (async () => {
        await writeMessage<RingMessage>(call, { kind: 'header', header: { runId: RUN, step: 0, senderRank: 0, worldSize: 2, gradientElements: 40, dtype: 'TENSOR_DTYPE_FLOAT16' } });
        await writeMessage<RingMessage>(call, { kind: 'chunk', chunk: { hop: 0, segment: 0, offset: 0, data: Buffer.alloc(8) } });
      })().catch(() => undefined);
    });
    const started = Date.now();
    await expect(outcome.owned).rejects.toThrow(/the ring stream from .* sent nothing for 0\.7 s while chunk 2 of step 0 was due; it is closed/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(600);
    expect(Date.now() - started).toBeLessThan(5000);
    const error = await closed;
    expect(error?.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(error?.details).toMatch(/sent nothing for 0\.7 s while chunk 2 of step 0 was due/);

    // a stream that never sends its header
    const silent = await new Promise<grpc.ServiceError | null>((resolve) => client.ring(authMetadata(TOKEN), (e) => resolve(e)));
    expect(silent?.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(silent?.details).toMatch(/sent nothing for 0\.7 s while its header was due/);
  });

  it('does not count the time a stream waits to be taken as its silence', async () => {
    const victim = await member(1, 80, 500); // 20 values a chunk: one chunk per segment and hop
    const ring = [{ rank: 0, address: await sinkPeer() }, victim.peer];
    const Peer = loadPeerService().client;
    const client = new Peer(victim.peer.address, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
    open.push(client);
    // the predecessor sends step 0 at once; this worker takes it only 1.2 s later
    const answered = new Promise<grpc.ServiceError | null>((resolve) => {
      const call = client.ring(authMetadata(TOKEN), (error) => resolve(error));
      void (async () => {
        await writeMessage<RingMessage>(call, { kind: 'header', header: { runId: RUN, step: 0, senderRank: 0, worldSize: 2, gradientElements: 40, dtype: 'TENSOR_DTYPE_FLOAT16' } });
        for (const [hop, segment, offset] of [[0, 0, 0], [1, 1, 20]] as const) {
          await writeMessage<RingMessage>(call, { kind: 'chunk', chunk: { hop, segment, offset, data: Buffer.from(gradientsOf(0, 40).buffer, offset * 2, 40) } });
        }
        call.end();
      })().catch(() => undefined);
    });
    await sleep(1200);
    const outcome = victim.ring.run({ runId: RUN, step: 0, generation: 0, rank: 1, ring, dtype: 'TENSOR_DTYPE_FLOAT16', own: gradientsOf(1, 40), weight: 0.5, result: new Uint16Array(40) });
    await expect(outcome.done).resolves.toBeUndefined();
    expect(await answered).toBeNull();
  });
});

/** A self-signed certificate for 127.0.0.1: each worker's own, and the CA peers check it with. */
function selfSigned(): TlsFiles {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ring-tls-'));
  try {
    const { cert, key } = selfSignedCertificate(dir, 'IP:127.0.0.1', 'worker');
    return { ca: readFileSync(cert), cert: readFileSync(cert), key: readFileSync(key) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('the peer link on the wire', () => {
  it('encodes a chunk message exactly as protobuf does, the data bytes following the prefix', () => {
    const serialize = loadPeerService().service.Ring.requestSerialize;
    for (const [hop, segment, offset, bytes] of [[0, 0, 0, 0], [1, 2, 300, 16], [5, 3, 23_797_767, 2 * 1024 * 1024], [0, 0, 2 ** 40 + 3, 200]] as const) {
      const data = Buffer.alloc(bytes, 0xab);
      const ours = Buffer.concat([ringChunkPrefix(hop, segment, offset, bytes), data]);
      const decoded = loadPeerService().service.Ring.requestDeserialize(ours) as unknown as RingMessage;
      expect(decoded).toMatchObject({ kind: 'chunk', chunk: { hop, segment, offset } });
      expect(Buffer.compare((decoded as unknown as { chunk: { data: Buffer } }).chunk.data, data)).toBe(0);
      // protobuf leaves zero fields out; with every field non-zero the bytes are the same
      if (hop && segment && offset && bytes) expect(Buffer.compare(ours, serialize({ kind: 'chunk', chunk: { hop, segment, offset, data } }))).toBe(0);
    }
  });

  it('refuses a message longer than a request may be from its length prefix, before buffering it', async () => {
    const victim = await member(1);
    const session = http2.connect(`http://${victim.peer.address}`);
    open.push({ close: () => void session.destroy() });
    const stream = session.request({ ':method': 'POST', ':path': '/emotrain.v1.Peer/Ring', 'content-type': 'application/grpc', authorization: `Bearer ${TOKEN}` });
    const prefix = Buffer.alloc(5);
    prefix.writeUInt32BE(MAX_REQUEST_BYTES + 1, 1);
    stream.write(prefix);
    const headers = await new Promise<http2.IncomingHttpHeaders>((resolve) => stream.once('response', resolve));
    expect(headers['grpc-status']).toBe(String(grpc.status.INVALID_ARGUMENT));
    expect(decodeURIComponent(String(headers['grpc-message']))).toMatch(new RegExp(`a message of ${MAX_REQUEST_BYTES + 1} bytes; at most ${MAX_REQUEST_BYTES} are accepted`));
  });

  it('refuses any other call on the peer port, and a call that is not gRPC', async () => {
    const victim = await member(1);
    const session = http2.connect(`http://${victim.peer.address}`);
    open.push({ close: () => void session.destroy() });
    const answer = async (headers: http2.OutgoingHttpHeaders) => {
      const stream = session.request(headers);
      stream.end();
      const got = await new Promise<http2.IncomingHttpHeaders>((resolve) => stream.once('response', resolve));
      return { status: got['grpc-status'], message: decodeURIComponent(String(got['grpc-message'])) };
    };
    const token = `Bearer ${TOKEN}`;
    expect(await answer({ ':method': 'POST', ':path': '/emotrain.v1.Trainer/Join', 'content-type': 'application/grpc', authorization: token })).toMatchObject({ status: String(grpc.status.INVALID_ARGUMENT), message: expect.stringMatching(/serves only POST \/emotrain\.v1\.Peer\/Ring, not POST \/emotrain\.v1\.Trainer\/Join/) });
    expect(await answer({ ':method': 'POST', ':path': '/emotrain.v1.Peer/Ring', 'content-type': 'text/plain', authorization: token })).toMatchObject({ status: String(grpc.status.INVALID_ARGUMENT), message: expect.stringMatching(/content-type "text\/plain" is not gRPC/) });
    expect(await answer({ ':method': 'POST', ':path': '/emotrain.v1.Peer/Ring', 'content-type': 'application/grpc' })).toMatchObject({ status: String(grpc.status.UNAUTHENTICATED), message: expect.stringMatching(/no token given/) });
  });

  it('runs the ring over TLS when workers have certificates, and a plaintext peer cannot talk to it', async () => {
    const tls = selfSigned();
    const members = await Promise.all([0, 1, 2].map((r) => member(r, 64, undefined, tls)));
    const ring = members.map((m) => m.peer);
    const results = members.map(() => new Uint16Array(50));
    const weights = [0.25, 0.25, 0.5];
    const outcomes = members.map((m, r) => m.ring.run({ runId: RUN, step: 0, generation: 0, rank: m.rank, ring, dtype: 'TENSOR_DTYPE_FLOAT16', own: gradientsOf(r, 50), weight: weights[r]!, result: results[r]! }));
    await Promise.all(outcomes.map((o) => o.done));
    const expected = Array.from(expectedSums(3, 50, weights));
    for (const result of results) expect(Array.from(result)).toEqual(expected);

    const Peer = loadPeerService().client;
    const plain = new Peer(members[0]!.peer.address, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
    open.push(plain);
    const error = await new Promise<grpc.ServiceError | null>((resolve) => plain.ring(authMetadata(TOKEN), { deadline: Date.now() + 3000 }, (e) => resolve(e)).end());
    expect(error?.code).toBeOneOf([grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED]);
  });
});
