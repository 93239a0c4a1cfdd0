// The coordinator's gRPC service: a thin shell, typed by the generated TrainerHandlers, that
// authenticates every call, parses the stream framing, and hands the decisions to a TrainerHost
// (the protocol session). Errors go back as gRPC statuses whose message names what was wrong;
// nothing a handler rejects reaches the run's state.

import * as grpc from '@grpc/grpc-js';
import { timingSafeEqual } from 'node:crypto';
import { AuthError, ProtocolError } from '../shared/errors.js';
import {
  CHANNEL_OPTIONS,
  chunkPayload,
  loadTrainerService,
  requireOneof,
  serviceError,
  tokenFromMetadata,
  writeMessage,
  type TrainerHandlers,
} from '../shared/wire/index.js';
import type { TrainerHost } from './protocol-session.js';
import type { UploadSession } from './step-engine.js';

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

type Handler<K extends keyof TrainerHandlers> = TrainerHandlers[K];

export class TrainerServer {
  private readonly server = new grpc.Server(CHANNEL_OPTIONS);
  private readonly expectedToken: Buffer;

  constructor(
    private readonly host: TrainerHost,
    token: string,
  ) {
    this.expectedToken = Buffer.from(token, 'utf8');
    const handlers: TrainerHandlers = {
      Join: this.join,
      Commands: this.commands,
      Heartbeat: this.heartbeat,
      FetchState: this.fetchState,
      Exchange: this.exchange,
      Report: this.report,
    };
    this.server.addService(loadTrainerService().service, handlers);
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

  private readonly join: Handler<'Join'> = (call, callback) => {
    try {
      this.authenticate(call.metadata, call.getPeer());
      callback(null, this.host.join(call.request, call.getPeer()));
    } catch (error) {
      callback(serviceError(error));
    }
  };

  private readonly commands: Handler<'Commands'> = (call) => {
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
      call.emit('error', serviceError(error));
    }
  };

  private readonly heartbeat: Handler<'Heartbeat'> = (call, callback) => {
    try {
      this.authenticate(call.metadata, call.getPeer());
    } catch (error) {
      callback(serviceError(error));
      return;
    }
    let failed = false;
    call.on('data', (ping) => {
      if (failed) return;
      try {
        this.host.heartbeat(ping);
      } catch (error) {
        failed = true;
        callback(serviceError(error));
      }
    });
    call.on('end', () => {
      if (!failed) callback(null, {});
    });
    call.on('error', () => {
      failed = true;
    });
  };

  private readonly fetchState: Handler<'FetchState'> = async (call) => {
    try {
      this.authenticate(call.metadata, call.getPeer());
      const { manifest, payload } = this.host.state(call.request);
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

  private readonly exchange: Handler<'Exchange'> = (call) => {
    const peer = call.getPeer();
    let session: UploadSession | undefined;
    let failed = false;
    const fail = (error: unknown) => {
      if (failed) return;
      failed = true;
      session?.abort(String(error));
      call.emit('error', serviceError(error));
    };
    try {
      this.authenticate(call.metadata, peer);
    } catch (error) {
      fail(error);
      return;
    }
    call.on('data', (received) => {
      if (failed) return;
      try {
        const message = requireOneof(received, 'an exchange message');
        if (message.kind === 'header') {
          if (session) throw new ProtocolError('PROTOCOL_INVALID', `a second gradient header on one exchange (step ${message.header.step})`);
          session = this.host.beginUpload(message.header, peer);
        } else {
          if (!session) throw new ProtocolError('PROTOCOL_INVALID', 'a gradient chunk arrived before the header');
          session.receiver.write(message.chunk);
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
            await writeMessage(call, { kind: 'header', header: outcome.header });
            for (const chunk of chunkPayload(outcome.payload)) {
              if (call.cancelled) return;
              await writeMessage(call, { kind: 'chunk', chunk });
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
  };

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
