// A worker's replica of the model and optimiser (SPEC §2): forward/backward on its shard (in
// micro-batches whose gradients are summed, so a big shard fits in memory), the loss-scaled
// gradients in the wire format, and the update from the reduced gradients with the same Adam code
// as every other replica.

import * as tf from '@tensorflow/tfjs';
import { AdamOptimizer } from '../shared/adam.js';
import { NUM_CLASSES } from '../shared/classes.js';
import type { WorkerConfig } from '../shared/config.js';
import { BackendError, ProtocolError } from '../shared/errors.js';
import { modelFootprint, planMicroBatch } from '../shared/backend/memory-fit.js';
import { evaluateImages, evaluationChunkSize, type SampleEvaluation } from '../shared/evaluation.js';
import { Fp16Kernels } from '../shared/fp16/kernels.js';
import { categoricalCrossEntropy } from '../shared/losses.js';
import { ModelState } from '../shared/model-state.js';
import { regularizationLoss, setDropoutSeed } from '../shared/models/index.js';
import { deriveSeed } from '../shared/random.js';
import { buildReplicaModel } from '../shared/replica-model.js';
import { StateLayout } from '../shared/state-layout.js';
import { bytesOf, type ReducedHeader, type StateManifest, type TensorDtype } from '../shared/wire/index.js';
import type { Batch } from '../shared/data/batch-assembler.js';

/** Values the fp16 encoder converts at a time. */
const ENCODE_BLOCK = 1 << 18;

export interface StepStats {
  lossSum: number;
  correct: number;
  regularizationLoss: number;
  /** Gradient values that are NaN/Inf or overflow the wire format. */
  nonFinite: number;
}

export class Replica {
  readonly model: tf.LayersModel;
  readonly state: ModelState;
  readonly optimizer: AdamOptimizer;
  private readonly layout: StateLayout;
  /** The loss scale of the next step: from the state on joining, then from each reduced result. */
  lossScale = 1;
  readonly dtype: TensorDtype;
  private readonly tfVariables: tf.Variable[];
  private readonly gradients: Float32Array;
  private readonly upload16: Uint16Array | undefined;
  /** Encodes the gradients to fp16 (SIMD), a block at a time. */
  private readonly encoder: Fp16Kernels | undefined;
  /**
   * The reduced payload streams in while this replica's own upload is still going out, and a
   * restarted step uploads again: so it lands in buffers of its own, never in the upload's.
   */
  private readonly downloadGradients: Uint16Array | Float32Array;
  private readonly downloadState: Float32Array;

  /** The BatchNorm statistics before the step in progress: an abandoned step puts them back. */
  private readonly stateBeforeStep: Float32Array;

  /** Shard sizes already checked against the backend's memory. */
  private readonly fits = new Set<number>();

  /** `memoryBudgetBytes`: the backend's memory limit, when it has one (wasm). */
  constructor(
    readonly config: WorkerConfig,
    private readonly memory?: { budgetBytes: number; backend: string },
  ) {
    const { model, state } = buildReplicaModel(config);
    this.model = model;
    this.state = state;
    this.optimizer = new AdamOptimizer(state.trainable.length);
    this.layout = new StateLayout(state, this.optimizer);
    this.dtype = config.precision === 'fp16' ? 'TENSOR_DTYPE_FLOAT16' : 'TENSOR_DTYPE_FLOAT32';
    this.tfVariables = state.slots.filter((s) => s.role === 'trainable').map((s) => s.variable.read() as tf.Variable);
    this.gradients = new Float32Array(state.trainable.length);
    this.upload16 = config.precision === 'fp16' ? new Uint16Array(state.trainable.length) : undefined;
    this.encoder = config.precision === 'fp16' ? new Fp16Kernels(Math.min(state.trainable.length, ENCODE_BLOCK)) : undefined;
    this.downloadGradients = config.precision === 'fp16' ? new Uint16Array(state.trainable.length) : new Float32Array(state.trainable.length);
    this.downloadState = new Float32Array(state.state.length);
    this.stateBeforeStep = new Float32Array(state.state.length);
  }

