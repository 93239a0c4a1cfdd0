// Evaluating a checkpoint on one split in this process, with the machinery a worker uses for
// validation: the same batch assembly (decode, resize, preprocess; no augmentation), the same
// evaluateImages() in the same chunk size, and per-sample losses totalled in the split's id order
// as the coordinator totals them. Per-sample results do not depend on which other samples share
// a forward pass (inference has no batch statistics), so the loss and accuracy equal the run's
// own val numbers exactly, not approximately (issue 5, acceptance d).

import os from 'node:os';
import type * as tf from '@tensorflow/tfjs';
import type { SampleStore } from '../shared/data/sample-store.js';
import type { WorkerConfig } from '../shared/config.js';
import type { DatasetIndex } from '../shared/dataset/index.js';
import { ReportError } from '../shared/errors.js';
import { AS_IT_IS, evaluateImages, evaluationChunkSize, meanLoss, type TestView } from '../shared/evaluation.js';
import { NUM_CLASSES } from '../shared/classes.js';
import { BatchAssembler } from '../shared/data/batch-assembler.js';
import { DataPool } from '../shared/data/data-pool.js';

export type SplitName = 'val' | 'test';

export interface SplitOutcome {
  split: SplitName;
  /** Dataset ids in evaluation order (ascending, as the split lists them). */
  sampleIds: number[];
  labels: Int32Array;
  predictions: Int32Array;
  /** sampleIds.length x NUM_CLASSES. */
  probabilities: Float32Array;
  /** Per-sample cross-entropy. */
  losses: Float64Array;
  /** Keras' loss: mean cross-entropy + the L2 penalty. */
  loss: number;
  accuracy: number;
}

/** Decoded inputs held at once, so a 224x224 test split does not need gigabytes. */
const BLOCK_BYTES = 64 * 1024 * 1024;

export async function evaluateSplit(
  model: tf.LayersModel,
  split: SplitName,
  ids: readonly number[],
  index: DatasetIndex,
  store: SampleStore,
  config: WorkerConfig,
  views: readonly TestView[] = AS_IT_IS,
): Promise<SplitOutcome> {
  const count = ids.length;
  if (count === 0) throw new ReportError('RUN_INVALID', `the ${split} split of ${index.root} has no samples`);
  const chunk = evaluationChunkSize(config.microBatch);
  const bytesPerSample = config.imageSize * config.imageSize * 3 * 4;
  const block = Math.max(chunk, Math.floor(BLOCK_BYTES / bytesPerSample / chunk) * chunk);
  const pool = new DataPool(Math.max(1, os.cpus().length));
  const assembler = new BatchAssembler(config, pool);
  const outcome: SplitOutcome = {
    split,
    sampleIds: [...ids],
    labels: new Int32Array(count),
    predictions: new Int32Array(count),
    probabilities: new Float32Array(count * NUM_CLASSES),
    losses: new Float64Array(count),
    loss: Number.NaN,
    accuracy: Number.NaN,
  };
  let correct = 0;
  let regularization = 0;
  try {
    for (let start = 0; start < count; start += block) {
      const blockIds = ids.slice(start, start + block);
      const samples = await Promise.all(blockIds.map(async (id) => ({ id, label: index.samples[id]!.label, image: await store.bytes(id), path: '', sha256: '' })));
      const batch = await assembler.assemble(samples, undefined);
      const result = evaluateImages(model, batch, config.imageSize, chunk, views);
      outcome.labels.set(batch.labels, start);
      outcome.predictions.set(result.predictions, start);
      outcome.probabilities.set(result.probabilities, start * NUM_CLASSES);
      outcome.losses.set(result.losses, start);
      correct += result.correct;
      regularization = result.regularizationLoss;
      assembler.release(batch);
    }
  } finally {
    await pool.close();
  }
  outcome.loss = meanLoss(outcome.losses, regularization);
  outcome.accuracy = correct / count;
  return outcome;
}
