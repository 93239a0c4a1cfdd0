// The coordinator serves sample data to workers (so a remote worker needs no copy of the dataset).
// Files are read once and kept in memory up to a budget; samples with no file of their own
// (FER2013 rows) are encoded as PNG once. Each worker gets a sample's data only the first time it
// needs it, since workers cache what they receive: the bytes, or — for a worker with its own copy
// of the dataset (worker --data-dir) — the file's path and the sha256 validation computed, which
// the worker checks.

import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { DatasetIndex, SampleRecord } from '../dataset/index.js';
import { DatasetError } from '../errors.js';
import { encodePng } from '../image/png.js';
import type { Sample } from '../wire/index.js';

const EMPTY = Buffer.alloc(0);

/** Who samples are sent to: an id that is stable for the worker's membership, and whether it reads its own copy. */
export interface SampleRecipient {
  workerId: string;
  localData: boolean;
}

export class SampleStore {
  private readonly cache = new Map<number, Buffer>();
  private cachedBytes = 0;
  private readonly sentTo = new Map<string, Set<number>>();

  constructor(
    private readonly index: DatasetIndex,
    private readonly cacheBudgetBytes = 1024 * 1024 * 1024,
  ) {}

  private record(id: number): SampleRecord {
    const sample = this.index.samples[id];
    if (!sample) throw new DatasetError('DATASET_BAD_SAMPLE', `sample id ${id} is not in the dataset index (${this.index.samples.length} samples)`);
    return sample;
  }

  async bytes(id: number): Promise<Buffer> {
    const cached = this.cache.get(id);
    if (cached) return cached;
    const sample = this.record(id);
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

  /** What a worker needs of one sample it has not had yet. */
  private async firstTime(member: Pick<SampleRecipient, 'localData'>, id: number): Promise<Sample> {
    const sample = this.record(id);
    if (member.localData && !sample.pixels && sample.sha256 !== undefined) {
      return { id, label: sample.label, image: EMPTY, path: sample.path.split(path.sep).join('/'), sha256: sample.sha256 };
    }
    return { id, label: sample.label, image: await this.bytes(id), path: '', sha256: '' };
  }

  /** The samples for one worker's shard, with data only where that worker lacks it. */
  async samplesFor(member: SampleRecipient, ids: readonly number[]): Promise<Sample[]> {
    let sent = this.sentTo.get(member.workerId);
    if (!sent) this.sentTo.set(member.workerId, (sent = new Set()));
    const samples = await Promise.all(
      ids.map((id) => (sent.has(id) ? { id, label: this.record(id).label, image: EMPTY, path: '', sha256: '' } : this.firstTime(member, id))),
    );
    for (const id of ids) sent.add(id);
    return samples;
  }

  forgetWorker(workerId: string): void {
    this.sentTo.delete(workerId);
  }
}
