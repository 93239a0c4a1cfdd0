// The coordinator's one port. Every worker connection is HTTP/2 (plaintext, or TLS ended here);
// Join, Commands, Heartbeat, FetchState and Report are served by grpc-js, but a step's Exchange,
// the bulk of the bytes, by node:http2 (exchange-server.ts; shared/wire/http2-grpc.ts says why).
// A worker opens a connection of its own for its Exchange calls and marks it with
// EXCHANGE_CONNECTION_SETTING in the first SETTINGS frame it sends, which follows the HTTP/2
// client preface at once. This port reads that much of every connection, puts the bytes back, and
// hands the connection to the exchange server when the mark is there, to grpc-js otherwise
// (a grpc-js client, something that is not HTTP/2 at all: grpc-js answers it as it always did).
// grpc-js serves Exchange too, so a connection without the mark still works, only slower.

import type { Duplex } from 'node:stream';
import net from 'node:net';
import tls from 'node:tls';
import { ConfigError } from '../shared/errors.js';
import { EXCHANGE_CONNECTION_SETTING } from '../shared/wire/http2-grpc.js';

/** What every HTTP/2 client sends first (RFC 7540, 3.5). */
const CLIENT_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const FRAME_HEADER_BYTES = 9;
const SETTINGS_FRAME = 0x4;
/** A first SETTINGS frame longer than this is not read for the mark (HTTP/2's smallest frame size limit). */
const MAX_SETTINGS_BYTES = 16_384;
/**
 * A connection that has not sent its preface and first SETTINGS frame by then is closed: as long
 * as grpc-js holds a connection without calls, since a client whose event loop is busy (a worker
 * in a long step, a caller serializing a large request) writes its preface late.
 */
export const PREFACE_TIMEOUT_MS = 60_000;

export type ConnectionKind = 'exchange' | 'grpc';

/**
 * Which server a connection goes to, from its first bytes; undefined while more of them are
 * needed to tell. Only a well-formed preface followed by a SETTINGS frame that carries the mark
 * with value 1 is the exchange's.
 */
export function connectionKind(first: Buffer): ConnectionKind | undefined {
  const seen = Math.min(first.length, CLIENT_PREFACE.length);
  if (!first.subarray(0, seen).equals(CLIENT_PREFACE.subarray(0, seen))) return 'grpc';
  const frame = CLIENT_PREFACE.length;
  if (first.length < frame + FRAME_HEADER_BYTES) return undefined;
  const length = first.readUIntBE(frame, 3);
  const streamId = first.readUInt32BE(frame + 5) & 0x7fffffff;
  if (first[frame + 3] !== SETTINGS_FRAME || streamId !== 0 || length % 6 !== 0 || length > MAX_SETTINGS_BYTES) return 'grpc';
  const end = frame + FRAME_HEADER_BYTES + length;
  if (first.length < end) return undefined;
  for (let at = frame + FRAME_HEADER_BYTES; at < end; at += 6) {
    if (first.readUInt16BE(at) === EXCHANGE_CONNECTION_SETTING && first.readUInt32BE(at + 2) === 1) return 'exchange';
  }
  return 'grpc';
}

export interface PortTls {
  cert: Buffer;
  key: Buffer;
  /** With a CA, workers must present a certificate it signed (mutual TLS). */
  ca?: Buffer | undefined;
}

export class CoordinatorPort {
  private listener: net.Server | undefined;
  /** Connections whose first bytes are still awaited. */
  private readonly undecided = new Set<net.Socket>();

  constructor(
    private readonly route: (kind: ConnectionKind, connection: Duplex) => void,
    private readonly prefaceTimeoutMs = PREFACE_TIMEOUT_MS,
  ) {}

  /** Binds `host`:`port` (port 0 for any; a host may be an IPv6 address in brackets); resolves to the port bound. */
  listen(host: string, port: number, files?: PortTls): Promise<number> {
    const listener = files ? secureListener(files, (socket) => this.sort(socket)) : net.createServer((socket) => this.sort(socket));
    // A failed handshake or accept is that connection's affair, not the run's.
    listener.on('tlsClientError', () => undefined);
    this.listener = listener;
    const bare = host.startsWith('[') ? host.slice(1, -1) : host;
    return new Promise((resolve, reject) => {
      listener.once('error', (error: NodeJS.ErrnoException) => {
        const why = error.code === 'EADDRINUSE' ? 'is in use (another run?)' : `cannot be bound (${error.message})`;
        reject(new ConfigError('CONFIG_INVALID', `--listen ${host}:${port} ${why}`));
      });
      listener.listen(port, bare, () => {
        listener.on('error', () => undefined);
        resolve((listener.address() as net.AddressInfo).port);
      });
    });
  }

  /**
   * Stops accepting connections and drops those not handed over yet. Those handed over are their
   * servers' to end: waiting here for them all to close would wait on every worker still connected.
   */
  close(): void {
    for (const socket of this.undecided) socket.destroy();
    this.undecided.clear();
    this.listener?.close();
  }

  /** Reads a connection's first bytes without taking them, then hands it over. */
  private sort(socket: net.Socket): void {
    this.undecided.add(socket);
    socket.on('error', () => undefined);
    const timer = setTimeout(() => socket.destroy(), this.prefaceTimeoutMs);
    let first = Buffer.alloc(0);
    const done = () => {
      clearTimeout(timer);
      socket.off('readable', readable);
      socket.off('close', done);
      this.undecided.delete(socket);
    };
    const readable = () => {
      let piece: Buffer | null;
      while ((piece = socket.read() as Buffer | null) !== null) first = Buffer.concat([first, piece]);
      const kind = connectionKind(first);
      if (kind === undefined) return;
      done();
      // The bytes read go back: the server that takes the connection reads them first.
      socket.unshift(first);
      this.route(kind, socket);
    };
    socket.on('readable', readable);
    socket.once('close', done);
  }
}

function secureListener(files: PortTls, connection: (socket: tls.TLSSocket) => void): tls.Server {
  try {
    return tls.createServer({ cert: files.cert, key: files.key, ...(files.ca ? { ca: files.ca } : {}), requestCert: Boolean(files.ca), rejectUnauthorized: Boolean(files.ca), ALPNProtocols: ['h2'] }, connection);
  } catch (cause) {
    throw new ConfigError('CONFIG_INVALID', `--tls-cert, --tls-key${files.ca ? ' and --tls-ca' : ''} cannot be used together: ${(cause as Error).message}`, { cause });
  }
}
