// The worker's side of the wire: one gRPC channel to the coordinator, the token on every call,
// and each RPC wrapped as a promise or an async stream with its framing checked.

import * as grpc from '@grpc/grpc-js';
import { EmotrainError, ProtocolError, describeError } from '../shared/errors.js';
import {
  CHANNEL_OPTIONS,
  PayloadReceiver,
  authMetadata,
  chunkPayload,
  loadTrainerService,
  requireOneof,
  RpcError,
  rpcError,
  writeMessage,
  type ExchangeDownload,
  type GradientHeader,
  type JoinReply,
  type JoinRequest,
  type ReducedHeader,
  type ReportRequest,
  type StateManifest,
  type TensorChunk,
  type TrainerClient,
  type WorkerRef,
} from '../shared/wire/index.js';
import type { Command__Output } from '../shared/wire/generated/emotrain/v1/Command.js';
import type { ExchangeDownload__Output } from '../shared/wire/generated/emotrain/v1/ExchangeDownload.js';
import type { ExchangeUpload } from '../shared/wire/generated/emotrain/v1/ExchangeUpload.js';
import type { ReducedHeader__Output } from '../shared/wire/generated/emotrain/v1/ReducedHeader.js';
import { ExchangeLink } from './exchange-link.js';

export interface TlsFiles {
  ca?: Buffer | undefined;
  cert?: Buffer | undefined;
  key?: Buffer | undefined;
}

/** One step's Exchange call as the worker drives it: grpc-js' duplex call, or another transport's. */
export interface ExchangeCall extends NodeJS.EventEmitter {
  write(message: ExchangeUpload, callback?: (error?: Error | null) => void): boolean;
  end(): void;
  cancel(): void;
}

function clientCredentials(tls: TlsFiles | undefined): grpc.ChannelCredentials {
  if (!tls) return grpc.credentials.createInsecure();
  return grpc.credentials.createSsl(tls.ca ?? null, tls.key ?? null, tls.cert ?? null);
}

/**
 * Restarts of one step's exchange this worker goes along with: another member's upload broke off
 * (STEP_RESTARTED), or the coordinator dropped this worker's own upload half-sent, because it went
 * quiet too long (STREAM_IDLE) or its stream ended short (UPLOAD_INCOMPLETE). Either way the
 * coordinator kept nothing of it and takes the whole upload again.
 */
const MAX_STEP_RESTARTS = 5;
const SENT_AGAIN: ReadonlySet<string> = new Set(['STEP_RESTARTED', 'STREAM_IDLE', 'UPLOAD_INCOMPLETE']);

/**
 * How a worker speaks a step's Exchange: on node:http2, on a connection of its own
 * (worker/exchange-link.ts; the default), or through grpc-js with the other calls (what
 * bench:exchange --exchange-transport grpc-js measures it against).
 */
export type ExchangeTransport = 'http2' | 'grpc-js';

export class CoordinatorClient {
  private readonly client: TrainerClient;
  private readonly metadata: () => grpc.Metadata;
  private readonly exchangeLink: ExchangeLink | undefined;

  constructor(
    readonly address: string,
    token: string,
    tls?: TlsFiles,
    exchangeTransport: ExchangeTransport = 'http2',
  ) {
    const Trainer = loadTrainerService().client;
    this.client = new Trainer(address, clientCredentials(tls), CHANNEL_OPTIONS);
    this.metadata = () => authMetadata(token);
    this.exchangeLink = exchangeTransport === 'http2' ? new ExchangeLink(address, token, tls) : undefined;
  }

  close(): void {
    this.client.close();
    this.exchangeLink?.close();
  }

