// The gRPC wire: loading proto/emotrain.proto, the TypeScript shapes of its messages (as
// @grpc/proto-loader delivers them: camelCase fields, uint64 as number, enums as strings, the
// oneof's set field name in `kind`), and the helpers both sides use to stream byte payloads.

import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ProtocolError } from './errors.js';

export const PROTOCOL_VERSION = 1;
/** Bulk payloads travel in chunks of this many bytes (SPEC §2: "bytes fields of a few MiB"). */
export const CHUNK_BYTES = 2 * 1024 * 1024;
/** Large enough for a chunk plus a step command with its sample images. */
export const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

export const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
  'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
};

if (os.endianness() !== 'LE') {
  // Payloads are the raw bytes of typed arrays; every platform Node and tfjs support is little-endian.
  throw new ProtocolError('PROTOCOL_INVALID', 'emotrain needs a little-endian host: tensor payloads are raw little-endian bytes');
}

/** The repository root, found from this file whether it runs from source or from dist/. */
export function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`cannot find package.json above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
  return dir;
}

let trainerService: grpc.ServiceClientConstructor | undefined;

/** The Trainer service definition, loaded once per process. */
export function loadTrainerService(): grpc.ServiceClientConstructor {
  if (!trainerService) {
    const definition = protoLoader.loadSync(path.join(packageRoot(), 'proto', 'emotrain.proto'), {
      keepCase: false,
      longs: Number,
      enums: String,
      defaults: true,
      oneofs: true,
    });
    const pkg = grpc.loadPackageDefinition(definition) as unknown as { emotrain: { v1: { Trainer: grpc.ServiceClientConstructor } } };
    trainerService = pkg.emotrain.v1.Trainer;
  }
  return trainerService;
}

// ---- message shapes --------------------------------------------------------------------------

export type TensorDtype = 'TENSOR_DTYPE_FLOAT32' | 'TENSOR_DTYPE_FLOAT16';

export interface JoinRequest {
  protocolVersion: number;
  host: string;
  gpu: number;
  pid: number;
  backend: string;
  requestedRank: number;
  /** The worker reads samples from its own copy of the dataset (worker --data-dir). */
  localData: boolean;
}
export interface JoinReply {
  runId: string;
  workerId: string;
  rank: number;
  configJson: string;
}
export interface WorkerRef {
  runId: string;
  workerId: string;
}
export interface Sample {
  id: number;
  label: number;
  /** Empty when the worker has the sample already, or reads it from its local copy. */
  image: Buffer;
  /** For a worker with local data: the file relative to the dataset root ('/'-separated), and its sha256. */
  path: string;
  sha256: string;
}
export interface TrainStep {
  step: number;
  epoch: number;
  worldSize: number;
  globalBatch: number;
  samples: Sample[];
  stepSeed: number;
}
export interface Evaluate {
  evaluationId: number;
  split: string;
  samples: Sample[];
  returnProbabilities: boolean;
}
export type Command =
  | { kind: 'trainStep'; trainStep: TrainStep }
  | { kind: 'evaluate'; evaluate: Evaluate }
  | { kind: 'checksum'; checksum: { step: number } }
  | { kind: 'stop'; stop: { reason: string } };

export interface TensorSpec {
  name: string;
  shape: number[];
}
export interface StateManifest {
  weights: TensorSpec[];
  optimizerIteration: number;
  hasOptimizerSlots: boolean;
  step: number;
  learningRate: number;
  totalElements: number;
  lossScale: number;
}
export interface TensorChunk {
  offset: number;
  data: Buffer;
}
export type StateChunk = { kind: 'manifest'; manifest: StateManifest } | { kind: 'data'; data: TensorChunk };

export interface StepTimings {
  dataSeconds: number;
  computeSeconds: number;
  exchangeSeconds: number;
  applySeconds: number;
  totalSeconds: number;
}
export interface GradientHeader extends WorkerRef {
  step: number;
  lossScale: number;
  dtype: TensorDtype;
  gradientElements: number;
  stateElements: number;
  shardSize: number;
  lossSum: number;
  correct: number;
  regularizationLoss: number;
  timings: StepTimings;
}
export type ExchangeUpload = { kind: 'header'; header: GradientHeader } | { kind: 'chunk'; chunk: TensorChunk };

export interface ReducedHeader {
  step: number;
  applied: boolean;
  skipReason: string;
  lossScale: number;
  dtype: TensorDtype;
  gradientElements: number;
  stateElements: number;
  learningRate: number;
  optimizerIteration: number;
  nextLossScale: number;
}
export type ExchangeDownload = { kind: 'header'; header: ReducedHeader } | { kind: 'chunk'; chunk: TensorChunk };

export interface EvaluationResult {
  evaluationId: number;
  count: number;
  correct: number;
  confusion: number[];
  sampleIds: number[];
  probabilities: number[];
  regularizationLoss: number;
  sampleLosses: number[];
}
export interface ChecksumResult {
  step: number;
  sha256: string;
}
export type ReportRequest = WorkerRef &
  ({ kind: 'evaluation'; evaluation: EvaluationResult } | { kind: 'checksum'; checksum: ChecksumResult });

export function bytesPerElement(dtype: TensorDtype): number {
  return dtype === 'TENSOR_DTYPE_FLOAT16' ? 2 : 4;
}

// ---- auth ------------------------------------------------------------------------------------

export function authMetadata(token: string): grpc.Metadata {
  const metadata = new grpc.Metadata();
  metadata.set('authorization', `Bearer ${token}`);
  return metadata;
}

export function tokenFromMetadata(metadata: grpc.Metadata): string | undefined {
  const value = metadata.get('authorization')[0];
  if (typeof value !== 'string') return undefined;
  const match = /^Bearer (.+)$/.exec(value);
  return match ? match[1] : undefined;
}

// ---- byte payloads ---------------------------------------------------------------------------

export function bytesOf(array: Float32Array | Uint16Array): Uint8Array {
  return new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
}

/** Cuts a payload made of consecutive segments into chunks; a chunk never spans two segments. */
export function* chunkPayload(segments: readonly Uint8Array[], chunkBytes = CHUNK_BYTES): Generator<TensorChunk> {
  let offset = 0;
  for (const segment of segments) {
    for (let start = 0; start < segment.byteLength; start += chunkBytes) {
      const end = Math.min(start + chunkBytes, segment.byteLength);
      yield { offset: offset + start, data: Buffer.from(segment.buffer, segment.byteOffset + start, end - start) };
    }
    offset += segment.byteLength;
  }
}

/**
 * Receives a chunked payload into consecutive target segments, checking that chunks arrive in
 * order, without gaps or overlap, and never past the end. `what` names the payload in errors.
 */
export class PayloadReceiver {
  private readonly totalBytes: number;
  private received = 0;

  constructor(
    private readonly segments: readonly Uint8Array[],
    private readonly what: string,
  ) {
    this.totalBytes = segments.reduce((sum, s) => sum + s.byteLength, 0);
  }

  get complete(): boolean {
    return this.received === this.totalBytes;
  }

  get receivedBytes(): number {
    return this.received;
  }

  get expectedBytes(): number {
    return this.totalBytes;
  }

  write(chunk: TensorChunk): void {
    const data = chunk.data;
    if (chunk.offset !== this.received) {
      throw new ProtocolError('PROTOCOL_INVALID', `${this.what}: chunk at byte ${chunk.offset}, expected byte ${this.received} (chunks must arrive in order)`);
    }
    if (this.received + data.byteLength > this.totalBytes) {
      throw new ProtocolError(
        'PROTOCOL_WRONG_SIZE',
        `${this.what}: ${this.received + data.byteLength} bytes received, more than the ${this.totalBytes} declared`,
      );
    }
    let source = 0;
    let position = this.received;
    for (const segment of this.segments) {
      if (source === data.byteLength) break;
      if (position >= segment.byteLength) {
        position -= segment.byteLength;
        continue;
      }
      const n = Math.min(segment.byteLength - position, data.byteLength - source);
      segment.set(data.subarray(source, source + n), position);
      source += n;
      position = 0;
    }
    this.received += data.byteLength;
  }

  /** Throws unless every declared byte arrived. */
  finish(): void {
    if (!this.complete) {
      throw new ProtocolError('PROTOCOL_WRONG_SIZE', `${this.what}: stream ended after ${this.received} of ${this.totalBytes} bytes`);
    }
  }
}

/**
 * Writes a message to a gRPC stream and resolves once grpc-js has serialised it. Chunks are views
 * of buffers that are reused (the next step's gradients overwrite them), so a chunk must not sit
 * unserialised in the stream's queue when its buffer changes; waiting for each write's callback
 * also bounds memory to one chunk in flight per stream.
 */
export function writeMessage<T>(stream: { write(message: T, callback: (error?: Error | null) => void): boolean }, message: T): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.write(message, (error) => (error ? reject(error) : resolve()));
  });
}

/** A grpc ServiceError with a status code and a readable message. */
export function serviceError(code: grpc.status, message: string): grpc.ServiceError {
  const error = new Error(message) as grpc.ServiceError;
  error.code = code;
  error.details = message;
  error.metadata = new grpc.Metadata();
  return error;
}

/** The status code that fits one of our errors when it goes back over gRPC. */
export function statusOf(error: unknown): grpc.status {
  const code = (error as { code?: unknown }).code;
  if (typeof code !== 'string') return grpc.status.INTERNAL;
  if (code === 'AUTH_REFUSED') return grpc.status.UNAUTHENTICATED;
  if (code === 'PROTOCOL_WRONG_RUN') return grpc.status.PERMISSION_DENIED;
  if (code.startsWith('PROTOCOL_') || code === 'CONFIG_INVALID') return grpc.status.INVALID_ARGUMENT;
  if (code === 'RUN_STOPPED' || code === 'WORKER_LOST') return grpc.status.ABORTED;
  return grpc.status.INTERNAL;
}
