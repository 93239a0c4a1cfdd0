// The coordinator's connection to NATS, made so that NATS can never stop a run (issue 13, point
// 1): a server that is down at the start or goes away mid-run is reported and retried for ever
// in the background, publications wait in a bounded queue meanwhile, and the subscriptions that
// answer requests are made again on every new connection. Only a server that refuses our
// credentials is an error, and only at the start, where it is a mistake in the command line.

import { connect, type Msg, type NatsConnection, headers as natsHeaders } from '@nats-io/transport-node';
import { ControlError, describeError } from '../errors.js';
import { connectionOptions, describeNats, type NatsSettings } from './nats-settings.js';

/** What the control plane needs of a message bus; tests give it a fake. */
export interface ControlBus {
  publish(subject: string, payload: Uint8Array, headers?: Record<string, string>): void;
  /** Answers every request on `subject` with what `respond` returns. */
  serve(subject: string, respond: (payload: Uint8Array) => Uint8Array): void;
  /** Whether the server we are connected to authenticates its clients (its INFO says auth_required). */
  serverAuthenticates(): boolean;
}

export type BusChange =
  | { kind: 'connected'; server: string }
  | { kind: 'unreachable'; servers: string; error: string }
  | { kind: 'disconnected'; server: string }
  | { kind: 'reconnected'; server: string; outageSeconds: number }
  | { kind: 'dropped'; count: number };

/** Publications kept while disconnected before the oldest are dropped (and counted). */
const MAX_QUEUED = 10_000;
const RETRY_MS = 1000;

export class NatsBus implements ControlBus {
  private connection: NatsConnection | undefined;
  private readonly queued: Array<{ subject: string; payload: Uint8Array; headers?: Record<string, string> }> = [];
  private readonly handlers = new Map<string, (payload: Uint8Array) => Uint8Array>();
  private dropped = 0;
  private closing = false;
  private everConnected = false;
  private disconnectedAtMs: number | undefined;

  private constructor(
    private readonly settings: NatsSettings,
    private readonly name: string,
    private readonly report: (change: BusChange) => void,
  ) {}

  /**
   * Connects once and returns; a server that cannot be reached is reported and retried in the
   * background. Throws only when the server refuses the credentials.
   */
  static async start(settings: NatsSettings, name: string, report: (change: BusChange) => void): Promise<NatsBus> {
    const bus = new NatsBus(settings, name, report);
    try {
      bus.adopt(await connect({ ...connectionOptions(settings, name), ...bus.reconnectForever(), timeout: 5000 }));
    } catch (error) {
      if (isAuthError(error)) {
        throw new ControlError('CONTROL_AUTH_FAILED', `NATS ${describeNats(settings)} refused our credentials: ${(error as Error).message}`);
      }
      report({ kind: 'unreachable', servers: settings.servers.join(','), error: describeError(error) });
      bus.connectInBackground();
    }
    return bus;
  }

  private reconnectForever() {
    return { reconnect: true, maxReconnectAttempts: -1, reconnectTimeWait: RETRY_MS, reconnectJitter: 200, pingInterval: 5000, maxPingOut: 2 };
  }

  /**
   * One attempt per RETRY_MS until a server answers. Our own loop rather than the client's
   * waitOnFirstConnect, which cannot be cancelled: a finished run must be able to exit while NATS
   * is still down (the retry timer is unref'd).
   */
  private connectInBackground(): void {
    if (this.closing) return;
    this.disconnectedAtMs ??= Date.now();
    connect({ ...connectionOptions(this.settings, this.name), ...this.reconnectForever(), timeout: 2000 }).then(
      (connection) => {
        if (this.closing) {
          void connection.close();
          return;
        }
        this.adopt(connection);
      },
      () => setTimeout(() => this.connectInBackground(), RETRY_MS).unref(),
    );
  }