  /** Waits until the channel is connected, so a wrong address fails fast with a clear message. */
  waitForReady(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.client.waitForReady(Date.now() + timeoutMs, (error) =>
        error ? reject(new RpcError('RPC_UNAVAILABLE', `cannot reach the coordinator at ${this.address} within ${timeoutMs} ms: ${error.message}`, grpc.status.UNAVAILABLE)) : resolve(),
      );
    });
  }

  join(request: JoinRequest): Promise<JoinReply> {
    return new Promise((resolve, reject) => {
      this.client.join(request, this.metadata(), (error, reply) =>
        error || !reply ? reject(rpcError(`joining the coordinator at ${this.address}`, error ?? new Error('no reply'))) : resolve(reply),
      );
    });
  }

  /** The command stream; iterate it with for-await. Ends when the coordinator ends it. */
  commands(ref: WorkerRef): grpc.ClientReadableStream<Command__Output> {
    return this.client.commands(ref, this.metadata());
  }

  /**
   * The heartbeat stream. `ended` hears how the call ended (an error, or null for OK). grpc-js gives
   * a client-streaming call's status to this callback only: its stream emits no 'error' for it.
   */
  heartbeat(ended: (error: grpc.ServiceError | null) => void = () => undefined): ReturnType<TrainerClient['heartbeat']> {
    return this.client.heartbeat(this.metadata(), (error: grpc.ServiceError | null) => ended(error));
  }

  /**
   * Fetches the model state. `plan` sees the manifest first and returns where its payload goes
   * (after checking it), so sizes are validated before any byte is written.
   */
  fetchState(ref: WorkerRef, plan: (manifest: StateManifest) => Uint8Array[]): Promise<StateManifest> {
    const stream = this.client.fetchState(ref, this.metadata());
    return receiveHeaderAndPayload(stream, 'fetching the model state', (received) => {
      const message = requireOneof(received, 'a state message');
      return message.kind === 'manifest' ? { header: message.manifest } : { chunk: message.data };
    }, plan);
  }

  /**
   * One step's exchange: streams `header` and `payload` up while the reduced payload streams down
   * into `targets` (this replica's own layout), then takes the verdict that ends the call. A step
   * the coordinator restarted (another member's upload broke off) is uploaded again.
   * `ready(end)`, when given, resolves once the payload's bytes up to `end` may be sent (a ring's
   * owned segment becomes final chunk by chunk); when it rejects, the upload is cancelled with
   * its error.
   */
  async exchange(header: GradientHeader, payload: readonly Uint8Array[], targets: () => Uint8Array[], ready?: (end: number) => Promise<void>): Promise<ReducedHeader> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.exchangeOnce(header, payload, targets(), ready);
      } catch (error) {
        if (!(error instanceof RpcError && SENT_AGAIN.has(error.code)) || attempt >= MAX_STEP_RESTARTS) throw error;
      }
    }
  }

  private async exchangeOnce(header: GradientHeader, payload: readonly Uint8Array[], targets: Uint8Array[], ready: ((end: number) => Promise<void>) | undefined): Promise<ReducedHeader> {
    const call: ExchangeCall = this.exchangeLink?.open() ?? this.client.exchange(this.metadata());
    const what = `the gradient exchange of step ${header.step}`;
    const receiver = new PayloadReceiver(targets, what);
    const result = new Promise<ReducedHeader>((resolve, reject) => {
      let verdict: ReducedHeader | undefined;
      let failed = false;
      const fail = (error: Error) => {
        if (failed) return;
        failed = true;
        call.cancel();
        reject(error);
      };
      call.on('data', (received: ExchangeDownload__Output) => {
        if (failed) return;
        try {
          const message = requireOneof(received, 'an exchange reply') as ExchangeDownload;
          if (verdict) throw new ProtocolError('PROTOCOL_INVALID', `${what}: the coordinator sent more after its verdict`);
          if (message.kind === 'chunk') {
            receiver.write(message.chunk);
            return;
          }
          const reduced = checkReducedHeader(message.header, what);
          if (reduced.step !== header.step) throw new ProtocolError('PROTOCOL_WRONG_STEP', `${what}: the coordinator answered for step ${reduced.step}`);
          if (reduced.dtype !== header.dtype || reduced.gradientElements !== header.gradientElements || reduced.stateElements !== header.stateElements) {
            throw new ProtocolError(
              'PROTOCOL_WRONG_SIZE',
              `${what}: the verdict describes ${reduced.gradientElements}+${reduced.stateElements} ${reduced.dtype} values, this replica sent ${header.gradientElements}+${header.stateElements} ${header.dtype}`,
            );
          }
          receiver.finish();
          verdict = reduced;
        } catch (error) {
          fail(error as Error);
        }
      });
      call.on('error', (error: grpc.ServiceError) => fail(rpcError(what, error)));
      call.on('end', () => {
        if (failed) return;
        if (verdict) resolve(verdict);
        else fail(new ProtocolError('PROTOCOL_INVALID', `${what}: the stream ended without a verdict`));
      });
    });
    // Awaited below; it may fail (the step restarted, the run stopped) while chunks still go up.
    result.catch(() => undefined);
    // Once the call is decided (a verdict, or the coordinator failed it: a restart, an abandoned
    // step), nothing more goes up; grpc-js then neither drains nor closes, so every wait below
    // also ends when the call does.
    let over = false;
    const decided = result.then(() => undefined, () => undefined).then(() => {
      over = true;
    });
    let unready: unknown;
    try {
      await Promise.race([writeMessage<ExchangeUpload>(call, { kind: 'header', header }), decided]);
      for (const chunk of chunkPayload(payload)) {
        if (over) break;
        if (ready) {
          try {
            await Promise.race([ready(chunk.offset + chunk.data.byteLength), decided]);
          } catch (error) {
            unready = error;
            throw error;
          }
          if (over) break;
        }
        // Flow control holds the chunks back, not a wait for each write: a chunk may sit in the
        // stream's queue, which is safe because nothing writes the payload's buffers before the
        // verdict, and the verdict comes after the coordinator took every chunk.
        if (!call.write({ kind: 'chunk', chunk })) await Promise.race([drained(call), decided]);
      }
      if (!over) call.end();
    } catch {
      // The call already failed, and `result` carries the status that says why; or the payload
      // will not be ready, and the upload is cancelled with what said so.
      if (unready !== undefined) {
        call.cancel();
        await result.catch(() => undefined);
        throw unready;
      }
    }
    return result;
  }

  /** Tells the coordinator why this worker is about to leave (within `deadlineMs`). */
  reportFailure(ref: WorkerRef, error: unknown, deadlineMs: number): Promise<void> {
    const code = error instanceof EmotrainError ? error.code : 'UNKNOWN';
    return new Promise((resolve, reject) => {
      this.client.report({ ...ref, kind: 'failure', failure: { code, message: describeError(error) } }, this.metadata(), { deadline: Date.now() + deadlineMs }, (failure) =>
        failure ? reject(rpcError('reporting this worker\'s failure', failure)) : resolve(),
      );
    });
  }

  report(request: ReportRequest): Promise<void> {
    return new Promise((resolve, reject) => {
      this.client.report(request, this.metadata(), (error) => (error ? reject(rpcError(`reporting ${request.kind}`, error)) : resolve()));
    });
  }
}

