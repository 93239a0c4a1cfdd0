// Pure checks of what workers send (SPEC §8, issue 14): each takes the message and what the run
// expects, and throws a ProtocolError naming the worker, the field and the expected value — before
// anything in the message is used. Gradient values are not checked here: a non-finite gradient is
// the loss scaler's to skip (SPEC §4), not an invalid message.

import { NUM_CLASSES } from '../shared/classes.js';
import { BACKEND_CHOICES } from '../shared/config.js';
import { ProtocolError, quoted, type ErrorCode } from '../shared/errors.js';
import { ANY_COUNT, fieldChecks, shown } from '../shared/field-checks.js';
import { KERAS_EPSILON } from '../shared/losses.js';
import { PROTOCOL_VERSION, type ChecksumResult, type EvaluationResult, type GradientHeader, type JoinRequest } from '../shared/wire/index.js';
import type { GradientHeader__Output } from '../shared/wire/generated/emotrain/v1/GradientHeader.js';

/** A step's phase timings above this many seconds (11 days) are not timings. */
const MAX_TIMING_SECONDS = 1e6;
const MAX_HOST_CHARS = 255;
const MAX_BACKEND_CHARS = 64;
const MAX_PEER_ADDRESS_CHARS = 300;
/**
 * The most one sample's loss can be: cross-entropy clips probabilities to KERAS_EPSILON, so
 * -log(1e-7) ≈ 16.12, with room for float32 rounding. A batch's loss sum is at most its samples
 * times this.
 */
const MAX_SAMPLE_LOSS = -Math.log(KERAS_EPSILON) + 0.01;
/** A worker computes its losses in float32: anything larger is no float32 it computed. */
const FLOAT32_MAX = 3.4028234663852886e38;
/** No process id is larger: Linux's PID_MAX_LIMIT (2^22; macOS stops at 99998). */
const MAX_PID = 4_194_304;
/** The most GPUs one host may number (CUDA_VISIBLE_DEVICES indices). */
const MAX_GPU_INDEX = 1023;
/** Backends a worker may report (what `--backend auto` resolves to, or the one asked for). */
const KNOWN_BACKENDS: readonly string[] = BACKEND_CHOICES.filter((b) => b !== 'auto');

/** The codes of a message that is wrong in itself: its sender is misbehaving, not late (see `isInvalidMessage`). */
const INVALID_MESSAGE_CODES: readonly ErrorCode[] = ['PROTOCOL_INVALID', 'PROTOCOL_WRONG_SIZE', 'PROTOCOL_NON_FINITE'];

/**
 * Whether `error` refuses a message as invalid (a wrong field, size or value), as opposed to one
 * that is merely late or stale (STEP_ABANDONED, PROTOCOL_WRONG_STEP), which a healthy worker can send.
 */
export function isInvalidMessage(error: unknown): error is ProtocolError {
  return error instanceof ProtocolError && INVALID_MESSAGE_CODES.includes(error.code);
}

const checks = fieldChecks((message) => new ProtocolError('PROTOCOL_INVALID', message));
export const { finiteAtLeast, positiveFinite, integerIn, boundedString } = checks;
const { invalid } = checks;

/** Checks a Join before the worker is admitted; `peer` is where the call came from, `worldSize` the most members the run takes. */
export function checkJoin(request: JoinRequest, peer: string, worldSize: number): void {
  if (request.protocolVersion !== PROTOCOL_VERSION) {
    throw new ProtocolError('PROTOCOL_INVALID', `${peer} speaks protocol ${request.protocolVersion}; this coordinator speaks ${PROTOCOL_VERSION} (upgrade the older side)`);
  }
  const field = (name: string) => `the join from ${peer}: JoinRequest.${name}`;
  boundedString(request.host, MAX_HOST_CHARS, field('host'));
  boundedString(request.backend, MAX_BACKEND_CHARS, field('backend'));
  if (!KNOWN_BACKENDS.includes(request.backend)) {
    throw new ProtocolError('PROTOCOL_INVALID', `${field('backend')} is ${quoted(request.backend)}; it must be one of ${KNOWN_BACKENDS.join(', ')}`);
  }
  integerIn(request.gpu, -1, MAX_GPU_INDEX, field('gpu'));
  integerIn(request.pid, 0, MAX_PID, field('pid'));
  integerIn(request.requestedRank, -1, worldSize - 1, field('requestedRank'));
  boundedString(request.peerAddress, MAX_PEER_ADDRESS_CHARS, field('peerAddress'));
}

