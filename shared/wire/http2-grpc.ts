// gRPC's wire format spoken directly on node:http2, for the calls whose bytes are the bulk of a
// step: Peer.Ring (worker/peer-server.ts serves it, worker/peer-link.ts calls it) and
// Trainer.Exchange (coordinator/exchange-server.ts serves it, worker/exchange-link.ts calls it).
// grpc-js moves about 0.15 GB/s through one stream on this machine, where node:http2 itself moves
// 0.5 GB/s and loopback TCP 0.8 GB/s (issue 11): its per-message copies, per-write callbacks and
// 64 KiB flow-control windows cost more CPU than the data, and on the coordinator the garbage of
// its copies (hundreds of MB per ResNet50 step) kept the collector busy. The bytes on the wire are
// gRPC's all the same (HTTP/2 POST to the method's path, messages behind a 5-byte length prefix,
// the status in trailers), so a grpc-js client or server talks to either end; the tests use one
// for each. https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md is the definition followed.

import * as grpc from '@grpc/grpc-js';
import http2 from 'node:http2';
import { ProtocolError } from '../errors.js';
import { bearerToken, type TokenCheck } from './auth.js';
import { callFailure, ERROR_CODE_KEY, serviceError } from './status.js';

/** The path of the call (package emotrain.v1, service Peer, method Ring). */
export const RING_PATH = '/emotrain.v1.Peer/Ring';
/** The path of a step's exchange with the coordinator (service Trainer, method Exchange). */
export const EXCHANGE_PATH = '/emotrain.v1.Trainer/Exchange';
/**
 * The HTTP/2 setting (in the range RFC 7540 leaves to experiments) with which a worker marks the
 * connection it opens for Exchange calls, value 1, in the first SETTINGS frame it sends. The
 * coordinator's port reads it to hand that connection to its node:http2 exchange server; every
 * other connection goes to grpc-js (coordinator/coordinator-port.ts). HTTP/2 ends ignore settings
 * they do not know, so the mark changes nothing anywhere else.
 */
export const EXCHANGE_CONNECTION_SETTING = 0xf0e7;
/**
 * Flow-control windows of peer links: a stream may have this much in flight before the receiver
 * reads it (HTTP/2's default, 64 KiB, is a round trip per 64 KiB), and a connection four times it.
 * A stream waiting to be taken holds at most this much of the receiver's memory.
 */
export const PEER_STREAM_WINDOW_BYTES = 4 * 1024 * 1024;
export const PEER_SESSION_WINDOW_BYTES = 4 * PEER_STREAM_WINDOW_BYTES;
/**
 * DATA frames up to this size are allowed in. A Node sender still cuts DATA at 16 KiB (nghttp2's
 * default; Node gives it no callback to send more), so between our own ends every DATA piece is
 * 16 KiB (npm run bench:transport prints the size); another implementation may send larger ones.
 */
export const PEER_MAX_FRAME_BYTES = 256 * 1024;
export const PEER_HTTP2_SETTINGS = { initialWindowSize: PEER_STREAM_WINDOW_BYTES, maxFrameSize: PEER_MAX_FRAME_BYTES } as const;

/**
 * The HTTP/2 options of our gRPC servers on node:http2 (a worker's peer port, the coordinator's
 * exchange): the peer links' windows and frames, 32 streams a connection (as the grpc-js side
 * allows), and nghttp2's session memory bounded.
 */
export const GRPC_SERVER_HTTP2_OPTIONS = { settings: { ...PEER_HTTP2_SETTINGS, maxConcurrentStreams: 32 }, maxSessionMemory: 64 } as const;
/** A connection that has not opened a call with the run's token by then is closed. */
const UNAUTHENTICATED_CONNECTION_MS = 60_000;

/**
 * The door of a gRPC server on node:http2 that serves one method: it keeps the server's
 * connections (each widened to the peer links' session window, each a stranger's until one of its
 * calls shows the run's token, and closed after a minute otherwise) and checks every call's
 * method, path, content type and token from its headers before the server reads a byte of it.
 */
