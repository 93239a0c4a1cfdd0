// Piscina task of the worker's data pipeline: decode, augment, resize and preprocess a chunk of a
// shard, writing the floats straight into the batch buffer, which is shared memory. Bytes come in
// as views of shared memory and pixels go out in place: nothing is copied between threads.

import { writeModelInputs, type EncodedSample, type InputSpec } from '../image/model-input.js';

export interface DataTask {
  samples: EncodedSample[];
  /** Set for a training step (augmented), undefined for evaluation. */
  epoch: number | undefined;
  spec: InputSpec;
  /** A view of the batch's shared buffer where this chunk's images go. */
  output: Float32Array;
}

/** Undefined when every sample was written; otherwise why not (thrown errors lose their class between threads). */
export type DataTaskFailure = { message: string } | undefined;

export default function runDataTask(task: DataTask): DataTaskFailure {
  try {
    writeModelInputs(task.samples, task.epoch, task.spec, task.output);
    return undefined;
  } catch (error) {
    return { message: error instanceof Error ? error.message : String(error) };
  }
}
