// The coordinator's Exchange on node:http2 (shared/wire/http2-grpc.ts says why): the connections
// workers mark for it reach this server from the coordinator's one port (coordinator-port.ts),
// already past TLS. Each call goes to the same handler grpc-js would call (TrainerServer's), given
// a call object that behaves as grpc-js' duplex call does. A chunk goes out as its message prefix
// and the reduced bytes themselves; an incoming one is read where the message reader has it, and
// while the reducer keeps it (it waits for slower workers) the call is paused: the reader hands
// nothing more over and does not reuse its buffer. The server checks each call's method, path, content type and token before the handler
// sees it, refuses a message from its length prefix when it is longer than a request may be,
// holds a connection that has not shown the token for a minute at most, lets a connection hold
// at most 32 streams, and closes one that has been idle for a minute (the worker opens another).

import * as grpc from '@grpc/grpc-js';
import { EventEmitter } from 'node:events';
import http2 from 'node:http2';
import type { Duplex } from 'node:stream';
import { describeError, ProtocolError } from '../shared/errors.js';
import { CallGate, chunkedMessageParts, EXCHANGE_PATH, GRPC_SERVER_HTTP2_OPTIONS, MessageReader, peerName, refuseCall, statusFields, writeGrpcMessage } from '../shared/wire/http2-grpc.js';
import { loadTrainerService, MAX_REQUEST_BYTES, type ExchangeDownload, type TokenCheck, type TrainerHandlers } from '../shared/wire/index.js';

/** A connection without any traffic this long is closed, gracefully (grpc.max_connection_idle_ms on the grpc-js side). */
const IDLE_CONNECTION_MS = 60_000;

export class ExchangeServer {
  private readonly server: http2.Http2Server;
  private readonly gate: CallGate;

  constructor(
    private readonly handler: TrainerHandlers['Exchange'],
    tokens: TokenCheck,
  ) {
    this.gate = new CallGate(tokens, EXCHANGE_PATH, 'a connection marked for the exchange');
    this.server = http2.createServer(GRPC_SERVER_HTTP2_OPTIONS);
    this.server.on('session', (session) => {
      this.gate.session(session);
      session.setTimeout(IDLE_CONNECTION_MS, () => session.close());
    });
    this.server.on('stream', (stream, headers) => this.call(stream, headers));
  }

  /** Serves a connection the port handed over (its first bytes still unread, or put back). */
  accept(connection: Duplex): void {
    this.server.emit('connection', connection);
  }

  /** Ends every connection: the calls still open fail on the workers' side. */
  close(): void {
    this.gate.destroyAll();
  }

  private call(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    const peer = peerName(stream.session?.socket);
    stream.on('error', () => undefined);
    try {
      this.gate.check(stream, headers, peer);
    } catch (error) {
      refuseCall(stream, error);
      return;
    }
    (this.handler as unknown as (call: ExchangeCallAdapter) => void)(new ExchangeCallAdapter(stream, headers, peer));
  }
}

/** The server side of one Exchange call, as the handler uses a grpc-js duplex call. */
class ExchangeCallAdapter extends EventEmitter {
  readonly metadata = new grpc.Metadata();
  private readonly reader: MessageReader;
  private headersSent = false;
  private done = false;
  /** The stream ended while paused: the end is handled once what waited is handed over. */
  private endWaiting = false;
  cancelled = false;

  constructor(
    private readonly stream: http2.ServerHttp2Stream,
    headers: http2.IncomingHttpHeaders,
    private readonly peer: string,
  ) {
    super();
    const auth = headers.authorization;
    if (typeof auth === 'string') this.metadata.set('authorization', auth);
    const exchange = loadTrainerService().service.Exchange;
    const reader = new MessageReader(MAX_REQUEST_BYTES, `the exchange from ${peer}`, (message) => {
      // The chunk's bytes stay views of the reader's buffer: the handler reads them at once, or
      // pauses the call (before the reader goes on) to keep them until it has (reducer.ts).
      let decoded;
      try {
        decoded = exchange.requestDeserialize(message);
      } catch (error) {
        this.refuse(new ProtocolError('PROTOCOL_INVALID', `the exchange from ${peer}: a message could not be parsed: ${describeError(error)}`));
        return;
      }
      this.emit('data', decoded);
    });
    this.reader = reader;
    stream.on('data', (data: Buffer) => {
      if (this.done) return;
      try {
        reader.push(data);
      } catch (error) {
        this.refuse(error);
      }
    });
    stream.on('end', () => this.ended());
    stream.on('aborted', () => this.cancel());
    stream.on('close', () => {
      if (!this.done && stream.rstCode !== http2.constants.NGHTTP2_NO_ERROR) this.cancel();
      this.emit('close');
    });
    // grpc-js' call sends a status when the handler emits 'error' on it: the handler does so.
    this.on('error', (error: unknown) => this.sendStatus(error));
  }

  getPeer(): string {
    return this.peer;
  }

  write(message: ExchangeDownload, callback?: () => void): boolean {
    if (this.done || this.stream.closed) {
      callback?.();
      return false;
    }
    this.respond();
    return writeGrpcMessage(this.stream, chunkedMessageParts(message, loadTrainerService().service.Exchange.responseSerialize), callback);
  }

  end(): void {
    if (this.done) return;
    this.done = true;
    this.respond();
    this.stream.once('wantTrailers', () => this.stream.sendTrailers({ 'grpc-status': '0' }));
    this.stream.end();
  }

  /** Takes effect at once, even within a 'data' handler: no message follows until resume(). */
  pause(): void {
    this.reader.hold();
    this.stream.pause();
  }

  /** Hands over what waited at once (the handler may pause again within it), then reads on. */
  resume(): void {
    try {
      this.reader.release();
    } catch (error) {
      this.refuse(error);
      return;
    }
    if (this.reader.holding) return;
    this.stream.resume();
    if (this.endWaiting) this.ended();
  }

  /** The upload ended: whole, once every message it carried was handed over. */
  private ended(): void {
    if (this.reader.holding) {
      this.endWaiting = true;
      return;
    }
    this.endWaiting = false;
    if (!this.done && !this.reader.atBoundary) {
      this.refuse(new ProtocolError('PROTOCOL_WRONG_SIZE', `the exchange from ${this.peer} ended inside a message`));
      return;
    }
    // Not paused, so the reducer holds nothing of this upload: the reader's buffer can go while
    // the download still streams (and the worker's next call, with a buffer of its own, begins).
    this.reader.dropBuffer();
    this.emit('end');
  }

  private cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.emit('cancelled');
  }

  /** A message this end cannot take: the status goes out, and the handler sees the call cancelled. */
  private refuse(error: unknown): void {
    this.sendStatus(error);
    this.cancel();
  }

  private respond(): void {
    if (this.headersSent) return;
    this.headersSent = true;
    this.stream.respond({ ':status': 200, 'content-type': 'application/grpc+proto' }, { waitForTrailers: true });
  }

  private sendStatus(error: unknown): void {
    if (this.done) return;
    this.done = true;
    if (!this.headersSent) {
      this.headersSent = true;
      refuseCall(this.stream, error);
      return;
    }
    // What the worker still sends is not read.
    this.stream.resume();
    if (this.stream.closed) return;
    // After reduced chunks went out, the status goes in the trailers (a reset right behind them
    // could overtake them); what the worker still sends is dropped.
    const trailers = statusFields(error);
    this.stream.once('wantTrailers', () => this.stream.sendTrailers(trailers));
    this.stream.end();
  }
}
