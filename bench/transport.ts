// npm run bench:transport — what moving gradient bytes costs in CPU, per MiB, at each end of one
// loopback connection: through gRPC on node:http2 as the product's bulk links do it (the peer
// links' settings and windows, 2 MiB chunks behind gRPC's length prefix, read back through the
// MessageReader the coordinator and the peer port use), and through a bare TCP socket read into
// one reused buffer, the cheapest way Node moves bytes, which is what gloo's transport amounts
// to. An exchange is bounded below by this cost times its bytes: on a machine with fewer cores
// than processes, that sum is the exchange's floor (README, bench:exchange).
//
//   npm run bench:transport [-- --megabytes 400] [--repeat 3] [--json]
//
// Prints per transport the median over the repeats of the receiver's and the sender's CPU
// milliseconds per MiB (user + system, first byte to last), MiB/s, and the size of the pieces the
// receiver was handed most often (for HTTP/2: its DATA frames as Node delivers them).

import { fork } from 'node:child_process';
import http2 from 'node:http2';
import net from 'node:net';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { GRPC_SERVER_HTTP2_OPTIONS, MessageReader, PEER_SESSION_WINDOW_BYTES, writeGrpcMessage } from '../shared/wire/http2-grpc.js';
import { CHUNK_BYTES } from '../shared/wire/index.js';
import { grpcSession } from '../worker/peer-link.js';
import { loadAverage, median, option } from './options.js';

const MIB = 1024 * 1024;
const TRANSPORTS = ['grpc-http2', 'tcp'] as const;
type Transport = (typeof TRANSPORTS)[number];

/** What one end reports to the bench: its CPU seconds and, for the receiver, what it was handed. */
interface EndReport {
  cpuSeconds: number;
  wallSeconds: number;
  bytes: number;
  /** Piece size → count, the receiver's. */
  pieces?: Array<[number, number]>;
  /** gRPC messages the receiver's MessageReader handed over (HTTP/2 only). */
  messages?: number;
}

export interface TransportMeasurement {
  transport: Transport;
  megabytes: number;
  receiverMsPerMiB: number;
  senderMsPerMiB: number;
  mibPerSecond: number;
  /** The piece size the receiver was handed most often, in bytes. */
  commonPieceBytes: number;
  loadAverage: string;
}

function positiveInteger(name: string, fallback: string): number {
  const value = Number(option(name, fallback));
  if (!Number.isInteger(value) || value <= 0) throw new Error(`--${name} ${option(name, fallback)}: expected a positive whole number`);
  return value;
}

const cpuSeconds = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
};

/** Counts what the receiver is handed; the clock starts at the first piece. */
class Tally {
  bytes = 0;
  private readonly sizes = new Map<number, number>();
  private startCpu = 0;
  private startWall = 0;

  constructor(private readonly total: number) {}

  take(size: number): boolean {
    if (this.bytes === 0) {
      this.startCpu = cpuSeconds();
      this.startWall = performance.now();
    }
    this.bytes += size;
    this.sizes.set(size, (this.sizes.get(size) ?? 0) + 1);
    return this.bytes >= this.total;
  }

  report(): EndReport {
    return { cpuSeconds: cpuSeconds() - this.startCpu, wallSeconds: (performance.now() - this.startWall) / 1000, bytes: this.bytes, pieces: [...this.sizes].sort((a, b) => b[1] - a[1]).slice(0, 4) };
  }
}

/** The receiving end: listens, tells the bench its port, reports once every byte is in. */
function receive(transport: Transport, total: number): void {
  const tally = new Tally(total);
  let messages = 0;
  const done = () => process.send!({ kind: 'report', report: { ...tally.report(), ...(transport === 'grpc-http2' ? { messages } : {}) } });
  if (transport === 'grpc-http2') {
    const server = http2.createServer(GRPC_SERVER_HTTP2_OPTIONS);
    server.on('session', (session) => session.once('connect', () => session.setLocalWindowSize(PEER_SESSION_WINDOW_BYTES)));
    server.on('stream', (stream) => {
      const reader = new MessageReader(CHUNK_BYTES + 64, 'the bench stream', () => messages++);
      stream.on('data', (data: Buffer) => {
        tally.take(data.length);
        reader.push(data);
      });
      stream.on('end', () => {
        done();
        stream.respond({ ':status': 200, 'content-type': 'application/grpc+proto' }, { waitForTrailers: true });
        stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
        stream.end();
      });
    });
    server.listen(0, '127.0.0.1', () => process.send!({ kind: 'port', port: (server.address() as net.AddressInfo).port }));
    return;
  }
  // Node 20 takes onread only on a socket it connects, so for TCP the receiver is the end that
  // connects: to the sender's port, which the bench passes on.
  process.on('message', (message: { kind: string; port?: number }) => {
    if (message.kind !== 'connect') return;
    net.connect({
      port: message.port!,
      host: '127.0.0.1',
      // Every read lands in this one buffer, handed over without an allocation.
      onread: {
        buffer: Buffer.allocUnsafe(CHUNK_BYTES),
        callback: (bytes) => {
          if (tally.take(bytes)) done();
          return true;
        },
      },
    });
  });
  process.send!({ kind: 'port', port: 0 });
}

