// What `--resume` reads from checkpoints/last is checked before anything of it is used or anything
// in the run directory is written (issue 14): state.json field by field, the sizes of weights.bin
// and optimizer.bin against the configured model before they are read, and the values read for
// being finite. Every error names the file and the field.

import { CheckpointError } from '../shared/errors.js';
import { ANY_COUNT, fieldChecks, shown } from '../shared/field-checks.js';
import type { TrainingState } from './checkpoint-store.js';

const { positiveFinite, integerIn } = fieldChecks((message) => new CheckpointError('CHECKPOINT_INVALID', message));

/** What a checkpoint's state is checked against. */
export interface ResumeLimits {
  version: number;
  /** Rows in the run's metrics.csv: a completed epoch always has its row (it is written before the checkpoint). */
  epochsRecorded: number;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** A number that may be ±Infinity (a best "not yet seen", as Keras starts it) but not NaN or anything else. */
function numberOrInfinite(value: unknown, field: string): number {
  if (typeof value !== 'number' || Number.isNaN(value)) {
    throw new CheckpointError('CHECKPOINT_INVALID', `${field} is ${shown(value)}; it must be a number (or ±Infinity before any epoch counted)`);
  }
  return value;
}

function objectAt(value: unknown, field: string): Record<string, unknown> {
  if (!isObject(value)) throw new CheckpointError('CHECKPOINT_INVALID', `${field} is ${shown(value)}; it must be an object`);
  return value;
}

/** Checks the parsed state.json of `file` field by field; returns it typed. */
export function checkTrainingState(parsed: unknown, file: string, limits: ResumeLimits): TrainingState {
  const state = objectAt(parsed, file);
  const field = (name: string) => `${file}: ${name}`;
  if (state.version !== limits.version) {
    throw new CheckpointError('CHECKPOINT_INVALID', `${field('version')} is ${shown(state.version)}; this emotrain reads version ${limits.version}`);
  }
  const step = integerIn(state.step, 0, ANY_COUNT, field('step'));
  integerIn(state.epochsCompleted, 0, limits.epochsRecorded, `${field('epochsCompleted')} (metrics.csv has ${limits.epochsRecorded} epoch rows)`);
  integerIn(state.optimizerIteration, 0, step, `${field('optimizerIteration')} (at most one update per step)`);
  integerIn(state.trainableElements, 0, ANY_COUNT, field('trainableElements'));
  integerIn(state.stateElements, 0, ANY_COUNT, field('stateElements'));
  const bestValAccuracy = numberOrInfinite(state.bestValAccuracy, field('bestValAccuracy'));
  if (bestValAccuracy > 1) throw new CheckpointError('CHECKPOINT_INVALID', `${field('bestValAccuracy')} is ${bestValAccuracy}; an accuracy is at most 1`);

  const plateau = objectAt(state.plateau, field('plateau'));
  positiveFinite(plateau.learningRate, field('plateau.learningRate'));
  numberOrInfinite(plateau.best, field('plateau.best'));
  integerIn(plateau.wait, 0, ANY_COUNT, field('plateau.wait'));
  integerIn(plateau.cooldownCounter, 0, ANY_COUNT, field('plateau.cooldownCounter'));

  const scaler = objectAt(state.lossScaler, field('lossScaler'));
  positiveFinite(scaler.scale, field('lossScaler.scale'));
  for (const name of ['goodSteps', 'skippedSteps', 'consecutiveSkips'] as const) integerIn(scaler[name], 0, step, field(`lossScaler.${name}`));

  if (state.earlyStopping !== undefined) {
    const early = objectAt(state.earlyStopping, field('earlyStopping'));
    integerIn(early.wait, 0, ANY_COUNT, field('earlyStopping.wait'));
    numberOrInfinite(early.best, field('earlyStopping.best'));
    integerIn(early.bestEpoch, -1, ANY_COUNT, field('earlyStopping.bestEpoch'));
    integerIn(early.stoppedEpoch, 0, ANY_COUNT, field('earlyStopping.stoppedEpoch'));
    if (typeof early.weightsRemembered !== 'boolean') {
      throw new CheckpointError('CHECKPOINT_INVALID', `${field('earlyStopping.weightsRemembered')} is ${shown(early.weightsRemembered)}; it must be true or false`);
    }
  }
  return state as unknown as TrainingState;
}

/** Checks that a checkpoint file holds exactly the bytes the model needs, before it is read. */
export function checkFileSize(file: string, bytes: number, needed: number, what: string): void {
  if (bytes !== needed) throw new CheckpointError('CHECKPOINT_INVALID', `${file} has ${bytes} bytes; the model needs ${needed} (${what})`);
}

/** Checks that every value read from `file` is finite; `name(i)` says which value the i-th is. */
export function checkFiniteValues(values: Float32Array, file: string, name: (index: number) => string): void {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i]!)) throw new CheckpointError('CHECKPOINT_INVALID', `${file}: ${name(i)} is ${values[i]}; every value must be finite`);
  }
}