export class CallGate {
  private readonly sessions = new Set<http2.ServerHttp2Session>();
  /** Each connection's deadline to show the token (cleared by its first call that does). */
  private readonly strangers = new WeakMap<http2.Http2Session, NodeJS.Timeout>();

  /** `serves`: what a refusal of another method calls the server ("a worker's peer port"). */
  constructor(
    private readonly tokens: TokenCheck,
    private readonly path: string,
    private readonly serves: string,
  ) {}

  /** Takes a new connection (the server's 'session' event). */
  session(session: http2.ServerHttp2Session): void {
    this.sessions.add(session);
    session.on('error', () => undefined);
    session.once('close', () => this.sessions.delete(session));
    session.once('connect', () => session.setLocalWindowSize(PEER_SESSION_WINDOW_BYTES));
    const stranger = setTimeout(() => session.destroy(), UNAUTHENTICATED_CONNECTION_MS);
    stranger.unref();
    this.strangers.set(session, stranger);
  }

  /** Throws what is wrong with a call from `peer`; a call that passes proves its connection. */
  check(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, peer: string): void {
    if (headers[':method'] !== 'POST' || headers[':path'] !== this.path) {
      throw new ProtocolError('PROTOCOL_INVALID', `${peer}: ${this.serves} serves only POST ${this.path}, not ${String(headers[':method'])} ${String(headers[':path'])}`);
    }
    if (!String(headers['content-type'] ?? '').startsWith('application/grpc')) throw new ProtocolError('PROTOCOL_INVALID', `${peer}: content-type ${JSON.stringify(headers['content-type'] ?? '')} is not gRPC`);
    this.tokens.requireToken(bearerToken(headers.authorization), peer);
    if (stream.session) clearTimeout(this.strangers.get(stream.session));
  }

  /** Ends every connection. */
  destroyAll(): void {
    for (const session of this.sessions) session.destroy();
    this.sessions.clear();
  }
}

/**
 * Refuses a call before its answer began: its status in a trailers-only answer, then the stream
 * reset once that went out, so the caller cannot go on sending into it; what it still sends is
 * not read (a refused stream is not held paused either: Node lets it go only once its readable
 * side ended).
 */
export function refuseCall(stream: http2.ServerHttp2Stream, error: unknown): void {
  stream.resume();
  if (stream.destroyed || stream.closed) return;
  stream.respond(refusalHeaders(error), { endStream: true });
  stream.close(http2.constants.NGHTTP2_NO_ERROR);
}

/** The 5-byte prefix of an uncompressed message of `length` bytes. */
export function messagePrefix(length: number): Buffer {
  const prefix = Buffer.allocUnsafe(5);
  prefix[0] = 0;
  prefix.writeUInt32BE(length, 1);
  return prefix;
}

/**
 * Writes one message made of `parts` to a call's stream: its prefix, then each part as it is
 * (uncopied); `callback` runs once the last part is written. False when the stream's buffer is
 * full ('drain' follows).
 */
export function writeGrpcMessage(stream: { write(chunk: Uint8Array, callback?: (error?: Error | null) => void): boolean }, parts: readonly Uint8Array[], callback?: (error?: Error | null) => void): boolean {
  let length = 0;
  for (const part of parts) length += part.byteLength;
  let flowing = stream.write(messagePrefix(length));
  parts.forEach((part, i) => {
    flowing = stream.write(part, i === parts.length - 1 ? callback : undefined);
  });
  return flowing;
}

/**
 * The protobuf bytes of a message whose field 2 is a chunk (RingMessage, ExchangeUpload,
 * ExchangeDownload), up to the chunk's data itself: field 2's tag and length, then the chunk's
 * varint fields in order (each a tag byte and its value) and its data field's tag and length.
 * The data's bytes follow as they are.
 */
