// The worker's data threads (SPEC §2: "decodes and augments it in a thread pool (piscina)"),
// sized by `worker --data-threads`. A shard is cut into a few chunks per thread for balance, and
// every chunk is handed to a thread at once: a training step keeps the main thread busy for
// seconds, during which it could not hand out more work, so the threads must already have it.

import { DatasetError } from '../errors.js';
import { inputLength, type EncodedSample, type InputSpec } from '../image/model-input.js';
import { createThreadPool, taskModuleUrl } from '../thread-pool.js';
import type { DataTask, DataTaskFailure } from './data-task.js';

const CHUNKS_PER_THREAD = 4;
/** Enough for two shards in flight (the step being computed and the next) without waiting on the main thread. */
const TASKS_PER_THREAD = 4 * CHUNKS_PER_THREAD;

export class DataPool {
  private readonly pool;

  constructor(readonly threads: number) {
    this.pool = createThreadPool(taskModuleUrl(import.meta.url, './data-task.js'), { threads, tasksPerThread: TASKS_PER_THREAD });
  }

  /** Writes the model input of every sample into `output` (shared memory), in order. */
  async writeInputs(samples: readonly EncodedSample[], epoch: number | undefined, spec: InputSpec, output: Float32Array): Promise<void> {
    const length = inputLength(spec.imageSize);
    const chunkSize = Math.max(1, Math.ceil(samples.length / (this.threads * CHUNKS_PER_THREAD)));
    const runs: Array<Promise<DataTaskFailure>> = [];
    for (let start = 0; start < samples.length; start += chunkSize) {
      const chunk = samples.slice(start, start + chunkSize);
      const task: DataTask = { samples: chunk, epoch, spec, output: output.subarray(start * length, (start + chunk.length) * length) };
      runs.push(this.pool.run(task) as Promise<DataTaskFailure>);
    }
    const failure = (await Promise.all(runs)).find((f) => f !== undefined);
    if (failure) throw new DatasetError('DATASET_BAD_SAMPLE', failure.message);
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }
}