/** What the open round of a step expects from one member's upload. */
export interface UploadExpectation {
  step: number;
  dtype: GradientHeader['dtype'];
  gradientElements: number;
  stateElements: number;
  lossScale: number;
  shardSize: number;
}

/**
 * Checks every number of an upload's header that the round does not fix (issue 14): the losses,
 * counts, timings and segment it declares. `who` names the sender.
 */
export function checkGradientHeaderFields(header: GradientHeader__Output, who: string): void {
  const field = (name: string) => `${who}: GradientHeader.${name}`;
  integerIn(header.step, 0, ANY_COUNT, field('step'));
  integerIn(header.generation, 0, ANY_COUNT, field('generation'));
  positiveFinite(header.lossScale, field('lossScale'));
  const shardSize = integerIn(header.shardSize, 0, ANY_COUNT, field('shardSize'));
  finiteAtLeast(header.lossSum, 0, field('lossSum'), shardSize * MAX_SAMPLE_LOSS + 1);
  integerIn(header.correct, 0, shardSize, field('correct'));
  finiteAtLeast(header.regularizationLoss, 0, field('regularizationLoss'), FLOAT32_MAX);
  integerIn(header.nonFinite, 0, ANY_COUNT, field('nonFinite'));
  integerIn(header.segmentOffset, 0, ANY_COUNT, field('segmentOffset'));
  integerIn(header.segmentElements, 0, ANY_COUNT, field('segmentElements'));
  if (!header.timings) throw new ProtocolError('PROTOCOL_INVALID', `${who} sent no step timings with its gradients for step ${header.step}`);
  for (const name of ['dataSeconds', 'computeSeconds', 'exchangeSeconds', 'applySeconds', 'totalSeconds'] as const) {
    finiteAtLeast(header.timings[name], 0, field(`timings.${name}`), MAX_TIMING_SECONDS);
  }
}

/**
 * Checks an upload's header against its round (after `checkGradientHeaderFields`); returns it with
 * dtype and timings known to be set.
 */
export function checkUploadHeader(header: GradientHeader__Output, expected: UploadExpectation, who: string): GradientHeader {
  const step = expected.step;
  if (header.dtype !== expected.dtype) {
    throw new ProtocolError('PROTOCOL_INVALID', `${who}: GradientHeader.dtype is ${quoted(String(header.dtype))} for step ${step}; this run exchanges ${expected.dtype}`);
  }
  if (header.gradientElements !== expected.gradientElements || header.stateElements !== expected.stateElements) {
    throw new ProtocolError(
      'PROTOCOL_WRONG_SIZE',
      `${who}: GradientHeader.gradientElements is ${header.gradientElements} and GradientHeader.stateElements ${header.stateElements} for step ${step}; the model has ${expected.gradientElements} gradient and ${expected.stateElements} state values`,
    );
  }
  if (header.lossScale !== expected.lossScale) {
    throw new ProtocolError('PROTOCOL_INVALID', `${who}: GradientHeader.lossScale is ${header.lossScale} for step ${step}; the step's loss scale is ${expected.lossScale}`);
  }
  if (header.shardSize !== expected.shardSize) {
    throw new ProtocolError('PROTOCOL_WRONG_SIZE', `${who}: GradientHeader.shardSize is ${header.shardSize} for step ${step}; its shard has ${expected.shardSize} samples`);
  }
  if (header.segmentElements > expected.gradientElements || header.segmentOffset > expected.gradientElements - header.segmentElements) {
    throw new ProtocolError('PROTOCOL_INVALID', `${who}: GradientHeader.segmentOffset ${header.segmentOffset} and GradientHeader.segmentElements ${header.segmentElements} declare a segment outside the gradient's ${expected.gradientElements} values`);
  }
  if (header.nonFinite > expected.gradientElements) {
    throw new ProtocolError('PROTOCOL_INVALID', `${who}: GradientHeader.nonFinite is ${header.nonFinite}; the gradient has ${expected.gradientElements} values`);
  }
  return header as GradientHeader;
}

