// Pure checks of what workers send (SPEC §8): each takes the message and what the run expects, and
// throws a ProtocolError naming the worker, the field and the expected value — before anything in
// the message is used.

import { NUM_CLASSES } from '../shared/classes.js';
import { ProtocolError } from '../shared/errors.js';
import { PROTOCOL_VERSION, type EvaluationResult, type GradientHeader, type JoinRequest } from '../shared/wire/index.js';
import type { GradientHeader__Output } from '../shared/wire/generated/emotrain/v1/GradientHeader.js';

export function checkJoin(request: JoinRequest, peer: string): void {
  if (request.protocolVersion !== PROTOCOL_VERSION) {
    throw new ProtocolError('PROTOCOL_INVALID', `${peer} speaks protocol ${request.protocolVersion}; this coordinator speaks ${PROTOCOL_VERSION} (upgrade the older side)`);
  }
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

/** Checks an upload's header against its round; returns it with dtype and timings known to be set. */
export function checkUploadHeader(header: GradientHeader__Output, expected: UploadExpectation, who: string): GradientHeader {
  const step = expected.step;
  if (header.dtype !== expected.dtype) {
    throw new ProtocolError('PROTOCOL_INVALID', `${who} sent ${header.dtype} gradients for step ${step}; this run exchanges ${expected.dtype}`);
  }
  if (header.gradientElements !== expected.gradientElements || header.stateElements !== expected.stateElements) {
    throw new ProtocolError(
      'PROTOCOL_WRONG_SIZE',
      `${who} declared ${header.gradientElements} gradient and ${header.stateElements} state values for step ${step}; the model has ${expected.gradientElements} and ${expected.stateElements}`,
    );
  }
  if (header.lossScale !== expected.lossScale) {
    throw new ProtocolError('PROTOCOL_INVALID', `${who} used loss scale ${header.lossScale} in step ${step}; the step's scale is ${expected.lossScale}`);
  }
  if (header.shardSize !== expected.shardSize || !(header.correct <= expected.shardSize)) {
    throw new ProtocolError('PROTOCOL_WRONG_SIZE', `${who} reported ${header.shardSize} samples (${header.correct} correct) for step ${step}; its shard has ${expected.shardSize}`);
  }
  if (!header.timings) throw new ProtocolError('PROTOCOL_INVALID', `${who} sent no step timings with its gradients for step ${step}`);
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

/** Checks one member's evaluation of its shard of `split` (`expectedCount` samples). */
export function checkEvaluationResult(result: EvaluationResult, expectedCount: number, split: string, who: string): void {
  if (result.count !== expectedCount || result.sampleLosses.length !== expectedCount || result.confusion.length !== NUM_CLASSES * NUM_CLASSES) {
    throw new ProtocolError('PROTOCOL_WRONG_SIZE', `${who} evaluated ${result.count} samples of ${split}, its shard has ${expectedCount}`);
  }
}
