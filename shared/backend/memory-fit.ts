// Whether a training step fits a backend's memory, before anything runs out of it. The wasm
// backend is wasm32: its heap cannot grow past 4 GiB, and a step that needs more aborts the worker
// ("memory access out of bounds"). The peak heap of a step grows with the micro-batch:
//
//   peak ≈ WEIGHT_FACTOR · weight bytes + ACTIVATION_FACTOR · micro-batch · activation bytes per sample
//
// where activation bytes are the model's layer outputs for one sample. Measured on wasm (tfjs
// 4.22, peak heap after a training step; .scratch/measure.mjs in the issue-9 note):
//   resnet50 224, freeze 40: batch 1 → 1,031 MiB, 2 → 1,604, 4 → 2,636 (8 aborts); 142 MiB of outputs a sample
//   resnet50 112, freeze 40: batch 16 → 2,726 MiB; 36 MiB of outputs a sample
//   small-cnn 64: batch 32 → 48 MiB, 128 → 160 MiB
// that is about 3.8 bytes of heap per output byte a sample for ResNet50 and 5.4 bytes per weight
// byte; the factors below add about 20% headroom, and the budget stays under the 4 GiB ceiling.

import type * as tf from '@tensorflow/tfjs';
import type { ResolvedBackend } from './select-backend.js';

export const WASM_HEAP_BUDGET_BYTES = 3.5 * 2 ** 30;
const WEIGHT_FACTOR = 5.5;
const ACTIVATION_FACTOR = 4.5;

/** The memory a backend's step must fit in, or undefined where there is no hard limit we know of. */
export function memoryBudgetBytes(backend: ResolvedBackend): number | undefined {
  return backend === 'wasm' ? WASM_HEAP_BUDGET_BYTES : undefined;
}

export interface ModelFootprint {
  weightBytes: number;
  /** Bytes of every layer's output for one sample. */
  activationBytesPerSample: number;
}

export function modelFootprint(model: tf.LayersModel): ModelFootprint {
  let weights = 0;
  for (const weight of model.weights) weights += weight.shape.reduce((a: number, b) => a * (b ?? 1), 1);
  let activations = 0;
  for (const layer of model.layers) {
    const shapes = (Array.isArray(layer.outputShape[0]) ? layer.outputShape : [layer.outputShape]) as Array<Array<number | null>>;
    for (const shape of shapes) activations += shape.slice(1).reduce((a: number, b) => a * (b ?? 1), 1);
  }
  return { weightBytes: weights * 4, activationBytesPerSample: activations * 4 };
}

/** The estimated peak memory of a training step in micro-batches of `microBatch`. */
export function estimatedStepBytes(footprint: ModelFootprint, microBatch: number): number {
  return WEIGHT_FACTOR * footprint.weightBytes + ACTIVATION_FACTOR * microBatch * footprint.activationBytesPerSample;
}

/** The largest micro-batch up to `shard` that fits `budgetBytes`; 0 when not even one sample does. */
export function largestFittingMicroBatch(footprint: ModelFootprint, shard: number, budgetBytes: number): number {
  const room = budgetBytes - WEIGHT_FACTOR * footprint.weightBytes;
  if (room <= 0) return 0;
  return Math.min(shard, Math.floor(room / (ACTIVATION_FACTOR * footprint.activationBytesPerSample)));
}

/** How a model trains on a memory-limited backend: the micro-batch to use, or why it cannot. */
export type MemoryPlan = { microBatch: number; chosen: boolean } | { error: string };

/**
 * The micro-batch for shards of up to `shard` samples under `budgetBytes`: the configured one when
 * it fits (0 = the whole shard), else — when none was configured — the largest that fits.
 */
export function planMicroBatch(footprint: ModelFootprint, configured: number, shard: number, budgetBytes: number, what: string): MemoryPlan {
  const gib = (bytes: number) => (bytes / 2 ** 30).toFixed(1);
  const wanted = configured > 0 ? Math.min(configured, shard) : shard;
  if (estimatedStepBytes(footprint, wanted) <= budgetBytes) return { microBatch: configured, chosen: false };
  const fitting = largestFittingMicroBatch(footprint, shard, budgetBytes);
  const needs = `${what} needs about ${gib(estimatedStepBytes(footprint, wanted))} GiB for ${wanted} samples at once; the budget is ${gib(budgetBytes)} GiB`;
  if (fitting < 1) return { error: `${needs}, and not even one sample fits: use a smaller --image-size (or a GPU backend)` };
  if (configured > 0) return { error: `${needs}: use --micro-batch ${fitting} or less` };
  return { microBatch: fitting, chosen: true };
}