/** A reduced header with a dtype this replica can use. */
function checkReducedHeader(header: ReducedHeader__Output, what: string): ReducedHeader {
  if (header.dtype !== 'TENSOR_DTYPE_FLOAT16' && header.dtype !== 'TENSOR_DTYPE_FLOAT32') {
    throw new ProtocolError('PROTOCOL_INVALID', `${what}: the reduced gradients have dtype ${header.dtype}`);
  }
  return header as ReducedHeader;
}

/**
 * Reads a stream that sends one header and then the chunks of a payload: the header decides where
 * the payload goes (`targets`), chunks must arrive in order and complete it, and the stream must
 * end after them. Resolves with the header; any violation or call error cancels the call.
 */
function receiveHeaderAndPayload<M, H>(
  stream: grpc.ClientReadableStream<M> | grpc.ClientDuplexStream<unknown, M>,
  what: string,
  classify: (message: M) => { header: H } | { chunk: TensorChunk },
  targets: (header: H) => Uint8Array[],
): Promise<H> {
  return new Promise((resolve, reject) => {
    let header: H | undefined;
    let receiver: PayloadReceiver | undefined;
    let failed = false;
    const fail = (error: Error) => {
      if (failed) return;
      failed = true;
      stream.cancel();
      reject(error);
    };
    stream.on('data', (message: M) => {
      if (failed) return;
      try {
        const part = classify(message);
        if ('header' in part) {
          if (header !== undefined) throw new ProtocolError('PROTOCOL_INVALID', `${what}: the coordinator sent two headers`);
          header = part.header;
          receiver = new PayloadReceiver(targets(header), what);
        } else {
          if (!receiver) throw new ProtocolError('PROTOCOL_INVALID', `${what}: data arrived before its header`);
          receiver.write(part.chunk);
        }
      } catch (error) {
        fail(error as Error);
      }
    });
    stream.on('error', (error: grpc.ServiceError) => fail(rpcError(what, error)));
    stream.on('end', () => {
      if (failed) return;
      try {
        if (header === undefined || !receiver) throw new ProtocolError('PROTOCOL_INVALID', `${what}: the stream ended without a header`);
        receiver.finish();
        resolve(header);
      } catch (error) {
        fail(error as Error);
      }
    });
  });
}

/** Resolves once `stream` takes writes again, or will never (it closed or failed). */
function drained(stream: NodeJS.EventEmitter): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      for (const event of ['drain', 'close', 'error']) stream.off(event, done);
      resolve();
    };
    for (const event of ['drain', 'close', 'error']) stream.on(event, done);
  });
}
