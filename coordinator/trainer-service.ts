// The coordinator's gRPC service: a thin shell, typed by the generated TrainerHandlers, that
// authenticates every call, parses the stream framing, and hands the decisions to a TrainerHost
// (the protocol session). Errors go back as gRPC statuses whose message names what was wrong;
// nothing a handler rejects reaches the run's state.

import * as grpc from '@grpc/grpc-js';
import { EmotrainError, ProtocolError, describeError } from '../shared/errors.js';
import { counted } from '../shared/wording.js';
import {
  IdleLimit,
  COORDINATOR_SERVER_OPTIONS,
  chunkPayload,
  loadTrainerService,
  requireOneof,
  serviceError,
  TokenCheck,
  writeMessage,
  type TrainerHandlers,
} from '../shared/wire/index.js';
import { CoordinatorPort, type PortTls } from './coordinator-port.js';
import { ExchangeServer } from './exchange-server.js';
import type { TrainerHost } from './protocol-session.js';
import { parseListenAddress } from './run-setup.js';
import type { CommandSink } from './world.js';
import type { DownloadSink, UploadSession } from './step-engine.js';

type Handler<K extends keyof TrainerHandlers> = TrainerHandlers[K];

export interface TrainerServerOptions {
  /**
   * How long an upload or a heartbeat stream may send nothing before it is closed with
   * DEADLINE_EXCEEDED (--stream-idle-timeout). It bounds what a client that goes quiet holds;
   * a dead worker is found by its heartbeats. A message is a whole chunk (2 MiB), so the limit
   * must leave a slow link time for one.
   */
  idleStreamMs: number;
}

export class TrainerServer {
  private readonly server = new grpc.Server(COORDINATOR_SERVER_OPTIONS);
  private readonly tokens: TokenCheck;
  private readonly exchangeServer: ExchangeServer;
  private port: CoordinatorPort | undefined;

  constructor(
    private readonly host: TrainerHost,
    token: string,
    private readonly options: TrainerServerOptions,
  ) {
    this.tokens = new TokenCheck(token);
    const handlers: TrainerHandlers = {
      Join: this.join,
      Commands: this.commands,
      Heartbeat: this.heartbeat,
      FetchState: this.fetchState,
      Exchange: this.exchange,
      Report: this.report,
    };
    this.server.addService(loadTrainerService().service, handlers);
    this.exchangeServer = new ExchangeServer(this.exchange, this.tokens);
  }

  /**
   * Binds `address` (host:port, port 0 for any) and returns the port actually bound: one port for
   * every call, TLS when given the certificate pair (coordinator-port.ts routes each connection).
   */
  async listen(address: string, tls?: PortTls): Promise<number> {
    const { host, port } = parseListenAddress(address);
    // TLS ends at the port: grpc-js takes its connections as they come out of it.
    const grpcConnections = this.server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
    this.port = new CoordinatorPort((kind, connection) => (kind === 'exchange' ? this.exchangeServer.accept(connection) : grpcConnections.injectConnection(connection)));
    return this.port.listen(host, port, tls);
  }

  /** Stops accepting calls; gives open calls `graceMs` to finish, then cancels them. */
  async close(graceMs = 2000): Promise<void> {
    this.port?.close();
    this.exchangeServer.close();
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
    this.tokens.require(metadata, peer);
  }

  private readonly join: Handler<'Join'> = (call, callback) => {
    try {
      this.authenticate(call.metadata, call.getPeer());
    } catch (error) {
      callback(serviceError(error));
      return;
    }
    this.host.join(call.request, call.getPeer()).then(
      (reply) => callback(null, reply),
      (error: unknown) => callback(serviceError(error)),
    );
  };

  private readonly commands: Handler<'Commands'> = (call) => {
    const ref = call.request;
    let open = true;
    const sink: CommandSink = {
      write: (command) => call.write(command),
      end: () => {
        open = false;
        call.end();
      },
      fail: (error) => {
        if (!open) return;
        open = false;
        call.emit('error', serviceError(error));
      },
    };
    try {
      this.authenticate(call.metadata, call.getPeer());
      this.host.openCommands(ref, sink);
    } catch (error) {
      // A refused stream (a second one, an unknown worker) ends here; the member's own stream, if
      // it has one, is not touched.
      open = false;
      call.emit('error', serviceError(error));
      return;
    }
    const closed = (reason: string) => {
      if (!open) return;
      open = false;
      this.host.commandsClosed(ref, sink, reason);
    };
    call.on('cancelled', () => closed('its command stream was cancelled (the worker disconnected or exited)'));
    call.on('error', (error) => closed(`its command stream failed: ${error.message}`));
    call.on('close', () => closed('its command stream closed'));
  };