/** The sending end: writes `total` bytes in CHUNK_BYTES pieces as fast as the connection takes them. */
async function send(transport: Transport, total: number, port: number): Promise<void> {
  const data = Buffer.alloc(CHUNK_BYTES, 7);
  const chunks = Math.ceil(total / CHUNK_BYTES);
  const start = { cpu: cpuSeconds(), wall: performance.now() };
  const report = (): EndReport => ({ cpuSeconds: cpuSeconds() - start.cpu, wallSeconds: (performance.now() - start.wall) / 1000, bytes: chunks * CHUNK_BYTES });
  if (transport === 'grpc-http2') {
    // The connection a ring link or the exchange opens: the peer links' settings and windows.
    const session = grpcSession(`127.0.0.1:${port}`, undefined, () => undefined);
    const stream = session.request({ ':method': 'POST', ':path': '/bench', 'content-type': 'application/grpc+proto', te: 'trailers' });
    // The prefix counts in the receiver's bytes: send whole messages of CHUNK_BYTES - 5.
    const body = data.subarray(0, CHUNK_BYTES - 5);
    for (let i = 0; i < chunks; i++) {
      if (!writeGrpcMessage(stream, [body])) await new Promise((resolve) => stream.once('drain', resolve));
    }
    stream.end();
    stream.resume();
    await new Promise<void>((resolve, reject) => {
      stream.once('close', resolve);
      stream.once('error', reject);
    });
    session.close();
    process.send!({ kind: 'report', report: report() });
    return;
  }
  const server = net.createServer(async (socket) => {
    for (let i = 0; i < chunks; i++) {
      if (!socket.write(data)) await new Promise((resolve) => socket.once('drain', resolve));
    }
    socket.end(() => process.send!({ kind: 'report', report: report() }));
    server.close();
  });
  server.listen(0, '127.0.0.1', () => process.send!({ kind: 'port', port: (server.address() as net.AddressInfo).port }));
}

function child(args: string[]): ReturnType<typeof fork> {
  return fork(fileURLToPath(import.meta.url), args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
}

function next<T>(process: ReturnType<typeof fork>, kind: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: { kind: string } & T) => {
      if (message.kind !== kind) return;
      process.off('message', onMessage);
      resolve(message);
    };
    process.on('message', onMessage);
    process.once('exit', (code) => reject(new Error(`a bench:transport end exited (code ${code}) before its ${kind}`)));
  });
}

async function measureOnce(transport: Transport, total: number): Promise<{ receiver: EndReport; sender: EndReport }> {
  const receiver = child(['--role', 'receive', '--transport', transport, '--bytes', String(total)]);
  try {
    const { port } = await next<{ port: number }>(receiver, 'port');
    const receiverReport = next<{ report: EndReport }>(receiver, 'report');
    const sender = child(['--role', 'send', '--transport', transport, '--bytes', String(total), '--port', String(port)]);
    try {
      if (transport === 'tcp') {
        const { port: senderPort } = await next<{ port: number }>(sender, 'port');
        receiver.send({ kind: 'connect', port: senderPort });
      }
      const [r, s] = await Promise.all([receiverReport, next<{ report: EndReport }>(sender, 'report')]);
      if (r.report.bytes !== total) throw new Error(`${transport}: the receiver counted ${r.report.bytes} bytes of ${total}`);
      if (r.report.messages !== undefined && r.report.messages !== total / CHUNK_BYTES) throw new Error(`${transport}: the receiver read ${r.report.messages} gRPC messages of ${total / CHUNK_BYTES}`);
      return { receiver: r.report, sender: s.report };
    } finally {
      sender.kill();
    }
  } finally {
    receiver.kill();
  }
}

async function main(): Promise<void> {
  const role = option('role', '');
  const transport = option('transport', '') as Transport;
  if (role === 'receive') return receive(transport, Number(option('bytes', '0')));
  if (role === 'send') return send(transport, Number(option('bytes', '0')), Number(option('port', '0')));
  const megabytes = positiveInteger('megabytes', '400');
  const repeat = positiveInteger('repeat', '3');
  const json = process.argv.includes('--json');
  // Whole chunks: both ends count the same bytes.
  const total = Math.ceil((megabytes * MIB) / CHUNK_BYTES) * CHUNK_BYTES;
  if (!json) console.log(`bench:transport — ${total / MIB} MiB over loopback, ${repeat} runs each; load average ${loadAverage()} on ${os.cpus().length} cores`);
  for (const name of TRANSPORTS) {
    const runs = [];
    for (let i = 0; i < repeat; i++) runs.push(await measureOnce(name, total));
    const mib = total / MIB;
    const top = runs[0]!.receiver.pieces?.[0]?.[0] ?? 0;
    const row: TransportMeasurement = {
      transport: name,
      megabytes: mib,
      receiverMsPerMiB: (1000 * median(runs.map((r) => r.receiver.cpuSeconds))) / mib,
      senderMsPerMiB: (1000 * median(runs.map((r) => r.sender.cpuSeconds))) / mib,
      mibPerSecond: mib / median(runs.map((r) => Math.max(r.receiver.wallSeconds, 1e-6))),
      commonPieceBytes: top,
      loadAverage: loadAverage(),
    };
    if (json) console.log(JSON.stringify(row));
    else {
      const label = name === 'grpc-http2' ? 'gRPC on node:http2' : 'bare TCP (onread)';
      console.log(`${label.padEnd(19)} receiver ${row.receiverMsPerMiB.toFixed(3)} ms CPU/MiB, sender ${row.senderMsPerMiB.toFixed(3)} ms CPU/MiB, ${row.mibPerSecond.toFixed(0)} MiB/s; pieces of ${top} bytes most often (load ${row.loadAverage})`);
    }
  }
}

await main();
