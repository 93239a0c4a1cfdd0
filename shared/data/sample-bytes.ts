// Where a worker's sample bytes come from (SPEC §2, issue 3): sent by the coordinator the first
// time the worker needs a sample, or — with `worker --data-dir` — read from the worker's own copy
// of the dataset, whose every file must have the sha256 the coordinator computed. Either way a
// sample's bytes are fetched once, kept in shared memory (shared-bytes.ts) and reused by id.

import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { DatasetError, ProtocolError } from '../errors.js';
import type { Sample } from '../wire/index.js';
import { SharedByteArena } from './shared-bytes.js';

export class SampleBytes {
  private readonly byId = new Map<number, Promise<Uint8Array>>();
  private readonly arena = new SharedByteArena();

  /** `dataDir`: the worker's copy of the dataset, if it has one. */
  constructor(private readonly dataDir: string | undefined) {}

  get size(): number {
    return this.byId.size;
  }

  /**
   * Every sample's bytes, in order. What a command brings for the first time is registered at
   * once (before the returned promise settles), so a later command that names only the id finds it.
   */
  resolve(samples: readonly Sample[]): Promise<Uint8Array[]> {
    return Promise.all(
      samples.map((sample) => {
        if (sample.image.byteLength > 0) {
          const stored = Promise.resolve(this.arena.store(sample.image));
          this.byId.set(sample.id, stored);
          return stored;
        }
        if (sample.path !== '') {
          const read = this.readLocal(sample);
          this.byId.set(sample.id, read);
          return read;
        }
        const known = this.byId.get(sample.id);
        if (!known) throw new ProtocolError('PROTOCOL_INVALID', `sample ${sample.id} came without image bytes or a path and this worker has none cached`);
        return known;
      }),
    );
  }

  private async readLocal(sample: Sample): Promise<Uint8Array> {
    if (this.dataDir === undefined) {
      throw new ProtocolError('PROTOCOL_INVALID', `sample ${sample.id} came as a path (${sample.path}) but this worker has no --data-dir`);
    }
    const file = localPath(this.dataDir, sample.path);
    let bytes: Buffer;
    try {
      bytes = await fs.readFile(file);
    } catch (cause) {
      throw new DatasetError('DATASET_NOT_FOUND', `${file} (sample ${sample.id}) cannot be read from --data-dir: ${(cause as Error).message}`, { cause });
    }
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    if (sha256 !== sample.sha256) {
      throw new DatasetError(
        'DATASET_BAD_SAMPLE',
        `${file} (sample ${sample.id}) has sha256 ${sha256}, the coordinator's copy has ${sample.sha256}: --data-dir ${this.dataDir} is not the dataset this run uses`,
      );
    }
    return this.arena.store(bytes);
  }
}

/** `relative` ('/'-separated, from the network) inside `root`, refusing anything that would leave it. */
export function localPath(root: string, relative: string): string {
  const parts = relative.split('/');
  if (path.isAbsolute(relative) || relative.includes('\\') || parts.some((p) => p === '..' || p === '')) {
    throw new ProtocolError('PROTOCOL_INVALID', `sample path ${JSON.stringify(relative)} is not a plain relative path inside the dataset`);
  }
  return path.join(root, ...parts);
}