  /** Remembers what a step may change before it is decided (the statistics training mode moves). */
  beginStep(): void {
    this.stateBeforeStep.set(this.state.state);
  }

  /**
   * Undoes a step that will not be decided (the world changed): the statistics go back to what
   * they were; the weights, moments and loss scale only change when a step is applied.
   */
  abandonStep(): void {
    this.state.state.set(this.stateBeforeStep);
    this.state.writeToModel(['state']);
  }

  /** Where FetchState's payload goes (the state layout), after checking its manifest. */
  stateTargets(manifest: StateManifest, peer: string): Uint8Array[] {
    return this.layout.targetsFor(manifest, peer);
  }

  /** After FetchState: the received values become the model's. */
  adoptFetchedState(manifest: StateManifest): void {
    this.optimizer.iteration = manifest.optimizerIteration;
    this.lossScale = manifest.lossScale;
    this.state.writeToModel();
  }

  /**
   * Gradients of S x (the shard's mean loss) into the upload buffer, over micro-batches: for
   * micro-batch k of m_k samples in a shard of n, the loss is S * (sum CE_k / n + reg * m_k / n),
   * whose gradients sum to S times the gradient of the shard's mean loss.
   */
  computeGradients(batch: Batch, stepSeed: number): StepStats {
    this.requireFits(batch.count);
    const lossScale = this.lossScale;
    const n = batch.count;
    const size = this.config.imageSize;
    const pixels = size * size * 3;
    const micro = this.config.microBatch > 0 ? this.config.microBatch : Math.max(n, 1);
    this.gradients.fill(0);
    let lossSum = 0;
    let correct = 0;
    let regularization = 0;
    for (let start = 0, k = 0; start < n; start += micro, k++) {
      const m = Math.min(micro, n - start);
      setDropoutSeed(this.model, deriveSeed(stepSeed, k));
      const x = tf.tensor4d(batch.images.subarray(start * pixels, (start + m) * pixels), [m, size, size, 3]);
      const labels = tf.tensor1d(batch.labels.subarray(start, start + m), 'int32');
      const oneHot = tf.oneHot(labels, NUM_CLASSES) as tf.Tensor2D;
      let ceSum: tf.Scalar | undefined;
      let predicted: tf.Tensor1D | undefined;
      let reg: tf.Scalar | undefined;
      const { value, grads } = tf.variableGrads(() => {
        const probabilities = this.model.apply(x, { training: true }) as tf.Tensor2D;
        const ce = categoricalCrossEntropy(oneHot, probabilities);
        const sum = tf.sum(ce) as tf.Scalar;
        ceSum = tf.keep(sum);
        predicted = tf.keep(tf.argMax(probabilities, -1) as tf.Tensor1D);
        const r = regularizationLoss(this.model);
        reg = tf.keep(r);
        return tf.mul(tf.add(tf.div(sum, n), tf.mul(r, m / n)), lossScale) as tf.Scalar;
      }, this.tfVariables);
      lossSum += ceSum!.dataSync()[0]!;
      regularization = reg!.dataSync()[0]!;
      const predictions = predicted!.dataSync();
      for (let i = 0; i < m; i++) if (predictions[i] === batch.labels[start + i]) correct++;
      let offset = 0;
      for (const variable of this.tfVariables) {
        const g = grads[variable.name]!.dataSync() as Float32Array;
        if (k === 0) this.gradients.set(g, offset);
        else for (let i = 0; i < g.length; i++) this.gradients[offset + i]! += g[i]!;
        offset += g.length;
      }
      tf.dispose([value, grads as tf.NamedTensorMap, x, labels, oneHot, ceSum!, predicted!, reg!]);
    }
    if (n === 0) regularization = tf.tidy(() => regularizationLoss(this.model).dataSync()[0]!);
    // Training mode moved this replica's BatchNorm statistics; they travel with the gradients.
    this.state.readFromModel(['state']);
    let nonFinite = 0;
    if (this.upload16) nonFinite = this.encoder!.encodeAll(this.gradients, this.upload16);
    else for (let i = 0; i < this.gradients.length; i++) if (!Number.isFinite(this.gradients[i]!)) nonFinite++;
    return { lossSum, correct, regularizationLoss: regularization, nonFinite };
  }

