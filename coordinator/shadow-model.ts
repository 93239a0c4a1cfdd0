// The coordinator's own copy of the model and optimiser. It applies the same reduced gradients
// with the same Adam code as every worker, so it always holds the run's current state: that is
// what checkpoints are written from, what a joining or replacement worker is sent, and what each
// replica's checksum is compared against.

import type * as tf from '@tensorflow/tfjs';
import { applyAdam, createAdamSlots, type AdamSlots } from '../shared/adam.js';
import type { WorkerConfig } from '../shared/config.js';
import type { ModelState } from '../shared/model-state.js';
import { buildReplicaModel } from '../shared/replica-model.js';
import type { StateManifest } from '../shared/wire.js';

export class ShadowModel {
  readonly model: tf.LayersModel;
  readonly state: ModelState;
  slots: AdamSlots;
  /** Applied Adam updates so far (skipped steps do not count). */
  iteration = 0;

  constructor(config: WorkerConfig) {
    const replica = buildReplicaModel(config);
    this.model = replica.model;
    this.state = replica.state;
    this.slots = createAdamSlots(this.state.trainable.length);
  }

  applyUpdate(gradients: Float32Array, lossScale: number, learningRate: number): number {
    this.iteration++;
    applyAdam(this.state.trainable, this.slots, gradients, 1 / lossScale, learningRate, this.iteration);
    return this.iteration;
  }

  setTrainingState(values: Float32Array): void {
    this.state.state.set(values);
  }

  /** Copies the current values into the tf model (before saving it). */
  syncToModel(): void {
    this.state.writeToModel();
  }

  /** What FetchState sends: the manifest, then every weight, then (when asked) Adam's m and v. */
  statePayload(step: number, learningRate: number, lossScale: number, withOptimizer: boolean): { manifest: StateManifest; payload: Uint8Array[] } {
    const payload = this.state.weightBytes();
    if (withOptimizer) {
      payload.push(new Uint8Array(this.slots.m.buffer, this.slots.m.byteOffset, this.slots.m.byteLength));
      payload.push(new Uint8Array(this.slots.v.buffer, this.slots.v.byteOffset, this.slots.v.byteLength));
    }
    return {
      manifest: {
        weights: this.state.manifest(),
        optimizerIteration: this.iteration,
        hasOptimizerSlots: withOptimizer,
        step,
        learningRate,
        lossScale,
        totalElements: this.state.totalElements + (withOptimizer ? 2 * this.slots.m.length : 0),
      },
      payload,
    };
  }
}
