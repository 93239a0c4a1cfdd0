// Piscina task of the Adam thread (adam-thread.ts): one update, in place, of weights and moments
// that live in shared memory.

import { applyAdam, type AdamHyperparameters, type WireGradients } from './adam.js';

export interface AdamTask {
  weights: Float32Array;
  m: Float32Array;
  v: Float32Array;
  gradients: WireGradients;
  gradientScale: number;
  learningRate: number;
  iteration: number;
  hyper: AdamHyperparameters;
}

export default function runAdamTask(task: AdamTask): void {
  applyAdam(task.weights, { m: task.m, v: task.v }, task.gradients, task.gradientScale, task.learningRate, task.iteration, task.hyper);
}
