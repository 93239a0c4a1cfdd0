// The coordinator serves sample bytes to workers (so a remote worker needs no copy of the
// dataset). Files are read once and kept in memory up to a budget; samples with no file of their
// own (FER2013 rows) are encoded as PNG once. Each worker is sent a sample's bytes only the first
// time it needs it, since workers cache what they receive.

import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { DatasetIndex } from '../shared/dataset/index.js';
import { DatasetError } from '../shared/errors.js';
import { encodePng } from '../shared/image/png.js';
import type { Sample } from '../shared/wire.js';

const EMPTY = Buffer.alloc(0);

export class SampleStore {
  private readonly cache = new Map<number, Buffer>();
  private cachedBytes = 0;
  private readonly sentTo = new Map<string, Set<number>>();

  constructor(
    private readonly index: DatasetIndex,
    private readonly cacheBudgetBytes = 1024 * 1024 * 1024,
  ) {}

  async bytes(id: number): Promise<Buffer> {
    const cached = this.cache.get(id);
    if (cached) return cached;
    const sample = this.index.samples[id];
    if (!sample) throw new DatasetError('DATASET_BAD_SAMPLE', `sample id ${id} is not in the dataset index (${this.index.samples.length} samples)`);
    let bytes: Buffer;
    if (sample.pixels) {
      bytes = encodePng(sample.pixels);
    } else {
      const file = path.join(this.index.root, sample.path);
      try {
        bytes = await fs.readFile(file);
      } catch (cause) {
        throw new DatasetError('DATASET_BAD_SAMPLE', `cannot read sample ${file}: ${(cause as Error).message}`, { cause });
      }
    }
    if (this.cachedBytes + bytes.byteLength <= this.cacheBudgetBytes) {
      this.cache.set(id, bytes);
      this.cachedBytes += bytes.byteLength;
    }
    return bytes;
  }

  /** The samples for one worker's shard, with image bytes only where that worker lacks them. */
  async samplesFor(workerId: string, ids: readonly number[]): Promise<Sample[]> {
    let sent = this.sentTo.get(workerId);
    if (!sent) this.sentTo.set(workerId, (sent = new Set()));
    const samples = await Promise.all(
      ids.map(async (id) => ({ id, label: this.index.samples[id]!.label, image: sent.has(id) ? EMPTY : await this.bytes(id) })),
    );
    for (const id of ids) sent.add(id);
    return samples;
  }

  forgetWorker(workerId: string): void {
    this.sentTo.delete(workerId);
  }
}
