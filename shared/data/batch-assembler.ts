// Turns a shard's samples into the model's input batch: the samples' bytes (received now, cached
// from an earlier command, or read from the worker's own copy of the dataset), decoded, augmented
// for training, resized and preprocessed by the data threads into a batch buffer in shared
// memory. Buffers are reused: one is taken per batch in preparation and given back once the
// batch is computed, so two of them (the step being computed and the next) serve a whole run.
// Augmentation is drawn from (run seed, epoch, sample id), so the same sample in the same epoch
// looks the same on any worker and in any thread.

import { NUM_CLASSES } from '../classes.js';
import type { WorkerConfig } from '../config.js';
import { ProtocolError } from '../errors.js';
import { inputLength, type InputSpec } from '../image/model-input.js';
import type { Sample } from '../wire/index.js';
import type { DataPool } from './data-pool.js';
import { SampleBytes } from './sample-bytes.js';

export interface Batch {
  count: number;
  /** count x size x size x 3, NHWC. */
  images: Float32Array;
  labels: Int32Array;
  sampleIds: number[];
}

export class BatchAssembler {
  readonly bytes: SampleBytes;
  private readonly spec: InputSpec;
  private readonly free: Float32Array[] = [];

  constructor(
    config: WorkerConfig,
    private readonly pool: DataPool,
    dataDir?: string,
  ) {
    this.spec = { imageSize: config.imageSize, preprocessing: config.preprocessing, seed: config.seed, augment: config.augment, ...(config.augmentation ? { augmentation: config.augmentation } : {}) };
    this.bytes = new SampleBytes(dataDir);
  }

  /** Assembles `samples`; `epoch` is set for training batches (augmented), undefined for evaluation. */
  async assemble(samples: readonly Sample[], epoch: number | undefined): Promise<Batch> {
    const labels = new Int32Array(samples.length);
    samples.forEach((sample, i) => {
      if (!Number.isInteger(sample.label) || sample.label < 0 || sample.label >= NUM_CLASSES) {
        throw new ProtocolError('PROTOCOL_INVALID', `sample ${sample.id} has label ${sample.label}, expected 0..${NUM_CLASSES - 1}`);
      }
      labels[i] = sample.label;
    });
    const bytes = await this.bytes.resolve(samples);
    const images = this.takeBuffer(samples.length * inputLength(this.spec.imageSize));
    try {
      const encoded = samples.map((sample, i) => ({ id: sample.id, bytes: bytes[i]!, where: `sample ${sample.id}` }));
      await this.pool.writeInputs(encoded, epoch, this.spec, images);
    } catch (error) {
      this.giveBack(images);
      throw error;
    }
    return { count: samples.length, images, labels, sampleIds: samples.map((s) => s.id) };
  }

  /** The batch has been computed: its buffer may be filled again. */
  release(batch: Batch): void {
    this.giveBack(batch.images);
  }

  private takeBuffer(length: number): Float32Array {
    let best = -1;
    this.free.forEach((buffer, i) => {
      if (buffer.length >= length && (best < 0 || buffer.length < this.free[best]!.length)) best = i;
    });
    const whole = best >= 0 ? this.free.splice(best, 1)[0]! : new Float32Array(new SharedArrayBuffer(length * Float32Array.BYTES_PER_ELEMENT));
    return whole.subarray(0, length);
  }

  private giveBack(images: Float32Array): void {
    this.free.push(new Float32Array(images.buffer));
  }
}
