// A model that is only its flat arrays: `trainable` weights and `state` values (BatchNorm-like
// statistics), with the one Adam applier. It stands in for the coordinator's shadow model where
// the engine is exercised without tfjs: the exchange benchmark and the in-process engine tests.

import { createHash } from 'node:crypto';
import { AdamOptimizer, sharedFloat32, type WireGradients } from '../../shared/adam.js';
import { AdamThread } from '../../shared/adam-thread.js';
import type { StatePosition } from '../../shared/state-layout.js';
import { bytesOf, type StateManifest } from '../../shared/wire/index.js';
import type { ShadowState } from '../../coordinator/engine-ports.js';

export function sha256Of(...arrays: Float32Array[]): string {
  const hash = createHash('sha256');
  for (const a of arrays) hash.update(bytesOf(a));
  return hash.digest('hex');
}

export class FlatShadow implements ShadowState {
  readonly weights: Float32Array;
  readonly state: Float32Array;
  readonly optimizer: AdamOptimizer;
  private readonly adam: AdamThread;
  private updates: Promise<void> = Promise.resolve();
  private remembered: { weights: Float32Array; state: Float32Array } | undefined;

  constructor(
    readonly trainableElements: number,
    readonly stateElements: number,
  ) {
    this.weights = sharedFloat32(trainableElements);
    this.state = new Float32Array(stateElements);
    this.optimizer = new AdamOptimizer(trainableElements);
    this.adam = new AdamThread(this.weights, this.optimizer.slots);
  }

  get iteration(): number {
    return this.optimizer.iteration;
  }

  /** As the coordinator's shadow: the update runs in the Adam thread; settled() waits for it. */
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
    this.state.set(values);
  }

  checksum(): string {
    return sha256Of(this.weights, this.state);
  }

  statePayload(position: StatePosition): { manifest: StateManifest; payload: readonly Uint8Array[] } {
    return {
      manifest: {
        weights: [
          { name: 'w', shape: [this.trainableElements] },
          { name: 's', shape: [this.stateElements] },
        ],
        optimizerIteration: this.iteration,
        hasOptimizerSlots: true,
        step: position.step,
        learningRate: position.learningRate,
        totalElements: 3 * this.trainableElements + this.stateElements,
        lossScale: position.lossScale,
      },
      payload: [bytesOf(this.weights), bytesOf(this.state), bytesOf(this.optimizer.slots.m), bytesOf(this.optimizer.slots.v)],
    };
  }

  rememberWeights(): void {
    this.remembered = { weights: this.weights.slice(), state: this.state.slice() };
  }

  restoreRememberedWeights(): boolean {
    if (!this.remembered) return false;
    this.weights.set(this.remembered.weights);
    this.state.set(this.remembered.state);
    return true;
  }
}
