// The payloads of the control plane (README "Control plane"), as JSON, and their checks: every
// message from NATS is untrusted (SPEC §8), so each is parsed here into a typed value or refused
// with a ControlError that names the subject and the field that was wrong.

import { ControlError } from '../errors.js';

export const CONTROL_PROTOCOL_VERSION = 1;
/** Far above any real payload; NATS' own default limit is 1 MiB. */
const MAX_PAYLOAD_BYTES = 1 << 20;

export type RunState = 'waiting' | 'training' | 'stopping' | 'finished' | 'stopped' | 'failed';
export const RUN_STATES: readonly RunState[] = ['waiting', 'training', 'stopping', 'finished', 'stopped', 'failed'];

/** How a coordinator is found (`emotrain.discover`, `emotrain.announce`). */
export interface Announcement {
  version: number;
  run_id: string;
  /** gRPC addresses to try, best first. */
  grpc: string[];
  tls: boolean;
  wants_workers: boolean;
  workers: number;
  world: number;
  state: RunState;
  started_at: string;
}

export interface MemberStatus {
  rank: number;
  host: string;
  gpu: number;
  backend: string;
  pid: number;
  local_data: boolean;
}

export interface EpochStatus {
  epoch: number;
  loss: number;
  accuracy: number;
  val_loss: number;
  val_accuracy: number;
  lr: number;
  images_per_second: number;
}

/** A run's live state (`emotrain.run.<id>.status`). */
export interface RunStatus {
  version: number;
  run_id: string;
  state: RunState;
  grpc: string[];
  wants_workers: boolean;
  world: { size: number; members: MemberStatus[] };
  step: number;
  /** The epoch in progress (1-based), or the last one done when the run is over. */
  epoch: number;
  epochs: number;
  step_in_epoch: number;
  steps_in_epoch: number;
  /** Running mean loss and accuracy of the epoch in progress; null before its first step. */
  loss: number | null;
  accuracy: number | null;
  learning_rate: number;
  loss_scale: number;
  images_per_second: number | null;
  eta_seconds: number | null;
  last_epoch: EpochStatus | null;
  best_val_accuracy: number | null;
  /** Why the run stopped or failed. */
  reason: string | null;
  updated_at: string;
}

export interface StopRequest {
  /** The run's worker token; may be left out when the NATS server authenticates its clients. */
  token?: string;
  reason?: string;
  /** Who asks, for the record (user@host). */
  by?: string;
}

export type StopReply = { accepted: true; run_id: string; step: number; message: string } | { accepted: false; run_id: string; code: string; message: string };

export function encodeJson(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value));
}

/** Parses an untrusted payload as a JSON object; `what` names it in errors. */
export function decodeObject(payload: Uint8Array, what: string): Record<string, unknown> {
  if (payload.length > MAX_PAYLOAD_BYTES) throw new ControlError('CONTROL_INVALID', `${what}: ${payload.length} bytes, more than the ${MAX_PAYLOAD_BYTES} allowed`);
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payload));
  } catch (cause) {
    throw new ControlError('CONTROL_INVALID', `${what}: not UTF-8 JSON (${(cause as Error).message})`, { cause });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ControlError('CONTROL_INVALID', `${what}: expected a JSON object, got ${describe(value)}`);
  return value as Record<string, unknown>;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'string' ? `the string ${JSON.stringify(value.slice(0, 40))}` : `${typeof value} ${String(value).slice(0, 40)}`;
}

/** Field readers that name the message and the field when a value is not what it must be. */
class Fields {
  constructor(
    private readonly object: Record<string, unknown>,
    private readonly what: string,
  ) {}

  private fail(field: string, expected: string): never {
    throw new ControlError('CONTROL_INVALID', `${this.what}: field ${field} must be ${expected}, got ${describe(this.object[field])}`);
  }

  string(field: string, maxLength = 1000): string {
    const value = this.object[field];
    if (typeof value !== 'string' || value.length > maxLength) this.fail(field, `a string of at most ${maxLength} characters`);
    return value;
  }

  optionalString(field: string, maxLength = 1000): string | undefined {
    return this.object[field] === undefined || this.object[field] === null ? undefined : this.string(field, maxLength);
  }

