// The sending end of ring streams (--allreduce ring): one HTTP/2 connection per successor, kept
// between steps, and one Peer.Ring call per step on it, spoken as gRPC on node:http2
// (shared/wire/http2-grpc.ts says why). A chunk goes out as its message prefix and the gradient
// bytes themselves, never copied: the all-reduce leaves them untouched until the successor answered.
// Plaintext, or TLS verified with the run's CA when the worker has TLS files (as the coordinator's
// channel is).

import * as grpc from '@grpc/grpc-js';
import http2 from 'node:http2';
import { chunkMessagePrefix, PEER_HTTP2_SETTINGS, PEER_SESSION_WINDOW_BYTES, RING_PATH, statusFrom, writeGrpcMessage } from '../shared/wire/http2-grpc.js';
import { callFailure, loadPeerService, rpcError, type RingMessage } from '../shared/wire/index.js';
import type { TlsFiles } from './coordinator-client.js';

/** One step's call to a successor. */
export interface RingCall {
  /** Sends one message made of `parts`; resolves when more may be written (flow control). */
  send(parts: readonly Uint8Array[]): Promise<void>;
  /** The ring header, serialized as gRPC would. */
  sendHeader(header: Extract<RingMessage, { kind: 'header' }>['header']): Promise<void>;
  /** One chunk: hop, segment, offset and its bytes (sent as they are). */
  sendChunk(hop: number, segment: number, offset: number, data: Uint8Array): Promise<void>;
  end(): void;
  cancel(): void;
  /** Settles with the successor's answer: resolves on OK, rejects with the refusal or the broken link. */
  readonly answered: Promise<void>;
}

export class PeerLinks {
  private readonly sessions = new Map<string, http2.ClientHttp2Session>();

  constructor(
    private readonly token: string,
    private readonly tls: TlsFiles | undefined,
  ) {}

  /** Opens the Ring call of one step to `address`; `what` names it in errors. */
  open(address: string, what: string): RingCall {
    const session = this.session(address);
    const stream = session.request({
      ':method': 'POST',
      ':path': RING_PATH,
      'content-type': 'application/grpc+proto',
      te: 'trailers',
      authorization: `Bearer ${this.token}`,
    });
    return new Http2RingCall(stream, what);
  }

  close(): void {
    for (const session of this.sessions.values()) session.destroy();
    this.sessions.clear();
  }

  private session(address: string): http2.ClientHttp2Session {
    const kept = this.sessions.get(address);
    if (kept && !kept.closed && !kept.destroyed) return kept;
    const session = grpcSession(address, this.tls, () => {
      if (this.sessions.get(address) === session) this.sessions.delete(address);
    });
    this.sessions.set(address, session);
    return session;
  }
}

/**
 * An HTTP/2 connection for gRPC calls spoken on node:http2 (ring links, the exchange with the
 * coordinator): plaintext, or TLS verified with the run's CA when the worker has TLS files, with
 * wide flow-control windows; `customSettings` go in its first SETTINGS frame. `gone` is called
 * once it failed, was told to go away or closed: it takes no new call then.
 */
export function grpcSession(address: string, tls: TlsFiles | undefined, gone: () => void, customSettings?: Record<number, number>): http2.ClientHttp2Session {
  // customSettings is Node's (since 20.12), not yet in @types/node's Settings.
  const settings = { ...PEER_HTTP2_SETTINGS, ...(customSettings ? { customSettings } : {}) } as http2.Settings;
  const session = tls
    ? http2.connect(`https://${address}`, { settings, ...(tls.ca ? { ca: tls.ca } : {}), ...(tls.cert ? { cert: tls.cert } : {}), ...(tls.key ? { key: tls.key } : {}) })
    : http2.connect(`http://${address}`, { settings });
  session.on('error', gone);
  session.on('goaway', gone);
  session.on('close', gone);
  session.once('connect', () => session.setLocalWindowSize(PEER_SESSION_WINDOW_BYTES));
  return session;
}

class Http2RingCall implements RingCall {
  readonly answered: Promise<void>;
  private settled = false;
  private broken: Error | undefined;
  private resolveAnswer!: () => void;
  private rejectAnswer!: (error: Error) => void;
  /** Writers waiting for the stream to drain (or break). */
  private drained: Array<() => void> = [];

  constructor(
    private readonly stream: http2.ClientHttp2Stream,
    private readonly what: string,
  ) {
    this.answered = new Promise<void>((resolve, reject) => {
      this.resolveAnswer = resolve;
      this.rejectAnswer = reject;
    });
    this.answered.catch(() => undefined);
    stream.on('response', (headers) => {
      // A status in the response headers: a "trailers-only" answer (a refusal).
      const status = statusFrom(headers);
      if (status !== undefined) this.settle(status);
    });
    stream.on('trailers', (trailers) => {
      const status = statusFrom(trailers);
      this.settle(status === undefined ? callFailure(grpc.status.UNKNOWN, 'the answer carried no grpc-status') : status);
    });
    stream.on('data', () => undefined); // the RingAck: an empty message
    stream.on('drain', () => this.wake());
    stream.on('error', (error) => this.settle(callFailure(grpc.status.UNAVAILABLE, error.message)));
    stream.on('close', () => {
      const reset = stream.rstCode === undefined || stream.rstCode === http2.constants.NGHTTP2_NO_ERROR ? '' : ` (reset, code ${stream.rstCode})`;
      this.settle(callFailure(grpc.status.UNAVAILABLE, `the stream closed without an answer${reset}`));
      this.wake();
    });
  }

  async send(parts: readonly Uint8Array[]): Promise<void> {
    if (this.broken) throw this.broken;
    const flowing = writeGrpcMessage(this.stream, parts);
    if (!flowing) await new Promise<void>((resolve) => this.drained.push(resolve));
    if (this.broken) throw this.broken;
  }

  sendHeader(header: Extract<RingMessage, { kind: 'header' }>['header']): Promise<void> {
    return this.send([loadPeerService().service.Ring.requestSerialize({ kind: 'header', header })]);
  }

  sendChunk(hop: number, segment: number, offset: number, data: Uint8Array): Promise<void> {
    return this.send([ringChunkPrefix(hop, segment, offset, data.byteLength), data]);
  }

  end(): void {
    if (!this.stream.closed) this.stream.end();
  }

  cancel(): void {
    if (!this.stream.closed) this.stream.close(http2.constants.NGHTTP2_CANCEL);
  }

  private settle(status: grpc.ServiceError | null): void {
    if (this.settled) return;
    this.settled = true;
    if (status === null) {
      this.resolveAnswer();
      return;
    }
    this.broken = rpcError(this.what, status);
    this.rejectAnswer(this.broken);
    this.wake();
  }

  private wake(): void {
    for (const resolve of this.drained.splice(0)) resolve();
  }
}

/**
 * The protobuf bytes of RingMessage{chunk: RingChunk{hop, segment, offset, data}} up to the data
 * itself: hop (1), segment (2) and offset (3) as varints, then data's tag (4) and length.
 */
export function ringChunkPrefix(hop: number, segment: number, offset: number, dataBytes: number): Buffer {
  return chunkMessagePrefix([[0x08, hop], [0x10, segment], [0x18, offset]], 0x22, dataBytes);
}
