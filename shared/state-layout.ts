// The one byte layout of a model's training state: every weight in model order (layers in order,
// each layer's weights in order), then Adam's m, then v (one value per trainable weight, in the
// order gradients travel). FetchState streams it with a manifest in front, a joining replica
// receives into it, checkpoints/last stores its optimizer part as optimizer.bin, and resume reads it
// back — all through this class, so the order is written down once.

import type { AdamOptimizer } from './adam.js';
import { ProtocolError } from './errors.js';
import type { ModelState } from './model-state.js';
import { bytesOf, type StateManifest } from './wire/index.js';

export interface StatePosition {
  step: number;
  learningRate: number;
  lossScale: number;
}

export class StateLayout {
  constructor(
    readonly model: ModelState,
    readonly optimizer: AdamOptimizer,
  ) {}

  get trainableElements(): number {
    return this.model.trainable.length;
  }

  get stateElements(): number {
    return this.model.state.length;
  }

  /** Byte views of every weight, in model order. */
  weightSegments(): Uint8Array[] {
    return this.model.weightBytes();
  }

  /** Byte views of Adam's m, then v. */
  optimizerSegments(): Uint8Array[] {
    return [bytesOf(this.optimizer.slots.m), bytesOf(this.optimizer.slots.v)];
  }

  segments(withOptimizer: boolean): Uint8Array[] {
    return withOptimizer ? [...this.weightSegments(), ...this.optimizerSegments()] : this.weightSegments();
  }

  /** What FetchState sends first: the layout of the bytes that follow and where training stands. */
  manifest(position: StatePosition, withOptimizer: boolean): StateManifest {
    return {
      weights: this.model.manifest(),
      optimizerIteration: this.optimizer.iteration,
      hasOptimizerSlots: withOptimizer,
      step: position.step,
      learningRate: position.learningRate,
      totalElements: this.model.totalElements + (withOptimizer ? 2 * this.trainableElements : 0),
      lossScale: position.lossScale,
    };
  }

  /**
   * Where a received state goes, after checking that its manifest describes exactly this layout
   * with the optimiser state (a replica cannot train without it); `peer` names the sender.
   */
  targetsFor(manifest: StateManifest, peer: string): Uint8Array[] {
    this.model.requireSameLayout(manifest.weights, peer);
    if (!manifest.hasOptimizerSlots) throw new ProtocolError('PROTOCOL_INVALID', `${peer} sent the model state without the optimiser state`);
    const expected = this.model.totalElements + 2 * this.trainableElements;
    if (manifest.totalElements !== expected) {
      throw new ProtocolError('PROTOCOL_WRONG_SIZE', `${peer} declared ${manifest.totalElements} state values; this model's weights and Adam moments are ${expected}`);
    }
    return this.segments(true);
  }
}