  private adopt(connection: NatsConnection): void {
    this.connection = connection;
    const server = connection.getServer();
    if (this.everConnected && this.disconnectedAtMs !== undefined) {
      this.report({ kind: 'reconnected', server, outageSeconds: (Date.now() - this.disconnectedAtMs) / 1000 });
    } else {
      this.report({ kind: 'connected', server });
    }
    this.everConnected = true;
    this.disconnectedAtMs = undefined;
    for (const [subject, respond] of this.handlers) this.subscribe(subject, respond);
    this.flushQueue();
    void this.watch(connection);
  }

  private async watch(connection: NatsConnection): Promise<void> {
    for await (const status of connection.status()) {
      if (status.type === 'disconnect') {
        this.disconnectedAtMs = Date.now();
        this.report({ kind: 'disconnected', server: status.server });
      } else if (status.type === 'reconnect') {
        const outageSeconds = this.disconnectedAtMs === undefined ? 0 : (Date.now() - this.disconnectedAtMs) / 1000;
        this.disconnectedAtMs = undefined;
        this.report({ kind: 'reconnected', server: status.server, outageSeconds });
        this.flushQueue();
      }
    }
    // The status iterator ends with the connection. Closed by us: done; otherwise (the client
    // gave up, e.g. after repeated auth errors) start again from scratch.
    if (this.connection === connection) this.connection = undefined;
    if (!this.closing) this.connectInBackground();
  }

  private subscribe(subject: string, respond: (payload: Uint8Array) => Uint8Array): void {
    const connection = this.connection;
    if (!connection) return;
    // nats.js makes a subscription again by itself after a reconnect; a new connection gets new ones (adopt).
    connection.subscribe(subject, {
      callback: (error: Error | null, message: Msg) => {
        if (error || !message.reply) return;
        message.respond(respond(message.data));
      },
    });
  }

  private connected(): NatsConnection | undefined {
    const connection = this.connection;
    return connection && !connection.isClosed() && this.disconnectedAtMs === undefined ? connection : undefined;
  }

  private flushQueue(): void {
    const connection = this.connected();
    if (!connection) return;
    if (this.dropped > 0) {
      this.report({ kind: 'dropped', count: this.dropped });
      this.dropped = 0;
    }
    for (const item of this.queued.splice(0)) this.send(connection, item.subject, item.payload, item.headers);
  }

  private send(connection: NatsConnection, subject: string, payload: Uint8Array, headers: Record<string, string> | undefined): void {
    if (!headers) {
      connection.publish(subject, payload);
      return;
    }
    const h = natsHeaders();
    for (const [key, value] of Object.entries(headers)) h.set(key, value);
    connection.publish(subject, payload, { headers: h });
  }

  publish(subject: string, payload: Uint8Array, headers?: Record<string, string>): void {
    const connection = this.connected();
    if (connection && this.queued.length === 0) {
      try {
        this.send(connection, subject, payload, headers);
        return;
      } catch {
        // The connection went away between the check and the write: keep it for the next one.
      }
    }
    this.queued.push({ subject, payload, ...(headers ? { headers } : {}) });
    if (this.queued.length > MAX_QUEUED) {
      this.queued.shift();
      this.dropped++;
    }
  }

  serve(subject: string, respond: (payload: Uint8Array) => Uint8Array): void {
    this.handlers.set(subject, respond);
    this.subscribe(subject, respond);
  }

  serverAuthenticates(): boolean {
    return this.connection?.info?.auth_required === true;
  }

  /** Sends what is queued if a server is there (waiting at most `timeoutMs`), then closes. */
  async close(timeoutMs = 2000): Promise<void> {
    this.closing = true;
    const connection = this.connection;
    if (!connection || connection.isClosed()) return;
    const flushed = this.connected() ? connection.flush().catch(() => undefined) : Promise.resolve();
    await Promise.race([flushed, new Promise((resolve) => setTimeout(resolve, timeoutMs).unref())]);
    await connection.close().catch(() => undefined);
  }
}

export function isAuthError(error: unknown): boolean {
  const text = `${(error as Error)?.name ?? ''} ${(error as Error)?.message ?? ''} ${String((error as { cause?: unknown })?.cause ?? '')}`;
  return /Authorization|authentication|auth(orization)? violation|AuthenticationExpired/i.test(text);
}