  private readonly heartbeat: Handler<'Heartbeat'> = (call, callback) => {
    try {
      this.authenticate(call.metadata, call.getPeer());
    } catch (error) {
      callback(serviceError(error));
      return;
    }
    let failed = false;
    const fail = (error: unknown) => {
      if (failed) return;
      failed = true;
      idle.stop();
      callback(serviceError(error));
    };
    const idle = new IdleLimit(this.options.idleStreamMs, () => fail(this.idleError(`the heartbeat stream from ${call.getPeer()}`, 'a ping')));
    call.on('data', (ping) => {
      if (failed) return;
      idle.touch();
      try {
        this.host.heartbeat(ping);
      } catch (error) {
        fail(error);
      }
    });
    call.on('end', () => {
      idle.stop();
      if (!failed) callback(null, {});
      failed = true;
    });
    call.on('error', () => {
      idle.stop();
      failed = true;
    });
    call.on('cancelled', () => idle.stop());
  };

  private readonly fetchState: Handler<'FetchState'> = async (call) => {
    try {
      this.authenticate(call.metadata, call.getPeer());
      const { manifest, payload } = await this.host.state(call.request);
      await writeMessage(call, { kind: 'manifest', manifest });
      for (const chunk of chunkPayload(payload)) {
        if (call.cancelled) return;
        await writeMessage(call, { kind: 'data', data: chunk });
      }
      call.end();
    } catch (error) {
      call.emit('error', serviceError(error));
    }
  };

  /**
   * One step's exchange: the worker streams its header and gradient chunks up; the coordinator
   * streams the reduced chunks back as they become final (while the upload goes on), then the
   * verdict, then ends the call.
   */
  private readonly exchange: Handler<'Exchange'> = (call) => {
    const peer = call.getPeer();
    let session: UploadSession | undefined;
    let closed = false;
    let downloaded: (() => void) | undefined;
    const finishDownload = () => {
      const done = downloaded;
      downloaded = undefined;
      done?.();
    };
    const fail = (error: unknown) => {
      idle?.stop();
      if (closed) return;
      closed = true;
      session?.abort(describeError(error));
      call.emit('error', serviceError(error));
      finishDownload();
    };
    let idle: IdleLimit | undefined;
    try {
      this.authenticate(call.metadata, peer);
    } catch (error) {
      fail(error);
      return;
    }
    // Until the worker ends its side, it must keep sending; waiting for the verdict afterwards is
    // not idleness (the others may still be computing).
    let received = 0;
    idle = new IdleLimit(this.options.idleStreamMs, () =>
      fail(this.idleError(`the exchange from ${peer}`, session ? `more after ${counted(received, 'message')} (send the step again)` : 'a gradient header')),
    );
    const sink: DownloadSink = {
      chunk: (chunk) => {
        if (!closed) call.write({ kind: 'chunk', chunk });
      },
      verdict: (header, done) => {
        if (closed) {
          done();
          return;
        }
        downloaded = done;
        // Callbacks run in order: once the verdict's runs, every chunk before it is serialised too.
        call.write({ kind: 'header', header }, () => finishDownload());
        closed = true;
        call.end();
      },
      fail: (error) => fail(error),
      pause: () => {
        idle?.pause();
        call.pause();
      },
      resume: () => {
        idle?.resume();
        call.resume();
      },
    };
    call.on('data', (upload) => {
      if (closed) return;
      idle?.touch();
      received++;
      try {
        const message = requireOneof(upload, 'an exchange message');
        if (message.kind === 'header') {
          if (session) throw new ProtocolError('PROTOCOL_INVALID', `a second gradient header on one exchange (step ${message.header.step})`);
          session = this.host.beginUpload(message.header, peer, sink);
        } else {
          if (!session) throw new ProtocolError('PROTOCOL_INVALID', 'a gradient chunk arrived before the header');
          session.write(message.chunk);
        }
      } catch (error) {
        fail(error);
      }
    });
    call.on('end', () => {
      idle?.stop();
      if (closed) return;
      try {
        if (!session) throw new ProtocolError('PROTOCOL_INVALID', 'the exchange ended without a gradient header');
        // A cancelled call may end its input before 'cancelled' comes: a cut-off upload is then
        // dropped by the step engine (UPLOAD_INCOMPLETE) and the worker may send it again.
        session.end();
      } catch (error) {
        fail(error);
      }
    });
    call.on('cancelled', () => {
      idle?.stop();
      if (!closed) {
        closed = true;
        session?.abort('was cancelled by the worker');
      }
      finishDownload();
    });
    call.on('close', () => {
      idle?.stop();
      finishDownload();
    });
  };

  private idleError(stream: string, awaited: string): EmotrainError {
    const seconds = this.options.idleStreamMs / 1000;
    return new EmotrainError('STREAM_IDLE', `${stream} sent nothing for ${seconds} s while ${awaited} was due; it is closed`);
  }

  private readonly report: Handler<'Report'> = (call, callback) => {
    try {
      this.authenticate(call.metadata, call.getPeer());
      this.host.report(requireOneof(call.request, 'a report'));
      callback(null, {});
    } catch (error) {
      callback(serviceError(error));
    }
  };
}
