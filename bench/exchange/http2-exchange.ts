// bench:exchange --coordinator-transport http2: the measured candidate for issue 11's coordinator
// path. Trainer.Exchange spoken as gRPC on node:http2 at both ends (shared/wire/http2-grpc.ts says
// why), on a second port of the bench's coordinator, in front of the coordinator's own exchange
// handler (TrainerServer.exchangeHandler) and the worker's own exchange loop (CoordinatorClient,
// given openExchange). Through grpc-js every 2 MiB chunk is gathered into a fresh buffer on its way
// in and copied twice on its way out (protobuf, then the message frame): hundreds of MB of garbage
// per ResNet50 step, about 13 major collections at 2 workers. Here a chunk goes out as its message
// prefix and the gradient bytes themselves, and an incoming one is copied once. Not the product's
// transport yet: loopback only, plaintext, and without the connection limits of a public port
// (worker/peer-server.ts has them for ring links); the token is checked by the handler.

import * as grpc from '@grpc/grpc-js';
import { EventEmitter } from 'node:events';
import http2 from 'node:http2';
import { describeError, ProtocolError } from '../../shared/errors.js';
import { chunkMessagePrefix, MessageReader, PEER_HTTP2_SETTINGS, PEER_SESSION_WINDOW_BYTES, refusalHeaders, encodeGrpcMessage, statusFrom, writeGrpcMessage } from '../../shared/wire/http2-grpc.js';
import { callFailure, loadTrainerService, MAX_MESSAGE_BYTES, MAX_REQUEST_BYTES, serviceError, type ExchangeDownload, type ExchangeUpload } from '../../shared/wire/index.js';
import type { ExchangeDownload__Output } from '../../shared/wire/generated/emotrain/v1/ExchangeDownload.js';
import type { Http2Server } from 'node:http2';
import type { TrainerServer } from '../../coordinator/trainer-service.js';
import { grpcSession } from '../../worker/peer-link.js';

export type CoordinatorTransport = 'grpc-js' | 'http2';

/** The path of the call (package emotrain.v1, service Trainer, method Exchange). */
export const EXCHANGE_PATH = '/emotrain.v1.Trainer/Exchange';

export class ExchangeLink {
  private session: http2.ClientHttp2Session | undefined;

  constructor(
    private readonly address: string,
    private readonly token: string,
  ) {}

  /** Opens one step's Exchange call. */
  open(): Http2ExchangeCall {
    const session = this.connection();
    const stream = session.request({
      ':method': 'POST',
      ':path': EXCHANGE_PATH,
      'content-type': 'application/grpc+proto',
      te: 'trailers',
      authorization: `Bearer ${this.token}`,
    });
    return new Http2ExchangeCall(stream);
  }

  close(): void {
    this.session?.destroy();
    this.session = undefined;
  }

  private connection(): http2.ClientHttp2Session {
    const kept = this.session;
    // A session that failed, closed or was told to go away takes no new call: the next step
    // opens a fresh one.
    if (kept && !kept.closed && !kept.destroyed) return kept;
    const session = grpcSession(this.address, undefined, () => {
      if (this.session === session) this.session = undefined;
    });
    this.session = session;
    return session;
  }
}

export class Http2ExchangeCall extends EventEmitter {
  private readonly reader: MessageReader;
  private settled = false;

  constructor(private readonly stream: http2.ClientHttp2Stream) {
    super();
    const exchange = loadTrainerService().service.Exchange;
    // Each message is decoded and handed over at once: its buffer is the reader's, used again
    // for the next message, and a chunk's data (a view of it) is copied into the replica's
    // buffers by the 'data' handler before that.
    this.reader = new MessageReader(MAX_MESSAGE_BYTES, "the coordinator's exchange reply", (message) => {
      let decoded: ExchangeDownload__Output;
      try {
        decoded = exchange.responseDeserialize(message);
      } catch (error) {
        this.fail(callFailure(grpc.status.INTERNAL, `the coordinator's exchange reply could not be parsed: ${describeError(error)}`));
        return;
      }
      this.emit('data', decoded);
    });
    stream.on('response', (headers) => {
      // A status in the response headers: a "trailers-only" answer (a refusal).
      const status = statusFrom(headers);
      if (status !== undefined) this.settle(status);
    });
    stream.on('data', (data: Buffer) => {
      if (this.settled) return;
      try {
        this.reader.push(data);
      } catch (error) {
        this.fail(callFailure(grpc.status.INTERNAL, describeError(error)));
      }
    });
    stream.on('trailers', (trailers) => {
      const status = statusFrom(trailers);
      this.settle(status === undefined ? callFailure(grpc.status.UNKNOWN, 'the answer carried no grpc-status') : status);
    });
    stream.on('drain', () => this.emit('drain'));
    stream.on('error', (error) => this.settle(callFailure(grpc.status.UNAVAILABLE, error.message)));
    stream.on('close', () => {
      const reset = stream.rstCode === undefined || stream.rstCode === http2.constants.NGHTTP2_NO_ERROR ? '' : ` (reset, code ${stream.rstCode})`;
      this.settle(callFailure(grpc.status.UNAVAILABLE, `the stream closed without a status${reset}`));
      this.emit('close');
    });
  }

  /** Sends one message; false when the stream's buffer is full ('drain' follows). */
  write(message: ExchangeUpload, callback?: (error?: Error | null) => void): boolean {
    return writeGrpcMessage(this.stream, messageParts(message, loadTrainerService().service.Exchange.requestSerialize), callback);
  }

  end(): void {
    if (!this.stream.closed) this.stream.end();
  }

  cancel(): void {
    if (!this.stream.closed) this.stream.close(http2.constants.NGHTTP2_CANCEL);
  }