export function chunkMessagePrefix(fields: ReadonlyArray<readonly [tag: number, value: number]>, dataTag: number, dataBytes: number): Buffer {
  let inner = 1 + varintLength(dataBytes);
  for (const [, value] of fields) inner += 1 + varintLength(value);
  const chunkLength = inner + dataBytes;
  const out = Buffer.allocUnsafe(1 + varintLength(chunkLength) + inner);
  let at = 0;
  out[at++] = 0x12;
  at = writeVarint(out, at, chunkLength);
  for (const [tag, value] of fields) {
    out[at++] = tag;
    at = writeVarint(out, at, value);
  }
  out[at++] = dataTag;
  writeVarint(out, at, dataBytes);
  return out;
}

/**
 * One message of a chunked stream as it goes out (Exchange uploads and downloads: TensorChunk
 * {offset, data} in field 2): a chunk as its protobuf prefix and its data, uncopied; any other
 * message serialized.
 */
export function chunkedMessageParts<M extends { kind?: string; chunk?: { offset?: number | string; data?: Uint8Array } | null }>(message: M, serialize: (message: M) => Buffer): Uint8Array[] {
  const chunk = message.kind === 'chunk' ? message.chunk : undefined;
  if (!chunk) return [serialize(message)];
  const data = chunk.data ?? new Uint8Array(0);
  return [chunkMessagePrefix([[0x08, Number(chunk.offset ?? 0)]], 0x12, data.byteLength), data];
}

/** The other end of a connection as grpc-js names a peer: host:port, an IPv6 host in brackets. */
export function peerName(socket: { remoteAddress?: string | undefined; remotePort?: number | undefined } | undefined): string {
  const host = socket?.remoteAddress ?? 'unknown';
  return `${host.includes(':') ? `[${host}]` : host}:${socket?.remotePort ?? 0}`;
}

function varintLength(value: number): number {
  let n = 1;
  while (value >= 128) {
    value = Math.floor(value / 128);
    n++;
  }
  return n;
}

function writeVarint(out: Buffer, at: number, value: number): number {
  while (value >= 128) {
    out[at++] = (value % 128) | 0x80;
    value = Math.floor(value / 128);
  }
  out[at++] = value;
  return at;
}

/**
 * Splits a stream's DATA into gRPC messages. Each message is handed over as one Buffer that stays
 * valid only during the call (it is reused for the next one); a length prefix above `maxBytes` or a
 * compressed message is refused before anything of it is buffered. A handler may hold() the
 * reader: what is left of the DATA waits, uncopied, until release().
 */
export class MessageReader {
  private readonly prefix = Buffer.alloc(5);
  private prefixFilled = 0;
  private body: Buffer = Buffer.alloc(0);
  private bodyLength = -1;
  private bodyFilled = 0;
  private failed = false;
  private held = false;
  private readonly waiting: Buffer[] = [];

  constructor(
    private readonly maxBytes: number,
    private readonly what: string,
    private onMessage: (message: Buffer) => void,
  ) {}

  /** Takes one DATA piece; throws (and takes nothing more) when the stream does not fit. */
  push(data: Buffer): void {
    if (this.failed) return;
    if (this.held) {
      this.waiting.push(data);
      return;
    }
    this.guarded(() => this.take(data));
  }

  /** Stops handing messages over (the rest waits); `handler` takes them from release() on. */
  hold(handler?: (message: Buffer) => void): void {
    this.held = true;
    if (handler) this.onMessage = handler;
  }

  release(): void {
    this.held = false;
    while (!this.held && !this.failed && this.waiting.length > 0) {
      const data = this.waiting.shift()!;
      this.guarded(() => this.take(data));
    }
  }

  /** Whether it is held (hold() since the last release(), or again from within it). */
  get holding(): boolean {
    return this.held;
  }

  /** Lets go of the buffer messages were gathered in (the stream is over: no message needs it). */
  dropBuffer(): void {
    if (this.bodyLength < 0) this.body = Buffer.alloc(0);
  }

