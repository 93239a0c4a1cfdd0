// The messages of proto/emotrain.proto as the rest of the code uses them: the generated types (as
// @grpc/proto-loader delivers them: camelCase fields, uint64 as number, enums as strings, every
// field present), with each `oneof` turned into a discriminated union on `kind` so that a switch
// narrows it. Nothing here is written by hand but the narrowing.

import { ProtocolError } from '../errors.js';
import type { ChecksumResult__Output } from './generated/emotrain/v1/ChecksumResult.js';
import type { Command__Output } from './generated/emotrain/v1/Command.js';
import type { CommandsRequest__Output } from './generated/emotrain/v1/CommandsRequest.js';
import type { Evaluate__Output } from './generated/emotrain/v1/Evaluate.js';
import type { EvaluationResult__Output } from './generated/emotrain/v1/EvaluationResult.js';
import type { ExchangeDownload__Output } from './generated/emotrain/v1/ExchangeDownload.js';
import type { ExchangeUpload__Output } from './generated/emotrain/v1/ExchangeUpload.js';
import type { GradientHeader__Output } from './generated/emotrain/v1/GradientHeader.js';
import type { HeartbeatPing__Output } from './generated/emotrain/v1/HeartbeatPing.js';
import type { JoinReply__Output } from './generated/emotrain/v1/JoinReply.js';
import type { JoinRequest__Output } from './generated/emotrain/v1/JoinRequest.js';
import type { ReducedHeader__Output } from './generated/emotrain/v1/ReducedHeader.js';
import type { ReportRequest__Output } from './generated/emotrain/v1/ReportRequest.js';
import type { RingChunk__Output } from './generated/emotrain/v1/RingChunk.js';
import type { RingHeader__Output } from './generated/emotrain/v1/RingHeader.js';
import type { RingMessage__Output } from './generated/emotrain/v1/RingMessage.js';
import type { RingPeer__Output } from './generated/emotrain/v1/RingPeer.js';
import type { Sample__Output } from './generated/emotrain/v1/Sample.js';
import type { StateChunk__Output } from './generated/emotrain/v1/StateChunk.js';
import type { StateManifest__Output } from './generated/emotrain/v1/StateManifest.js';
import type { StepTimings__Output } from './generated/emotrain/v1/StepTimings.js';
import type { TensorChunk__Output } from './generated/emotrain/v1/TensorChunk.js';
import type { TensorDtype__Output } from './generated/emotrain/v1/TensorDtype.js';
import type { TensorSpec__Output } from './generated/emotrain/v1/TensorSpec.js';
import type { TrainStep__Output } from './generated/emotrain/v1/TrainStep.js';

export type JoinRequest = JoinRequest__Output;
export type JoinReply = JoinReply__Output;
/** The run and worker every message after Join names. */
export type WorkerRef = CommandsRequest__Output;
export type HeartbeatPing = HeartbeatPing__Output;
export type Sample = Sample__Output;
export type TrainStep = TrainStep__Output;
export type Evaluate = Evaluate__Output;
export type TensorDtype = Exclude<TensorDtype__Output, 'TENSOR_DTYPE_UNSPECIFIED'>;
export type TensorSpec = TensorSpec__Output;
export type TensorChunk = TensorChunk__Output;
export type StateManifest = StateManifest__Output;
export type StepTimings = StepTimings__Output;
export type EvaluationResult = EvaluationResult__Output;
export type RingPeer = RingPeer__Output;
export type RingChunk = RingChunk__Output;
/** A ring header whose dtype is known to be set. */
export type RingHeader = Omit<RingHeader__Output, 'dtype'> & { dtype: TensorDtype };
export type ChecksumResult = ChecksumResult__Output;
/** A gradient header whose dtype and timings are known to be set (see `requireGradientHeader`). */
export type GradientHeader = Omit<GradientHeader__Output, 'dtype' | 'timings'> & { dtype: TensorDtype; timings: StepTimings };
export type ReducedHeader = Omit<ReducedHeader__Output, 'dtype'> & { dtype: TensorDtype };

/**
 * A generated message with a `oneof kind` as a union with one member per set field: `kind` names
 * the field, and that field is present.
 */
export type Oneof<T extends { kind?: string }, Fields = {}> = {
  [K in NonNullable<T['kind']>]: Omit<T, 'kind' | NonNullable<T['kind']>> & { kind: K } & { [F in K]: K extends keyof Fields ? Fields[K] : NonNullable<T[F & keyof T]> };
}[NonNullable<T['kind']>];

export type Command = Oneof<Command__Output>;
export type StateChunk = Oneof<StateChunk__Output>;
export type ExchangeUpload = Oneof<ExchangeUpload__Output, { header: GradientHeader }>;
export type ExchangeDownload = Oneof<ExchangeDownload__Output, { header: ReducedHeader }>;
export type ReportRequest = Oneof<ReportRequest__Output>;
export type RingMessage = Oneof<RingMessage__Output, { header: RingHeader__Output }>;

/**
 * Checks that a received message has its oneof set, and returns it as the union. `what` names the
 * message in the error, e.g. "a command from the coordinator".
 */
export function requireOneof<T extends { kind?: string }>(message: T, what: string): Oneof<T> {
  const kind = message.kind;
  if (typeof kind !== 'string' || (message as Record<string, unknown>)[kind] === null || (message as Record<string, unknown>)[kind] === undefined) {
    throw new ProtocolError('PROTOCOL_INVALID', `${what} has none of its fields set`);
  }
  return message as unknown as Oneof<T>;
}

export function bytesPerElement(dtype: TensorDtype): number {
  return dtype === 'TENSOR_DTYPE_FLOAT16' ? 2 : 4;
}
