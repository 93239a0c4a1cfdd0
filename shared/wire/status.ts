// Errors across the wire. The server answers a rejected call with the gRPC status that fits and our
// own error code in the trailing metadata; the client turns a failed call back into an error with
// that code, so a refusal, an unreachable coordinator, a deadline and a cancelled call each keep a
// code of their own instead of all becoming "protocol invalid".

import * as grpc from '@grpc/grpc-js';
import { EmotrainError, describeError, type ErrorCode } from '../errors.js';

/** Trailing metadata key of our own error code. */
export const ERROR_CODE_KEY = 'emotrain-error-code';

/** A call that failed; `grpcStatus` is the status it failed with. */
export class RpcError extends EmotrainError {
  constructor(
    code: ErrorCode,
    message: string,
    readonly grpcStatus: grpc.status,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }
}

/** The status code that fits one of our errors when it goes back over gRPC. */
export function statusOf(error: unknown): grpc.status {
  const code = (error as { code?: unknown }).code;
  if (typeof code !== 'string') return grpc.status.INTERNAL;
  if (code === 'AUTH_REFUSED') return grpc.status.UNAUTHENTICATED;
  if (code === 'PROTOCOL_WRONG_RUN') return grpc.status.PERMISSION_DENIED;
  if (code.startsWith('PROTOCOL_') || code === 'CONFIG_INVALID') return grpc.status.INVALID_ARGUMENT;
  if (code === 'RUN_STOPPED' || code === 'WORKER_LOST' || code === 'STEP_RESTARTED' || code === 'STEP_ABANDONED' || code === 'WORKER_EXPELLED' || code === 'UPLOAD_INCOMPLETE') return grpc.status.ABORTED;
  if (code === 'WORLD_FULL') return grpc.status.FAILED_PRECONDITION;
  if (code === 'STREAM_IDLE') return grpc.status.DEADLINE_EXCEEDED;
  return grpc.status.INTERNAL;
}

/** A ServiceError for `callback(error)` / `call.emit('error', ...)`: status, message and our code. */
export function serviceError(error: unknown): grpc.ServiceError {
  // Already one (a handler's refusal going out through another transport): kept as it is.
  if (error instanceof Error && typeof (error as { code?: unknown }).code === 'number' && (error as { metadata?: unknown }).metadata instanceof grpc.Metadata) return error as grpc.ServiceError;
  const code = (error as { code?: unknown }).code;
  return callFailure(statusOf(error), describeError(error), typeof code === 'string' ? code : undefined);
}

/** A failed call as grpc-js describes one: its status, details and (when sent) our error code. */
export function callFailure(status: grpc.status, details: string, code?: string): grpc.ServiceError {
  const failure = new Error(details) as grpc.ServiceError;
  failure.code = status;
  failure.details = details;
  failure.metadata = new grpc.Metadata();
  if (code !== undefined) failure.metadata.set(ERROR_CODE_KEY, code);
  return failure;
}

const CODE_BY_STATUS: Partial<Record<grpc.status, ErrorCode>> = {
  [grpc.status.UNAVAILABLE]: 'RPC_UNAVAILABLE',
  [grpc.status.DEADLINE_EXCEEDED]: 'RPC_DEADLINE_EXCEEDED',
  [grpc.status.CANCELLED]: 'RPC_CANCELLED',
  [grpc.status.UNAUTHENTICATED]: 'AUTH_REFUSED',
  [grpc.status.PERMISSION_DENIED]: 'AUTH_REFUSED',
  [grpc.status.RESOURCE_EXHAUSTED]: 'RPC_RESOURCE_EXHAUSTED',
  [grpc.status.INVALID_ARGUMENT]: 'PROTOCOL_INVALID',
  [grpc.status.ABORTED]: 'RUN_STOPPED',
};

/** A failed call as an error saying which call failed and why, with the server's code when it sent one. */
export function rpcError(what: string, error: grpc.ServiceError | Error): RpcError {
  const status = 'code' in error && typeof error.code === 'number' ? (error.code as grpc.status) : grpc.status.UNKNOWN;
  const details = 'details' in error && error.details ? error.details : error.message;
  const sent = 'metadata' in error && error.metadata instanceof grpc.Metadata ? error.metadata.get(ERROR_CODE_KEY)[0] : undefined;
  const code = typeof sent === 'string' && /^[A-Z_]+$/.test(sent) ? (sent as ErrorCode) : (CODE_BY_STATUS[status] ?? 'RPC_FAILED');
  return new RpcError(code, `${what} failed [${grpc.status[status] ?? status}]: ${details}`, status, { cause: error });
}
