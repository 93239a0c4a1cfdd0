// checkpoints/best and checkpoints/last (SPEC §6), each written atomically.
//   best/  model.json + weights.bin (TensorFlow.js layers format) + meta.json
//   last/  the same, plus optimizer.bin (the optimizer part of the state layout: Adam m then v,
//          float32, trainable order) and state.json: everything a resumed run needs to continue
//          exactly — step, epoch, optimiser iteration, LR and plateau state, loss-scaler state,
//          early-stopping state and the data position.

import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { resolveAtomicDir, writeDirectoryAtomically } from '../shared/atomic-dir.js';
import { readCheckpointMeta, type CheckpointMeta } from '../shared/checkpoint-meta.js';
import { CheckpointError, describeError } from '../shared/errors.js';
import type { LossScalerState } from '../shared/loss-scaler.js';
import { WEIGHTS_FILE, layersModelFiles, readLayersWeightsInto } from '../shared/model-io.js';
import type { StateLayout } from '../shared/state-layout.js';
import { PayloadReceiver } from '../shared/wire/index.js';
import type { EarlyStoppingState } from './callbacks/early-stopping.js';
import type { CheckpointWriter } from './engine-ports.js';
import type { PlateauState } from './plateau.js';
import { checkFileSize, checkFiniteValues, checkTrainingState } from './resume-checks.js';

export type { CheckpointMeta };

export interface TrainingState {
  version: 1;
  /** Epochs completed; the resumed run starts epoch `epochsCompleted` (0-based). */
  epochsCompleted: number;
  step: number;
  optimizerIteration: number;
  plateau: PlateauState;
  lossScaler: LossScalerState;
  bestValAccuracy: number;
  trainableElements: number;
  stateElements: number;
  /** Present when the run uses early stopping. */
  earlyStopping?: EarlyStoppingState;
}

export const STATE_VERSION = 1;
const OPTIMIZER_FILE = 'optimizer.bin';

// JSON has no Infinity (the plateau's initial best) or NaN; keep them as tagged strings.
function encodeNumbers(_key: string, value: unknown): unknown {
  if (typeof value === 'number' && !Number.isFinite(value)) return { $number: String(value) };
  return value;
}

function decodeNumbers(_key: string, value: unknown): unknown {
  if (value !== null && typeof value === 'object' && '$number' in value) return Number((value as { $number: string }).$number);
  return value;
}

/** The size of `file`, or an error naming it when it cannot be read. */
function fileBytes(file: string): number {
  try {
    return statSync(file).size;
  } catch (cause) {
    throw new CheckpointError('CHECKPOINT_INVALID', `cannot read ${file}: ${(cause as Error).message}`, { cause });
  }
}

function concat(segments: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(segments.reduce((n, s) => n + s.byteLength, 0));
  let offset = 0;
  for (const segment of segments) {
    out.set(segment, offset);
    offset += segment.byteLength;
  }
  return out;
}

export class CheckpointStore {
  constructor(readonly dir: string) {}

  get bestDir(): string {
    return path.join(this.dir, 'best');
  }

  get lastDir(): string {
    return path.join(this.dir, 'last');
  }

  async saveBest(model: tf.LayersModel, meta: CheckpointMeta): Promise<void> {
    const files = await layersModelFiles(model);
    writeDirectoryAtomically(this.bestDir, { ...files, 'meta.json': `${JSON.stringify(meta, null, 2)}\n` });
  }

  async saveLast(model: tf.LayersModel, meta: CheckpointMeta, state: TrainingState, layout: StateLayout): Promise<void> {
    const files = await layersModelFiles(model);
    writeDirectoryAtomically(this.lastDir, {
      ...files,
      'meta.json': `${JSON.stringify(meta, null, 2)}\n`,
      'state.json': `${JSON.stringify(state, encodeNumbers, 2)}\n`,
      [OPTIMIZER_FILE]: concat(layout.optimizerSegments()),
    });
  }

  /** Whether a last checkpoint was written (the run finished an epoch). */
  hasLast(): boolean {
    return resolveAtomicDir(this.lastDir) !== undefined;
  }

