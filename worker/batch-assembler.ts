// Turns a shard's samples into the model's input batch: image bytes (received now or cached from
// an earlier step), decoded, augmented for training, resized and preprocessed into one reused
// float buffer. Augmentation decisions are drawn from (run seed, epoch, sample id), so the same
// sample in the same epoch looks the same on any worker.

import type { WorkerConfig } from '../shared/config.js';
import { ProtocolError } from '../shared/errors.js';
import { decodeImage } from '../shared/image/decode.js';
import { resizeInto } from '../shared/image/preprocess.js';
import { NUM_CLASSES } from '../shared/classes.js';
import { deriveSeed, SeededRandom } from '../shared/random.js';
import type { Sample } from '../shared/wire.js';

export interface Batch {
  count: number;
  /** count x size x size x 3, NHWC. */
  images: Float32Array;
  labels: Int32Array;
  sampleIds: number[];
}

export class SampleCache {
  private readonly bytes = new Map<number, Buffer>();

  /** Records newly sent bytes and returns every sample's bytes. */
  resolve(samples: readonly Sample[]): Buffer[] {
    return samples.map((sample) => {
      if (sample.image.byteLength > 0) {
        this.bytes.set(sample.id, sample.image);
        return sample.image;
      }
      const cached = this.bytes.get(sample.id);
      if (!cached) throw new ProtocolError('PROTOCOL_INVALID', `sample ${sample.id} came without image bytes and this worker has none cached`);
      return cached;
    });
  }

  get size(): number {
    return this.bytes.size;
  }
}

export class BatchAssembler {
  private images = new Float32Array(0);
  private labels = new Int32Array(0);
  readonly cache = new SampleCache();

  constructor(private readonly config: WorkerConfig) {}

  /** Assembles `samples`; `epoch` is set for training batches (augmented), undefined for evaluation. */
  assemble(samples: readonly Sample[], epoch: number | undefined): Batch {
    const { imageSize, preprocessing, augment, seed } = this.config;
    const pixels = imageSize * imageSize * 3;
    if (this.images.length < samples.length * pixels) {
      this.images = new Float32Array(samples.length * pixels);
      this.labels = new Int32Array(samples.length);
    }
    const bytes = this.cache.resolve(samples);
    samples.forEach((sample, i) => {
      if (!Number.isInteger(sample.label) || sample.label < 0 || sample.label >= NUM_CLASSES) {
        throw new ProtocolError('PROTOCOL_INVALID', `sample ${sample.id} has label ${sample.label}, expected 0..${NUM_CLASSES - 1}`);
      }
      const image = decodeImage(bytes[i]!, `sample ${sample.id}`);
      const flip = epoch !== undefined && augment && new SeededRandom(deriveSeed(seed, 0xa06, epoch, sample.id)).bernoulli(0.5);
      resizeInto(image, imageSize, preprocessing, this.images, i * pixels, { flip });
      this.labels[i] = sample.label;
    });
    return {
      count: samples.length,
      images: this.images.subarray(0, samples.length * pixels),
      labels: this.labels.subarray(0, samples.length),
      sampleIds: samples.map((s) => s.id),
    };
  }
}
