// Adam off the event loop. The coordinator's shadow copy must apply every reduced step too, and for
// ResNet50 that is a few hundred milliseconds of arithmetic; on the event loop it would hold up
// the streams of the next step. Weights, moments and the reduced gradients are in shared memory
// (sharedFloat32), so a thread updates them in place and nothing is copied. The arithmetic is the
// one applyAdam, so the result is the same bits as on the main thread.

import type { Piscina } from 'piscina';
import { KERAS_ADAM, type AdamHyperparameters, type AdamSlots, type WireGradients } from './adam.js';
import type { AdamTask } from './adam-task.js';
import { BackendError } from './errors.js';
import { createThreadPool, taskModuleUrl } from './thread-pool.js';

function requireShared(name: string, array: Float32Array | Uint16Array): void {
  if (!(array.buffer instanceof SharedArrayBuffer)) {
    throw new BackendError('BACKEND_UNAVAILABLE', `the Adam thread needs ${name} in shared memory (sharedFloat32)`);
  }
}

export class AdamThread {
  private readonly pool: Piscina;

  constructor(
    private readonly weights: Float32Array,
    private readonly slots: AdamSlots,
    private readonly hyper: AdamHyperparameters = KERAS_ADAM,
  ) {
    requireShared('the weights', weights);
    requireShared("Adam's m", slots.m);
    requireShared("Adam's v", slots.v);
    this.pool = createThreadPool(taskModuleUrl(import.meta.url, './adam-task.js'), { threads: 1 });
  }

  /** Applies one update (iteration `iteration`) from gradients scaled by `lossScale`. */
  async apply(gradients: WireGradients, lossScale: number, learningRate: number, iteration: number): Promise<void> {
    requireShared('the gradients', gradients);
    const task: AdamTask = { weights: this.weights, m: this.slots.m, v: this.slots.v, gradients, gradientScale: 1 / lossScale, learningRate, iteration, hyper: this.hyper };
    await this.pool.run(task);
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }
}