  /** Refuses, with the micro-batch that would fit, a shard whose step would exhaust the backend's memory. */
  private requireFits(shard: number): void {
    if (!this.memory || this.fits.has(shard)) return;
    const what = `${this.config.model} at ${this.config.imageSize}x${this.config.imageSize} on this worker's ${this.memory.backend} backend`;
    const plan = planMicroBatch(modelFootprint(this.model), this.config.microBatch, shard, this.memory.budgetBytes, what);
    if ('error' in plan || plan.chosen) {
      const advice = 'error' in plan ? plan.error : `${what} cannot train shards of ${shard} at once: start the run with --micro-batch ${plan.microBatch} or less`;
      throw new BackendError('BACKEND_OUT_OF_MEMORY', advice);
    }
    this.fits.add(shard);
  }

  get trainableElements(): number {
    return this.state.trainable.length;
  }

  get stateElements(): number {
    return this.state.state.length;
  }

  /** This replica's own loss-scaled gradients in the wire dtype (after computeGradients). */
  ownGradients(): Uint16Array | Float32Array {
    return this.upload16 ?? this.gradients;
  }

  /** Where the reduced gradients go: the exchange's download, or the ring's result. */
  reducedGradients(): Uint16Array | Float32Array {
    return this.downloadGradients;
  }

  /**
   * Upload payload: gradients in the wire dtype, then the BatchNorm statistics. With a ring
   * segment, the reduced values of that segment (which the ring made final here) instead.
   */
  uploadPayload(segment?: { offset: number; count: number }): Uint8Array[] {
    if (segment) {
      const elementBytes = this.downloadGradients instanceof Uint16Array ? 2 : 4;
      const bytes = bytesOf(this.downloadGradients).subarray(segment.offset * elementBytes, (segment.offset + segment.count) * elementBytes);
      return [bytes, bytesOf(this.state.state)];
    }
    return [bytesOf(this.ownGradients()), bytesOf(this.state.state)];
  }

  /**
   * Where the reduced payload goes: this replica's own layout (the verdict is checked against
   * it); after a ring, only the statistics come back from the coordinator.
   */
  downloadTargets(ring = false): Uint8Array[] {
    return ring ? [bytesOf(this.downloadState)] : [bytesOf(this.downloadGradients), bytesOf(this.downloadState)];
  }

  /** Applies a reduced step: the Adam update when not skipped, the averaged statistics always. */
  applyReduced(header: ReducedHeader): void {
    this.lossScale = header.nextLossScale;
    this.state.state.set(this.downloadState);
    if (header.applied) {
      if (header.optimizerIteration !== this.optimizer.iteration + 1) {
        throw new ProtocolError('PROTOCOL_WRONG_STEP', `reduced step ${header.step} is Adam iteration ${header.optimizerIteration}, this replica is at ${this.optimizer.iteration}`);
      }
      this.optimizer.step(this.state.trainable, this.downloadGradients, header.lossScale, header.learningRate);
      this.state.writeToModel(['trainable', 'state']);
    } else {
      this.state.writeToModel(['state']);
    }
  }

  evaluate(batch: Batch): SampleEvaluation {
    return evaluateImages(this.model, batch, this.config.imageSize, evaluationChunkSize(this.config.microBatch));
  }

  checksum(): string {
    return ModelState.checksumOfModel(this.state);
  }
}
