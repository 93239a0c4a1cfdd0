// checkpoints/best and checkpoints/last (SPEC §6), each written atomically.
//   best/  model.json + weights.bin (TensorFlow.js layers format) + meta.json
//   last/  the same, plus optimizer.bin (Adam m then v, float32, trainable order) and state.json:
//          everything a resumed run needs to continue exactly — step, epoch, optimiser iteration,
//          LR and plateau state, loss-scaler state, and the data position.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import type { AdamSlots } from '../shared/adam.js';
import { resolveAtomicDir, writeDirectoryAtomically } from '../shared/atomic-dir.js';
import { CheckpointError } from '../shared/errors.js';
import type { LossScalerState } from '../shared/loss-scaler.js';
import { layersModelFiles } from '../shared/model-io.js';
import type { PlateauState } from './plateau.js';

export interface CheckpointMeta {
  runId: string;
  /** Epochs completed when the checkpoint was taken (1-based). */
  epoch: number;
  step: number;
  valAccuracy: number;
  valLoss: number;
  model: string;
  imageSize: number;
  preprocessing: string;
  classes: readonly string[];
  savedAt: string;
}

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
}

export const STATE_VERSION = 1;

// JSON has no Infinity (the plateau's initial best) or NaN; keep them as tagged strings.
function encodeNumbers(_key: string, value: unknown): unknown {
  if (typeof value === 'number' && !Number.isFinite(value)) return { $number: String(value) };
  return value;
}

function decodeNumbers(_key: string, value: unknown): unknown {
  if (value !== null && typeof value === 'object' && '$number' in value) return Number((value as { $number: string }).$number);
  return value;
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

  async saveLast(model: tf.LayersModel, meta: CheckpointMeta, state: TrainingState, slots: AdamSlots): Promise<void> {
    const files = await layersModelFiles(model);
    const optimizer = new Uint8Array(slots.m.byteLength + slots.v.byteLength);
    optimizer.set(new Uint8Array(slots.m.buffer, slots.m.byteOffset, slots.m.byteLength), 0);
    optimizer.set(new Uint8Array(slots.v.buffer, slots.v.byteOffset, slots.v.byteLength), slots.m.byteLength);
    writeDirectoryAtomically(this.lastDir, {
      ...files,
      'meta.json': `${JSON.stringify(meta, null, 2)}\n`,
      'state.json': `${JSON.stringify(state, encodeNumbers, 2)}\n`,
      'optimizer.bin': optimizer,
    });
  }

  /** The last checkpoint, validated against the sizes the model expects. */
  loadLast(trainableElements: number, stateElements: number): { dir: string; state: TrainingState; slots: AdamSlots; meta: CheckpointMeta } {
    const dir = resolveAtomicDir(this.lastDir);
    if (!dir) throw new CheckpointError('CHECKPOINT_INVALID', `no last checkpoint in ${this.dir}: the run stopped before finishing its first epoch`);
    let state: TrainingState;
    let meta: CheckpointMeta;
    try {
      state = JSON.parse(readFileSync(path.join(dir, 'state.json'), 'utf8'), decodeNumbers) as TrainingState;
      meta = JSON.parse(readFileSync(path.join(dir, 'meta.json'), 'utf8')) as CheckpointMeta;
    } catch (cause) {
      throw new CheckpointError('CHECKPOINT_INVALID', `cannot read ${path.join(dir, 'state.json')}: ${(cause as Error).message}`, { cause });
    }
    if (state.version !== STATE_VERSION) {
      throw new CheckpointError('CHECKPOINT_INVALID', `${dir}/state.json has version ${state.version}; this emotrain reads version ${STATE_VERSION}`);
    }
    if (state.trainableElements !== trainableElements || state.stateElements !== stateElements) {
      throw new CheckpointError(
        'CHECKPOINT_INVALID',
        `${dir} holds ${state.trainableElements} trainable and ${state.stateElements} state values, but the configured model has ${trainableElements} and ${stateElements}`,
      );
    }
    const optimizerFile = path.join(dir, 'optimizer.bin');
    const bytes = readFileSync(optimizerFile);
    if (bytes.byteLength !== trainableElements * 8) {
      throw new CheckpointError('CHECKPOINT_INVALID', `${optimizerFile} has ${bytes.byteLength} bytes, expected ${trainableElements * 8} (Adam m and v)`);
    }
    const m = new Float32Array(trainableElements);
    const v = new Float32Array(trainableElements);
    new Uint8Array(m.buffer).set(bytes.subarray(0, trainableElements * 4));
    new Uint8Array(v.buffer).set(bytes.subarray(trainableElements * 4));
    return { dir, state, slots: { m, v }, meta };
  }
}