  /** Whether everything pushed was handed over and the stream is between messages. */
  get atBoundary(): boolean {
    return this.prefixFilled === 0 && this.bodyLength < 0 && this.waiting.length === 0;
  }

  private guarded(take: () => void): void {
    try {
      take();
    } catch (error) {
      this.failed = true;
      throw error;
    }
  }

  private take(data: Buffer): void {
    let at = 0;
    while (at < data.length) {
      if (this.held) {
        this.waiting.unshift(data.subarray(at));
        return;
      }
      if (this.bodyLength < 0) {
        const n = Math.min(5 - this.prefixFilled, data.length - at);
        data.copy(this.prefix, this.prefixFilled, at, at + n);
        this.prefixFilled += n;
        at += n;
        if (this.prefixFilled < 5) return;
        if (this.prefix[0] !== 0) throw new ProtocolError('PROTOCOL_INVALID', `${this.what}: a compressed message (flag ${this.prefix[0]}); peer links send them uncompressed`);
        const length = this.prefix.readUInt32BE(1);
        if (length > this.maxBytes) throw new ProtocolError('PROTOCOL_WRONG_SIZE', `${this.what}: a message of ${length} bytes; at most ${this.maxBytes} are accepted`);
        this.prefixFilled = 0;
        this.bodyFilled = 0;
        // The whole message inside this piece: handed over as it is, without a copy.
        if (data.length - at >= length) {
          const message = data.subarray(at, at + length);
          at += length;
          this.onMessage(message);
          continue;
        }
        this.bodyLength = length;
        if (this.body.length < length) this.body = Buffer.allocUnsafe(length);
        continue;
      }
      const n = Math.min(this.bodyLength - this.bodyFilled, data.length - at);
      data.copy(this.body, this.bodyFilled, at, at + n);
      this.bodyFilled += n;
      at += n;
      if (this.bodyFilled === this.bodyLength) {
        const message = this.body.subarray(0, this.bodyLength);
        this.bodyLength = -1;
        this.onMessage(message);
      }
    }
  }
}

/** grpc-message is percent-encoded: every byte outside printable ASCII, and '%' itself. */
export function encodeGrpcMessage(text: string): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

export function decodeGrpcMessage(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** A failed call's status as HTTP/2 fields: grpc-status, grpc-message and our error code when it has one. */
export function statusFields(error: unknown): Record<string, string> {
  const failure = serviceError(error);
  const fields: Record<string, string> = { 'grpc-status': String(failure.code), 'grpc-message': encodeGrpcMessage(failure.details) };
  const code = failure.metadata.get(ERROR_CODE_KEY)[0];
  if (typeof code === 'string' && /^[A-Z_]+$/.test(code)) fields[ERROR_CODE_KEY] = code;
  return fields;
}

/** Response headers and trailers in one (a "trailers-only" answer): how a call is refused. */
export function refusalHeaders(error: unknown): Record<string, string> {
  return { ':status': '200', 'content-type': 'application/grpc+proto', ...statusFields(error) };
}

/**
 * A call's status from the headers or trailers that carry it, as grpc-js reports a failed call
 * (code, details, metadata with our error code), for rpcError(); undefined when it succeeded.
 */
export function statusFrom(headers: Record<string, string | string[] | undefined>): grpc.ServiceError | null | undefined {
  const status = headers['grpc-status'];
  if (status === undefined) return undefined;
  const code = Number(status);
  if (code === grpc.status.OK) return null;
  const message = headers['grpc-message'];
  const details = typeof message === 'string' ? decodeGrpcMessage(message) : `status ${String(status)}`;
  const ours = headers[ERROR_CODE_KEY];
  return callFailure(Number.isInteger(code) ? (code as grpc.status) : grpc.status.UNKNOWN, details, typeof ours === 'string' ? ours : undefined);
}