  integer(field: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
    const value = this.object[field];
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) this.fail(field, `an integer in [${min}, ${max}]`);
    return value;
  }

  number(field: string): number {
    const value = this.object[field];
    if (typeof value !== 'number' || !Number.isFinite(value)) this.fail(field, 'a finite number');
    return value;
  }

  numberOrNull(field: string): number | null {
    return this.object[field] === null ? null : this.number(field);
  }

  boolean(field: string): boolean {
    const value = this.object[field];
    if (typeof value !== 'boolean') this.fail(field, 'true or false');
    return value;
  }

  state(field: string): RunState {
    const value = this.object[field];
    if (!RUN_STATES.includes(value as RunState)) this.fail(field, `one of ${RUN_STATES.join(', ')}`);
    return value as RunState;
  }

  addresses(field: string): string[] {
    const value = this.object[field];
    if (!Array.isArray(value) || value.length > 64 || !value.every((a) => typeof a === 'string' && /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.\-]+):\d{1,5}$/.test(a))) {
      this.fail(field, 'a list of at most 64 host:port addresses');
    }
    return value as string[];
  }

  object_(field: string): Fields {
    const value = this.object[field];
    if (typeof value !== 'object' || value === null || Array.isArray(value)) this.fail(field, 'an object');
    return new Fields(value as Record<string, unknown>, `${this.what}, ${field}`);
  }

  objects(field: string, max: number): Fields[] {
    const value = this.object[field];
    if (!Array.isArray(value) || value.length > max || !value.every((v) => typeof v === 'object' && v !== null && !Array.isArray(v))) this.fail(field, `a list of at most ${max} objects`);
    return (value as Array<Record<string, unknown>>).map((v, i) => new Fields(v, `${this.what}, ${field}[${i}]`));
  }

  has(field: string): boolean {
    return this.object[field] !== undefined && this.object[field] !== null;
  }
}

function checkVersion(fields: Fields, what: string): number {
  const version = fields.integer('version', 1, 1000);
  if (version !== CONTROL_PROTOCOL_VERSION) throw new ControlError('CONTROL_INVALID', `${what}: control protocol version ${version}, this emotrain speaks ${CONTROL_PROTOCOL_VERSION}`);
  return version;
}

export function parseAnnouncement(payload: Uint8Array, what = 'announcement'): Announcement {
  const f = new Fields(decodeObject(payload, what), what);
  return {
    version: checkVersion(f, what),
    run_id: f.string('run_id', 200),
    grpc: f.addresses('grpc'),
    tls: f.boolean('tls'),
    wants_workers: f.boolean('wants_workers'),
    workers: f.integer('workers', 0, 1_000_000),
    world: f.integer('world', 0, 1_000_000),
    state: f.state('state'),
    started_at: f.string('started_at', 64),
  };
}

function parseMember(f: Fields): MemberStatus {
  return { rank: f.integer('rank', 0, 1_000_000), host: f.string('host', 255), gpu: f.integer('gpu', -1, 1_000_000), backend: f.string('backend', 64), pid: f.integer('pid', 0), local_data: f.boolean('local_data') };
}

function parseEpoch(f: Fields): EpochStatus {
  return {
    epoch: f.integer('epoch', 0, 1_000_000),
    loss: f.number('loss'),
    accuracy: f.number('accuracy'),
    val_loss: f.number('val_loss'),
    val_accuracy: f.number('val_accuracy'),
    lr: f.number('lr'),
    images_per_second: f.number('images_per_second'),
  };
}

export function parseRunStatus(payload: Uint8Array, what = 'status reply'): RunStatus {
  const f = new Fields(decodeObject(payload, what), what);
  const world = f.object_('world');
  return {
    version: checkVersion(f, what),
    run_id: f.string('run_id', 200),
    state: f.state('state'),
    grpc: f.addresses('grpc'),
    wants_workers: f.boolean('wants_workers'),
    world: { size: world.integer('size', 0, 1_000_000), members: world.objects('members', 100_000).map(parseMember) },
    step: f.integer('step', 0),
    epoch: f.integer('epoch', 0, 1_000_000),
    epochs: f.integer('epochs', 0, 1_000_000),
    step_in_epoch: f.integer('step_in_epoch', 0),
    steps_in_epoch: f.integer('steps_in_epoch', 0),
    loss: f.numberOrNull('loss'),
    accuracy: f.numberOrNull('accuracy'),
    learning_rate: f.number('learning_rate'),
    loss_scale: f.number('loss_scale'),
    images_per_second: f.numberOrNull('images_per_second'),
    eta_seconds: f.numberOrNull('eta_seconds'),
    last_epoch: f.has('last_epoch') ? parseEpoch(f.object_('last_epoch')) : null,
    best_val_accuracy: f.numberOrNull('best_val_accuracy'),
    reason: f.optionalString('reason', 2000) ?? null,
    updated_at: f.string('updated_at', 64),
  };
}

export function parseStopRequest(payload: Uint8Array, what = 'stop request'): StopRequest {
  // An empty body is a stop without a token or reason.
  if (payload.length === 0) return {};
  const f = new Fields(decodeObject(payload, what), what);
  const token = f.optionalString('token', 4096);
  const reason = f.optionalString('reason', 500);
  const by = f.optionalString('by', 255);
  return { ...(token !== undefined ? { token } : {}), ...(reason !== undefined ? { reason } : {}), ...(by !== undefined ? { by } : {}) };
}

export function parseStopReply(payload: Uint8Array, what = 'stop reply'): StopReply {
  const f = new Fields(decodeObject(payload, what), what);
  const runId = f.string('run_id', 200);
  if (f.boolean('accepted')) return { accepted: true, run_id: runId, step: f.integer('step', 0), message: f.string('message', 2000) };
  return { accepted: false, run_id: runId, code: f.string('code', 64), message: f.string('message', 2000) };
}