  /** A reply this end cannot take: the call fails with `status` and the stream is cancelled. */
  private fail(status: grpc.ServiceError): void {
    this.settle(status);
    this.cancel();
  }

  private settle(status: grpc.ServiceError | null): void {
    if (this.settled) return;
    this.settled = true;
    if (status === null) this.emit('end');
    else this.emit('error', status);
  }
}

/**
 * One Exchange message as it goes out: a chunk as its protobuf prefix (TensorChunk{offset, data}
 * in field 2, in uploads and downloads alike) and its data, uncopied; anything else serialized.
 */
function messageParts<M extends { kind?: string; chunk?: { offset?: number | string; data?: Uint8Array } | null }>(message: M, serialize: (message: M) => Buffer): Uint8Array[] {
  const chunk = message.kind === 'chunk' ? message.chunk : undefined;
  if (!chunk) return [serialize(message)];
  const data = chunk.data ?? new Uint8Array(0);
  return [chunkMessagePrefix([[0x08, Number(chunk.offset ?? 0)]], 0x12, data.byteLength), data];
}

/** The server side of one Exchange call, as the handler uses a grpc-js duplex call. */
class CallAdapter extends EventEmitter {
  readonly metadata = new grpc.Metadata();
  private headersSent = false;
  private done = false;
  cancelled = false;

  constructor(
    private readonly stream: http2.ServerHttp2Stream,
    headers: http2.IncomingHttpHeaders,
  ) {
    super();
    const auth = headers.authorization;
    if (typeof auth === 'string') this.metadata.set('authorization', auth);
    const exchange = loadTrainerService().service.Exchange;
    const reader = new MessageReader(MAX_REQUEST_BYTES, 'an exchange upload', (message) => {
      // the reader's buffer is reused: the step engine may hold a chunk, so it gets its own copy
      let decoded;
      try {
        decoded = exchange.requestDeserialize(Buffer.from(message));
      } catch (error) {
        this.refuse(new ProtocolError('PROTOCOL_INVALID', `an exchange upload could not be parsed: ${describeError(error)}`));
        return;
      }
      this.emit('data', decoded);
    });
    stream.on('data', (data: Buffer) => {
      if (this.done) return;
      try {
        reader.push(data);
      } catch (error) {
        this.refuse(error);
      }
    });
    stream.on('end', () => this.emit('end'));
    stream.on('aborted', () => {
      this.cancelled = true;
      this.emit('cancelled');
    });
    stream.on('error', () => undefined);
    stream.on('close', () => {
      if (!this.done && stream.rstCode !== http2.constants.NGHTTP2_NO_ERROR) {
        this.cancelled = true;
        this.emit('cancelled');
      }
      this.emit('close');
    });
    // grpc-js' call emits 'error' itself to send a status: the handler calls call.emit('error', ...)
    this.on('error', (error: unknown) => this.sendStatus(error));
  }

  /** A message this end cannot take: the status goes out, and the handler sees the call cancelled. */
  private refuse(error: unknown): void {
    this.sendStatus(error);
    this.cancelled = true;
    this.emit('cancelled');
  }

  getPeer(): string {
    const s = this.stream.session?.socket;
    return `${s?.remoteAddress}:${s?.remotePort}`;
  }

  private respond(): void {
    if (this.headersSent) return;
    this.headersSent = true;
    this.stream.respond({ ':status': 200, 'content-type': 'application/grpc+proto' }, { waitForTrailers: true });
  }

  write(message: ExchangeDownload, callback?: () => void): boolean {
    if (this.done || this.stream.closed) {
      callback?.();
      return false;
    }
    this.respond();
    return writeGrpcMessage(this.stream, messageParts(message, loadTrainerService().service.Exchange.responseSerialize), callback);
  }

  end(): void {
    if (this.done) return;
    this.done = true;
    this.respond();
    this.stream.once('wantTrailers', () => this.stream.sendTrailers({ 'grpc-status': '0' }));
    this.stream.end();
  }

  pause(): void {
    this.stream.pause();
  }

  resume(): void {
    this.stream.resume();
  }

  private sendStatus(error: unknown): void {
    if (this.done) return;
    this.done = true;
    if (this.stream.closed) return;
    if (!this.headersSent) {
      this.headersSent = true;
      this.stream.respond(refusalHeaders(error), { endStream: true });
      return;
    }
    const failure = serviceError(error);
    this.stream.once('wantTrailers', () => this.stream.sendTrailers({ 'grpc-status': String(failure.code), 'grpc-message': encodeGrpcMessage(failure.details) }));
    this.stream.end();
  }
}

/** Serves Trainer.Exchange of `trainer` on node:http2 at 127.0.0.1:`port` (0: any free port). */
export async function serveExchangeOverHttp2(trainer: TrainerServer, port: number): Promise<{ server: Http2Server; port: number }> {
  const handler = trainer.exchangeHandler as unknown as (call: CallAdapter) => void;
  const server = http2.createServer({ settings: PEER_HTTP2_SETTINGS });
  server.on('session', (session) => {
    session.on('error', () => undefined);
    session.once('connect', () => session.setLocalWindowSize(PEER_SESSION_WINDOW_BYTES));
  });
  server.on('stream', (stream, headers) => {
    if (headers[':path'] !== EXCHANGE_PATH) {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc+proto', 'grpc-status': String(grpc.status.UNIMPLEMENTED), 'grpc-message': encodeGrpcMessage(`this port serves only ${EXCHANGE_PATH}`) }, { endStream: true });
      return;
    }
    handler(new CallAdapter(stream, headers));
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const bound = server.address();
  return { server, port: typeof bound === 'object' && bound ? bound.port : port };
}
