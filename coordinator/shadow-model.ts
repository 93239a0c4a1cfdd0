// The coordinator's own copy of the model and optimiser. It applies the same reduced gradients
// with the same Adam code as every worker, so it always holds the run's current state: that is
// what checkpoints are written from, what a joining or replacement worker is sent, and what each
// replica's checksum is compared against.

import type * as tf from '@tensorflow/tfjs';
import { AdamOptimizer, type WireGradients } from '../shared/adam.js';
import { AdamThread } from '../shared/adam-thread.js';
import type { WorkerConfig } from '../shared/config.js';
import type { ModelState } from '../shared/model-state.js';
import { buildReplicaModel } from '../shared/replica-model.js';
import { StateLayout, type StatePosition } from '../shared/state-layout.js';
import type { StateManifest } from '../shared/wire/index.js';
import type { ShadowState } from './engine-ports.js';

export class ShadowModel implements ShadowState {
  readonly model: tf.LayersModel;
  readonly state: ModelState;
  readonly optimizer: AdamOptimizer;
  readonly layout: StateLayout;
  private readonly adam: AdamThread;
  /** The updates started so far, applied in order by the Adam thread. */
  private updates: Promise<void> = Promise.resolve();
  private remembered: Float32Array[] | undefined;

  constructor(config: WorkerConfig) {
    const replica = buildReplicaModel(config);
    this.model = replica.model;
    this.state = replica.state;
    this.optimizer = new AdamOptimizer(this.state.trainable.length);
    this.layout = new StateLayout(this.state, this.optimizer);
    this.adam = new AdamThread(this.state.trainable, this.optimizer.slots);
  }

  get trainableElements(): number {
    return this.state.trainable.length;
  }

  get stateElements(): number {
    return this.state.state.length;
  }

  get iteration(): number {
    return this.optimizer.iteration;
  }

  applyUpdate(gradients: WireGradients, lossScale: number, learningRate: number): void {
    const iteration = ++this.optimizer.iteration;
    this.updates = this.updates.then(() => this.adam.apply(gradients, lossScale, learningRate, iteration));
  }

  settled(): Promise<void> {
    return this.updates;
  }

  async close(): Promise<void> {
    await this.updates.catch(() => undefined);
    await this.adam.close();
  }

  setTrainingState(values: Float32Array): void {
    this.state.state.set(values);
  }

  checksum(): string {
    return this.state.checksum();
  }

  /** Copies the current values into the tf model (before saving it). */
  syncToModel(): void {
    this.state.writeToModel();
  }

  statePayload(position: StatePosition): { manifest: StateManifest; payload: Uint8Array[] } {
    return { manifest: this.layout.manifest(position, true), payload: this.layout.segments(true) };
  }

  rememberWeights(): void {
    this.remembered = this.state.slots.map((slot) => slot.values.slice());
  }

  restoreRememberedWeights(): boolean {
    if (!this.remembered) return false;
    this.state.slots.forEach((slot, i) => slot.values.set(this.remembered![i]!));
    return true;
  }
}
