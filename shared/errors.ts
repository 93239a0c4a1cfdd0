// Typed errors with a stable `code` (STYLE.md "Errors"). The message names the file, worker,
// step or field that was wrong and what was expected; `cause` carries the underlying error.

export type ErrorCode =
  | 'CONFIG_INVALID'
  | 'DATASET_NOT_FOUND'
  | 'DATASET_LAYOUT_UNKNOWN'
  | 'DATASET_EMPTY'
  | 'DATASET_CLASS_EMPTY'
  | 'DATASET_BAD_SAMPLE'
  | 'PROTOCOL_INVALID'
  | 'PROTOCOL_WRONG_RUN'
  | 'PROTOCOL_WRONG_STEP'
  | 'PROTOCOL_WRONG_SIZE'
  | 'PROTOCOL_NON_FINITE'
  | 'AUTH_REFUSED'
  | 'RPC_UNAVAILABLE'
  | 'RPC_DEADLINE_EXCEEDED'
  | 'RPC_CANCELLED'
  | 'RPC_RESOURCE_EXHAUSTED'
  | 'RPC_FAILED'
  | 'CHECKPOINT_INVALID'
  | 'CHECKPOINT_NOT_FOUND'
  | 'CHECKPOINT_WRITE_FAILED'
  | 'BACKEND_UNAVAILABLE'
  | 'BACKEND_OUT_OF_MEMORY'
  | 'MODEL_INVALID'
  | 'WORKER_LOST'
  | 'STEP_RESTARTED'
  | 'STEP_ABANDONED'
  | 'UPLOAD_INCOMPLETE'
  | 'STREAM_IDLE'
  | 'WORLD_CHANGED'
  | 'WORLD_FULL'
  | 'WORKER_EXPELLED'
  | 'REPLICAS_DIVERGED'
  | 'TRAINING_DIVERGED'
  | 'RUN_STOPPED'
  | 'RUN_NOT_FOUND'
  | 'RUN_INVALID'
  | 'REPORT_INPUT_INVALID'
  | 'REPORT_RENDER_FAILED'
  | 'WEIGHTS_NOT_FOUND'
  | 'WEIGHTS_UNRECOGNIZED'
  | 'WEIGHTS_UNREADABLE'
  | 'WEIGHTS_MISMATCH'
  | 'WEIGHTS_CHANGED'
  // The app (issue 10): photos, face detectors, the classifier's runtimes, serve, export.
  | 'PHOTO_EMPTY'
  | 'PHOTO_UNSUPPORTED'
  | 'PHOTO_CORRUPT'
  | 'PHOTO_TOO_LARGE'
  | 'PHOTO_UNREADABLE'
  | 'DETECTOR_UNAVAILABLE'
  | 'RUNTIME_UNAVAILABLE'
  | 'REQUEST_CONTENT_TYPE'
  | 'REQUEST_TOO_LARGE'
  | 'REQUEST_INVALID'
  | 'SERVER_BUSY'
  | 'SERVER_FAILED'
  | 'EXPORT_UNSUPPORTED_LAYER'
  | 'EXPORT_FAILED'
  | 'CONTROL_INVALID'
  | 'CONTROL_UNREACHABLE'
  | 'CONTROL_AUTH_FAILED'
  | 'CONTROL_NO_RUN'
  | 'STOP_REFUSED'
  | 'LAUNCH_INVALID';

export class EmotrainError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

export class ConfigError extends EmotrainError {}
export class DatasetError extends EmotrainError {}
export class ProtocolError extends EmotrainError {}
export class AuthError extends EmotrainError {}
export class CheckpointError extends EmotrainError {}
export class BackendError extends EmotrainError {}
export class ModelError extends EmotrainError {}
/** A worker died, stalled or disagreed with the others; the run cannot go on as it was. */
export class WorldError extends EmotrainError {}
/**
 * The world changed under a wait (a member was lost): what was waited for is void and is done
 * again for the new world. Not a failure of the run.
 */
export class WorldChanged extends WorldError {
  constructor(message: string) {
    super('WORLD_CHANGED', message);
  }
}

export function isWorldChange(error: unknown): error is WorldChanged {
  return error instanceof WorldChanged;
}
export class TrainingError extends EmotrainError {}
/** `emotrain evaluate`: a run directory it cannot use, or a report it cannot produce (issue 5). */
export class ReportError extends EmotrainError {}
/** --weights: a source that is missing, not weights, unreadable, or does not fit the model (issue 9, point 5). */
export class WeightsError extends EmotrainError {}
/** A photo given to predict or serve that cannot be used: empty, not an image, cut short, too large. */
export class PhotoError extends EmotrainError {}
/** A face detector that cannot be loaded or run. */
export class DetectorError extends EmotrainError {}
/** An inference runtime (--runtime) that cannot be loaded or gives the wrong answer's shape. */
export class RuntimeError extends EmotrainError {}
/** An HTTP request to `emotrain serve` that is refused before any photo is looked at, or one it has no room for. */
export class ServeError extends EmotrainError {}
/** `emotrain export`: a model it cannot write in the asked format. */
export class ExportError extends EmotrainError {}
/** The NATS control plane: a message that is not what it should be, a server that cannot be used, no run to talk to, a stop refused (issue 13, point 1). */
export class ControlError extends EmotrainError {}
/** A cluster engine's environment (Slurm) that does not say what a launch needs (issue 13, point 3). */
export class LaunchError extends EmotrainError {}

/**
 * `text` cut to `max` characters, saying how many more there were: for strings a worker or a file
 * supplied, which an error message shows but must not echo in full (a 1 MiB worker id).
 */
export function bounded(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length - max} more characters)`;
}

/** Characters of a string from the outside (an id, a name) quoted in an error message. */
export const QUOTED_CHARS = 64;

/** `text` quoted for an error message, cut to QUOTED_CHARS characters. */
export function quoted(text: string, max = QUOTED_CHARS): string {
  return text.length <= max ? JSON.stringify(text) : `${JSON.stringify(text.slice(0, max))}… (${text.length - max} more characters)`;
}

/** The message of any thrown value, for logs; keeps the cause chain short and readable. */
export function describeError(error: unknown): string {
  if (error instanceof Error) {
    const cause = error.cause instanceof Error ? ` (caused by: ${error.cause.message})` : '';
    return `${error.message}${cause}`;
  }
  return String(error);
}
