// The coordinator's gRPC service: a thin shell that authenticates every call, parses the stream
// framing, and hands the decisions to a TrainerHost (the run). Errors go back as gRPC statuses
// whose message names what was wrong; nothing a handler rejects reaches the run's state.

import * as grpc from '@grpc/grpc-js';
import { timingSafeEqual } from 'node:crypto';
import { AuthError, ProtocolError, describeError } from '../shared/errors.js';
import {
  CHANNEL_OPTIONS,
  chunkPayload,
  loadTrainerService,
  serviceError,
  statusOf,
  tokenFromMetadata,
  writeMessage,
  type Command,
  type ExchangeDownload,
  type ExchangeUpload,
  type GradientHeader,
  type JoinReply,
  type JoinRequest,
  type PayloadReceiver,
  type ReducedHeader,
  type ReportRequest,
  type StateChunk,
  type StateManifest,
  type WorkerRef,
} from '../shared/wire.js';
import type { CommandSink } from './world.js';

/** An accepted gradient upload, being received. */
export interface UploadSession {
  readonly receiver: PayloadReceiver;
  /** Called once every byte arrived; resolves with what to send back when the step is reduced. */
  complete(): Promise<{ header: ReducedHeader; payload: readonly Uint8Array[] }>;
  /** The upload failed or its caller went away; forget what it staged. */
  abort(reason: string): void;
  /** The reduced result was streamed back (or could not be): its buffers may be reused. */
  downloaded(): void;
}

export interface TrainerHost {
  join(request: JoinRequest, peer: string): JoinReply;
  openCommands(ref: WorkerRef, sink: CommandSink): void;
  commandsClosed(ref: WorkerRef, reason: string): void;
  heartbeat(ref: WorkerRef): void;
  state(ref: WorkerRef): { manifest: StateManifest; payload: readonly Uint8Array[] };
  beginUpload(header: GradientHeader, peer: string): UploadSession;
  report(request: ReportRequest): void;
}

export interface ServerCredentialsOptions {
  tlsCert?: Buffer;
  tlsKey?: Buffer;
  tlsCa?: Buffer;
}

export function serverCredentials(options: ServerCredentialsOptions): grpc.ServerCredentials {
  if (options.tlsCert && options.tlsKey) {
    // With a CA, clients must present a certificate it signed (mutual TLS).
    return grpc.ServerCredentials.createSsl(options.tlsCa ?? null, [{ cert_chain: options.tlsCert, private_key: options.tlsKey }], Boolean(options.tlsCa));
  }
  return grpc.ServerCredentials.createInsecure();
}

export class TrainerServer {
  private readonly server = new grpc.Server(CHANNEL_OPTIONS);
  private readonly expectedToken: Buffer;

  constructor(
    private readonly host: TrainerHost,
    token: string,
  ) {
    this.expectedToken = Buffer.from(token, 'utf8');
    this.server.addService(loadTrainerService().service, {
      join: this.join.bind(this),
      commands: this.commands.bind(this),
      heartbeat: this.heartbeat.bind(this),
      fetchState: this.fetchState.bind(this),
      exchange: this.exchange.bind(this),
      report: this.report.bind(this),
    });
  }

