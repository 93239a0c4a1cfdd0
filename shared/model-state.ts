// A model's weights as flat Float32Arrays, the form in which they are exchanged, updated by Adam,
// checksummed and checkpointed. Every weight of the model has a slot, in the model's canonical
// order (layers in order, each layer's weights in order). Trainable slots are views into one flat
// `trainable` array (the order gradients travel in); the BatchNorm statistics that training mode
// updates are views into one flat `state` array; frozen weights keep arrays of their own.
// The coordinator and every worker build the same layout from the same configuration.

import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import { sharedFloat32 } from './adam.js';
import { ModelError } from './errors.js';
import type { TensorSpec } from './wire/index.js';

export type WeightRole = 'trainable' | 'state' | 'frozen';

export interface WeightSlot {
  name: string;
  shape: number[];
  size: number;
  role: WeightRole;
  values: Float32Array;
  variable: tf.LayerVariable;
}

export class ModelState {
  readonly slots: WeightSlot[];
  readonly trainable: Float32Array;
  readonly state: Float32Array;

  private constructor(slots: WeightSlot[], trainable: Float32Array, state: Float32Array) {
    this.slots = slots;
    this.trainable = trainable;
    this.state = state;
  }

  /**
   * Lays out `model`'s weights and reads their current values. `stateVariables` are the
   * non-trainable variables training mode changes (BatchNorm moving statistics of unfrozen layers).
   */
  static fromModel(model: tf.LayersModel, stateVariables: readonly tf.LayerVariable[]): ModelState {
    const trainableSet = new Set<tf.LayerVariable>(model.trainableWeights);
    const stateSet = new Set<tf.LayerVariable>(stateVariables);
    const variables = model.layers.flatMap((layer) => layer.weights);
    const roleOf = (v: tf.LayerVariable): WeightRole => (trainableSet.has(v) ? 'trainable' : stateSet.has(v) ? 'state' : 'frozen');
    const sizeOf = (v: tf.LayerVariable): number => v.shape.reduce((a: number, b) => a * (b ?? 1), 1);
    let trainableSize = 0;
    let stateSize = 0;
    for (const v of variables) {
      if (v.dtype !== 'float32') throw new ModelError('MODEL_INVALID', `weight ${v.name} is ${v.dtype}; only float32 weights are supported`);
      const role = roleOf(v);
      if (role === 'trainable') trainableSize += sizeOf(v);
      else if (role === 'state') stateSize += sizeOf(v);
    }
    // Shared memory, so that the coordinator's Adam thread (adam-thread.ts) updates them in place.
    const trainable = sharedFloat32(trainableSize);
    const state = sharedFloat32(stateSize);
    let trainableOffset = 0;
    let stateOffset = 0;
    const slots = variables.map((variable): WeightSlot => {
      const size = sizeOf(variable);
      const role = roleOf(variable);
      let values: Float32Array;
      if (role === 'trainable') {
        values = trainable.subarray(trainableOffset, trainableOffset + size);
        trainableOffset += size;
      } else if (role === 'state') {
        values = state.subarray(stateOffset, stateOffset + size);
        stateOffset += size;
      } else {
        values = new Float32Array(size);
      }
      return { name: variable.originalName ?? variable.name, shape: variable.shape.map((d) => d ?? 1), size, role, values, variable };
    });
    const modelState = new ModelState(slots, trainable, state);
    modelState.readFromModel();
    return modelState;
  }

  get totalElements(): number {
    return this.slots.reduce((sum, s) => sum + s.size, 0);
  }

  manifest(): TensorSpec[] {
    return this.slots.map((s) => ({ name: s.name, shape: s.shape }));
  }

  /** Checks a manifest received from a peer against this layout; throws naming the first difference. */
  requireSameLayout(manifest: readonly TensorSpec[], peer: string): void {
    if (manifest.length !== this.slots.length) {
      throw new ModelError('MODEL_INVALID', `${peer} sent ${manifest.length} weights, this model has ${this.slots.length}`);
    }
    manifest.forEach((spec, i) => {
      const slot = this.slots[i]!;
      if (spec.shape.join('x') !== slot.shape.join('x')) {
        throw new ModelError('MODEL_INVALID', `${peer}: weight ${i} (${spec.name}) has shape [${spec.shape}], expected [${slot.shape}] for ${slot.name}`);
      }
    });
  }

  /** The model's current variable values → slots. */
  readFromModel(roles: readonly WeightRole[] = ['trainable', 'state', 'frozen']): void {
    for (const slot of this.slots) {
      if (!roles.includes(slot.role)) continue;
      slot.values.set(slot.variable.read().dataSync() as Float32Array);
    }
  }

  /** Slots → the model's variables. */
  writeToModel(roles: readonly WeightRole[] = ['trainable', 'state', 'frozen']): void {
    // The cpu backend keeps a reference to a typed array given to tf.tensor instead of copying it;
    // our slots are reused views, so give it a copy there.
    const mustCopy = tf.getBackend() === 'cpu';
    for (const slot of this.slots) {
      if (!roles.includes(slot.role)) continue;
      const tensor = tf.tensor(mustCopy ? slot.values.slice() : slot.values, slot.shape, 'float32');
      slot.variable.write(tensor);
      tensor.dispose();
    }
  }

  /** Byte views of every weight, in model order: what FetchState streams and checkpoints store. */
  weightBytes(): Uint8Array[] {
    return this.slots.map((s) => new Uint8Array(s.values.buffer, s.values.byteOffset, s.values.byteLength));
  }

  /** sha256 over all weights as float32 little-endian in model order. */
  checksum(): string {
    const hash = createHash('sha256');
    for (const bytes of this.weightBytes()) hash.update(bytes);
    return hash.digest('hex');
  }

  /** sha256 of what the model's variables hold right now (not the slots): what a replica really computes with. */
  static checksumOfModel(state: ModelState): string {
    const hash = createHash('sha256');
    for (const slot of state.slots) {
      const values = slot.variable.read().dataSync() as Float32Array;
      hash.update(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
    }
    return hash.digest('hex');
  }
}