/** Checks that every BatchNorm statistic a member uploaded is finite (they are never skipped, always averaged). */
export function checkFiniteState(values: Float32Array, step: number, who: string): void {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i]!)) {
      throw new ProtocolError('PROTOCOL_NON_FINITE', `${who} sent a non-finite BatchNorm statistic (value ${i}) in step ${step}`);
    }
  }
}

/** What one member was asked to evaluate. */
export interface EvaluationExpectation {
  split: string;
  /** Samples in its shard. */
  count: number;
  /** Whether per-sample probabilities were asked for. */
  probabilities: boolean;
}

/** Checks one member's evaluation of its shard: every count, loss and probability (issue 14). */
export function checkEvaluationResult(result: EvaluationResult, expected: EvaluationExpectation, who: string): void {
  const field = (name: string) => `${who}'s evaluation of ${expected.split}: EvaluationResult.${name}`;
  const { count } = expected;
  if (result.count !== count) {
    throw new ProtocolError('PROTOCOL_WRONG_SIZE', `${field('count')} is ${shown(result.count)}; its shard of ${expected.split} has ${count} samples`);
  }
  const correct = integerIn(result.correct, 0, count, field('correct'));
  if (result.confusion.length !== NUM_CLASSES * NUM_CLASSES) {
    throw new ProtocolError('PROTOCOL_WRONG_SIZE', `${field('confusion')} has ${result.confusion.length} entries; it must have ${NUM_CLASSES * NUM_CLASSES} (${NUM_CLASSES} x ${NUM_CLASSES})`);
  }
  let total = 0;
  let diagonal = 0;
  result.confusion.forEach((n, i) => {
    integerIn(n, 0, count, field(`confusion[${i}]`));
    total += n;
    if (i % (NUM_CLASSES + 1) === 0) diagonal += n;
  });
  if (total !== count || diagonal !== correct) {
    throw new ProtocolError('PROTOCOL_INVALID', `${field('confusion')} counts ${total} samples, ${diagonal} of them correct; the report says ${count}, ${correct} correct`);
  }
  finiteAtLeast(result.regularizationLoss, 0, field('regularizationLoss'), FLOAT32_MAX);
  if (result.sampleLosses.length !== count) {
    throw new ProtocolError('PROTOCOL_WRONG_SIZE', `${field('sampleLosses')} has ${result.sampleLosses.length} entries; its shard has ${count} samples`);
  }
  result.sampleLosses.forEach((loss, i) => finiteAtLeast(loss, 0, field(`sampleLosses[${i}]`), MAX_SAMPLE_LOSS));
  const probabilities = expected.probabilities ? count * NUM_CLASSES : 0;
  const sampleIds = expected.probabilities ? count : 0;
  if (result.probabilities.length !== probabilities || result.sampleIds.length !== sampleIds) {
    throw new ProtocolError(
      'PROTOCOL_WRONG_SIZE',
      `${field('probabilities')} has ${result.probabilities.length} values and sampleIds ${result.sampleIds.length}; ${expected.probabilities ? `it must have ${probabilities} and ${sampleIds}` : 'none were asked for'}`,
    );
  }
  result.probabilities.forEach((p, i) => {
    if (!(p >= 0 && p <= 1)) throw invalid(field(`probabilities[${i}]`), p, 'a probability, from 0 to 1');
  });
}

/** Checks a checksum report: the step and request it answers, and a hex sha256. */
export function checkChecksumResult(result: ChecksumResult, who: string): void {
  const field = (name: string) => `${who}'s checksum: ChecksumResult.${name}`;
  integerIn(result.step, 0, ANY_COUNT, field('step'));
  integerIn(result.requestId, 0, ANY_COUNT, field('requestId'));
  if (typeof result.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(result.sha256)) {
    throw new ProtocolError('PROTOCOL_INVALID', `${field('sha256')} is ${typeof result.sha256 === 'string' ? quoted(result.sha256) : shown(result.sha256)}; it must be 64 lowercase hex digits`);
  }
}