  /** Binds `address` (host:port, port 0 for any) and returns the port actually bound. */
  listen(address: string, credentials: grpc.ServerCredentials): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.bindAsync(address, credentials, (error, port) => (error ? reject(error) : resolve(port)));
    });
  }

  /** Stops accepting calls; gives open calls `graceMs` to finish, then cancels them. */
  async close(graceMs = 2000): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, graceMs);
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private authenticate(metadata: grpc.Metadata, peer: string): void {
    const token = tokenFromMetadata(metadata);
    const given = Buffer.from(token ?? '', 'utf8');
    if (token === undefined || given.length !== this.expectedToken.length || !timingSafeEqual(given, this.expectedToken)) {
      throw new AuthError('AUTH_REFUSED', `${peer}: ${token === undefined ? 'no token given' : 'wrong token'} (workers need the run's --token or EMOTRAIN_TOKEN)`);
    }
  }

  private join(call: grpc.ServerUnaryCall<JoinRequest, JoinReply>, callback: grpc.sendUnaryData<JoinReply>): void {
    try {
      this.authenticate(call.metadata, call.getPeer());
      callback(null, this.host.join(call.request, call.getPeer()));
    } catch (error) {
      callback(serviceError(statusOf(error), describeError(error)));
    }
  }

  private commands(call: grpc.ServerWritableStream<WorkerRef, Command>): void {
    const ref = call.request;
    try {
      this.authenticate(call.metadata, call.getPeer());
      let open = true;
      const closed = (reason: string) => {
        if (!open) return;
        open = false;
        this.host.commandsClosed(ref, reason);
      };
      call.on('cancelled', () => closed('its command stream was cancelled (the worker disconnected or exited)'));
      call.on('error', (error) => closed(`its command stream failed: ${error.message}`));
      call.on('close', () => closed('its command stream closed'));
      this.host.openCommands(ref, {
        write: (command) => call.write(command),
        end: () => {
          open = false;
          call.end();
        },
      });
    } catch (error) {
      call.emit('error', serviceError(statusOf(error), describeError(error)));
    }
  }

  private heartbeat(call: grpc.ServerReadableStream<{ runId: string; workerId: string }, object>, callback: grpc.sendUnaryData<object>): void {
    try {
      this.authenticate(call.metadata, call.getPeer());
    } catch (error) {
      callback(serviceError(statusOf(error), describeError(error)));
      return;
    }
    let failed = false;
    call.on('data', (ping: WorkerRef) => {
      if (failed) return;
      try {
        this.host.heartbeat(ping);
      } catch (error) {
        failed = true;
        callback(serviceError(statusOf(error), describeError(error)));
      }
    });
    call.on('end', () => {
      if (!failed) callback(null, {});
    });
    call.on('error', () => {
      failed = true;
    });
  }

  private async fetchState(call: grpc.ServerWritableStream<WorkerRef, StateChunk>): Promise<void> {
    try {
      this.authenticate(call.metadata, call.getPeer());
      const { manifest, payload } = this.host.state(call.request);
      await writeMessage(call, { kind: 'manifest', manifest } as StateChunk);
      for (const chunk of chunkPayload(payload)) {
        if (call.cancelled) return;
        await writeMessage(call, { kind: 'data', data: chunk } as StateChunk);
      }
      call.end();
    } catch (error) {
      call.emit('error', serviceError(statusOf(error), describeError(error)));
    }
  }

  private exchange(call: grpc.ServerDuplexStream<ExchangeUpload, ExchangeDownload>): void {
    const peer = call.getPeer();
    let session: UploadSession | undefined;
    let failed = false;
    const fail = (error: unknown) => {
      if (failed) return;
      failed = true;
      session?.abort(describeError(error));
      call.emit('error', serviceError(statusOf(error), describeError(error)));
    };
    try {
      this.authenticate(call.metadata, peer);
    } catch (error) {
      fail(error);
      return;
    }
    call.on('data', (message: ExchangeUpload) => {
      if (failed) return;
      try {
        if (message.kind === 'header') {
          if (session) throw new ProtocolError('PROTOCOL_INVALID', `a second gradient header on one exchange (step ${message.header.step})`);
          session = this.host.beginUpload(message.header, peer);
        } else if (message.kind === 'chunk') {
          if (!session) throw new ProtocolError('PROTOCOL_INVALID', 'a gradient chunk arrived before the header');
          session.receiver.write(message.chunk);
        } else {
          throw new ProtocolError('PROTOCOL_INVALID', 'an exchange message with neither header nor chunk');
        }
      } catch (error) {
        fail(error);
      }
    });
    call.on('end', () => {
      if (failed) return;
      void (async () => {
        try {
          if (!session) throw new ProtocolError('PROTOCOL_INVALID', 'the exchange ended without a gradient header');
          session.receiver.finish();
          const outcome = await session.complete();
          try {
            await writeMessage(call, { kind: 'header', header: outcome.header } as ExchangeDownload);
            for (const chunk of chunkPayload(outcome.payload)) {
              if (call.cancelled) return;
              await writeMessage(call, { kind: 'chunk', chunk } as ExchangeDownload);
            }
            call.end();
          } finally {
            session.downloaded();
          }
        } catch (error) {
          fail(error);
        }
      })();
    });
    call.on('cancelled', () => {
      if (!failed) {
        failed = true;
        session?.abort('the worker cancelled its exchange');
      }
    });
  }

  private report(call: grpc.ServerUnaryCall<ReportRequest, object>, callback: grpc.sendUnaryData<object>): void {
    try {
      this.authenticate(call.metadata, call.getPeer());
      this.host.report(call.request);
      callback(null, {});
    } catch (error) {
      callback(serviceError(statusOf(error), describeError(error)));
    }
  }
}
