// The worker's end of a step's Exchange with the coordinator, spoken as gRPC on node:http2
// (shared/wire/http2-grpc.ts says why): one HTTP/2 connection, kept between steps and marked with
// EXCHANGE_CONNECTION_SETTING so the coordinator's port hands it to its node:http2 exchange
// server, and one call per step on it. A chunk goes out as its message prefix and the gradient
// bytes themselves; an incoming one is decoded from the bytes as they arrived (or, when it spans
// DATA pieces, from the reader's one reused buffer) and copied once, into the replica's buffers.
// The call emits what grpc-js' duplex call does ('data', 'error', 'end', 'drain', 'close'), so
// CoordinatorClient drives either the same way.

import * as grpc from '@grpc/grpc-js';
import { EventEmitter } from 'node:events';
import http2 from 'node:http2';
import { describeError } from '../shared/errors.js';
import { chunkedMessageParts, EXCHANGE_CONNECTION_SETTING, EXCHANGE_PATH, MessageReader, statusFrom, writeGrpcMessage } from '../shared/wire/http2-grpc.js';
import { callFailure, loadTrainerService, MAX_MESSAGE_BYTES, type ExchangeUpload } from '../shared/wire/index.js';
import type { ExchangeDownload__Output } from '../shared/wire/generated/emotrain/v1/ExchangeDownload.js';
import type { ExchangeCall, TlsFiles } from './coordinator-client.js';
import { grpcSession } from './peer-link.js';

export class ExchangeLink {
  private session: http2.ClientHttp2Session | undefined;

  constructor(
    private readonly address: string,
    private readonly token: string,
    private readonly tls: TlsFiles | undefined,
  ) {}

  /** Opens one step's Exchange call. */
  open(): ExchangeCall {
    const stream = this.connection().request({
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
    const session = grpcSession(
      this.address,
      this.tls,
      () => {
        if (this.session === session) this.session = undefined;
      },
      { [EXCHANGE_CONNECTION_SETTING]: 1 },
    );
    this.session = session;
    return session;
  }
}

class Http2ExchangeCall extends EventEmitter implements ExchangeCall {
  private readonly reader: MessageReader;
  private settled = false;

  constructor(private readonly stream: http2.ClientHttp2Stream) {
    super();
    const exchange = loadTrainerService().service.Exchange;
    // Each message is decoded and handed over at once: its buffer may be the reader's, used again
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
    return writeGrpcMessage(this.stream, chunkedMessageParts(message, loadTrainerService().service.Exchange.requestSerialize), callback);
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
