// Shared by the gradient-parity tests of the wasm backend against the cpu backend: the kernels
// registered for the test file, the error measure and its tolerance, seeded inputs, and running a
// body on a chosen backend.

import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, beforeAll, expect } from 'vitest';
import { registerWasmTrainingKernels, unregisterWasmTrainingKernels } from '../../shared/backend/wasm-kernels/index.js';
import { SeededRandom } from '../../shared/random.js';

/** Registers the training kernels for the test file and restores the registry after it. */
export function useWasmTrainingKernels(): void {
  beforeAll(async () => {
    tf.env().set('PROD', true);
    // Registered before the backend initializes, as shared/backend/select-backend.ts does.
    registerWasmTrainingKernels();
    await tf.setBackend('wasm');
  });
  afterAll(() => {
    unregisterWasmTrainingKernels();
  });
}

/** The largest relative error a wasm result may have against the cpu backend's. */
export const TOLERANCE = 1e-4;

/**
 * Relative error of a wasm result against the cpu backend's:
 *   max|wasm - cpu| / max(max|cpu|, 1e-6)
 */
export function relativeError(wasm: ArrayLike<number>, cpu: ArrayLike<number>): number {
  expect(wasm.length).toBe(cpu.length);
  let maxDiff = 0;
  let maxCpu = 0;
  for (let i = 0; i < cpu.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(wasm[i] - cpu[i]));
    maxCpu = Math.max(maxCpu, Math.abs(cpu[i]));
  }
  return Number.isNaN(maxDiff) ? Infinity : maxDiff / Math.max(maxCpu, 1e-6);
}

export function randomValues(shape: number[], seed: number): Float32Array {
  const random = new SeededRandom(seed);
  return Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => random.normal());
}

export async function onBackend<T>(name: 'wasm' | 'cpu', body: () => T): Promise<T> {
  await tf.setBackend(name);
  return body();
}

