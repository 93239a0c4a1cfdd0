// The collaborators the run engine (trainer, step engine, protocol session) takes as interfaces, so
// that its logic runs in-process against fakes in tests: the coordinator's copy of the model, the
// checkpoint writer, and the sample source. Membership is the World (pure, in memory); time is the
// Clock; what happens is told on RunEvents.

import type { WireGradients } from '../shared/adam.js';
import type { StatePosition } from '../shared/state-layout.js';
import type { Sample, StateManifest } from '../shared/wire/index.js';
import type { CheckpointMeta, TrainingState } from './checkpoint-store.js';

/** The coordinator's own copy of the model and optimiser, as the engine uses it. */
export interface ShadowState {
  readonly trainableElements: number;
  readonly stateElements: number;
  /** Applied Adam updates so far. */
  readonly iteration: number;
  /**
   * Starts one Adam update from reduced, loss-scaled gradients (the same code every replica runs;
   * `gradients` is read until `settled()` resolves). The iteration counts it at once.
   */
  applyUpdate(gradients: WireGradients, lossScale: number, learningRate: number): void;
  /** Resolves when every update started so far is applied: call before reading the weights. */
  settled(): Promise<void>;
  /** The shard-weighted mean of the workers' BatchNorm statistics. */
  setTrainingState(values: Float32Array): void;
  /** sha256 over every weight, as replicas compute it (after settled()). */
  checksum(): string;
  /** What FetchState streams: manifest, then every weight, then Adam's m and v (after settled()). */
  statePayload(position: StatePosition): { manifest: StateManifest; payload: readonly Uint8Array[] };
  /** Keeps a copy of the current weights (EarlyStopping's restore_best_weights). */
  rememberWeights(): void;
  /** Puts the remembered weights back; false when none were remembered. */
  restoreRememberedWeights(): boolean;
}

/** Writes checkpoints/best and checkpoints/last from the shadow's current state. */
export interface CheckpointWriter {
  saveBest(meta: CheckpointMeta): Promise<void>;
  saveLast(meta: CheckpointMeta, state: TrainingState): Promise<void>;
}

/** Sample data for a worker's command: bytes (or paths) only where it lacks them. */
export interface SampleSource {
  samplesFor(recipient: { workerId: string; localData: boolean }, ids: readonly number[]): Promise<Sample[]>;
  forgetWorker(workerId: string): void;
}