  /**
   * checkpoints/last's state.json, read (±Infinity decoded) and checked whole; undefined when the
   * run has no last checkpoint. `epochsRecorded`: the rows of metrics.csv.
   */
  readLastState(epochsRecorded: number): { dir: string; stateFile: string; state: TrainingState } | undefined {
    const dir = resolveAtomicDir(this.lastDir);
    if (!dir) return undefined;
    const stateFile = path.join(dir, 'state.json');
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(stateFile, 'utf8'), decodeNumbers);
    } catch (cause) {
      throw new CheckpointError('CHECKPOINT_INVALID', `cannot read ${stateFile}: ${(cause as Error).message}`, { cause });
    }
    return { dir, stateFile, state: checkTrainingState(parsed, stateFile, { version: STATE_VERSION, epochsRecorded }) };
  }

  /**
   * Reads the last checkpoint into `layout` (weights by name from model.json + weights.bin, Adam's
   * moments from optimizer.bin), checking every field of state.json (`epochsRecorded`: the rows of
   * metrics.csv), the sizes of its files against the configured model before reading them, and
   * that every value read is finite (resume-checks.ts). It writes nothing.
   */
  loadLast(layout: StateLayout, epochsRecorded: number): { dir: string; state: TrainingState; meta: CheckpointMeta } {
    const last = this.readLastState(epochsRecorded);
    if (!last) throw new CheckpointError('CHECKPOINT_INVALID', `no last checkpoint in ${this.dir}: the run stopped before finishing its first epoch`);
    const { dir, stateFile, state } = last;
    const meta = readCheckpointMeta(dir);
    if (state.trainableElements !== layout.trainableElements || state.stateElements !== layout.stateElements) {
      throw new CheckpointError(
        'CHECKPOINT_INVALID',
        `${stateFile}: trainableElements ${state.trainableElements} and stateElements ${state.stateElements}, but the configured model has ${layout.trainableElements} and ${layout.stateElements}`,
      );
    }
    const weightsFile = path.join(dir, WEIGHTS_FILE);
    const weightValues = layout.model.slots.reduce((n, slot) => n + slot.values.length, 0);
    checkFileSize(weightsFile, fileBytes(weightsFile), weightValues * 4, `${weightValues} float32 weights`);
    const optimizerFile = path.join(dir, OPTIMIZER_FILE);
    checkFileSize(optimizerFile, fileBytes(optimizerFile), layout.trainableElements * 8, `Adam m and v, ${layout.trainableElements} float32 each`);
    readLayersWeightsInto(dir, layout.model);
    for (const slot of layout.model.slots) checkFiniteValues(slot.values, weightsFile, (i) => `weight ${slot.name} value ${i}`);
    const bytes = readFileSync(optimizerFile);
    try {
      const receiver = new PayloadReceiver(layout.optimizerSegments(), optimizerFile);
      receiver.write({ offset: 0, data: bytes });
      receiver.finish();
    } catch (cause) {
      throw new CheckpointError('CHECKPOINT_INVALID', describeError(cause), { cause });
    }
    const { m, v } = layout.optimizer.slots;
    checkFiniteValues(m, optimizerFile, (i) => `Adam m value ${i}`);
    checkFiniteValues(v, optimizerFile, (i) => `Adam v value ${i}`);
    layout.optimizer.iteration = state.optimizerIteration;
    return { dir, state, meta };
  }
}

/** What checkpoints are written from: the shadow's tf model, brought up to date first, and its state layout. */
export interface CheckpointSource {
  readonly model: tf.LayersModel;
  readonly layout: StateLayout;
  syncToModel(): void;
}

/** The engine's CheckpointWriter for a store and the coordinator's shadow model. */
export function checkpointWriter(store: CheckpointStore, source: CheckpointSource): CheckpointWriter {
  return {
    saveBest: async (meta) => {
      source.syncToModel();
      await store.saveBest(source.model, meta);
    },
    saveLast: async (meta, state) => {
      source.syncToModel();
      await store.saveLast(source.model, meta, state, source.layout);
    },
  };
}
