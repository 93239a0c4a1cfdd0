// Validation verdicts kept between runs, one JSON file per dataset root in the cache directory,
// keyed by path, size and modification time: a second run over the same files decodes nothing.
// Bump VALIDATION_VERSION whenever the decoders change what they accept.

import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { cacheDir } from './cache-dir.js';
import type { FileVerdict } from './validate-task.js';

export const VALIDATION_VERSION = 1;

export interface CachedVerdict {
  size: number;
  mtimeMs: number;
  verdict: FileVerdict;
}

interface CacheFile {
  version: number;
  root: string;
  files: Record<string, CachedVerdict>;
}

export function validationCacheFile(root: string): string {
  const key = createHash('sha256').update(path.resolve(root)).digest('hex').slice(0, 16);
  return path.join(cacheDir(), 'validation', `${key}.json`);
}

export class ValidationCache {
  private changed = false;

  private constructor(
    private readonly file: string | undefined,
    private readonly root: string,
    private readonly files: Record<string, CachedVerdict>,
  ) {}

  /** The verdicts stored for `root` in `file` (none when the file is absent, unreadable or stale); `file` undefined: no cache. */
  static async open(file: string | undefined, root: string): Promise<ValidationCache> {
    if (file === undefined) return new ValidationCache(undefined, root, {});
    try {
      const parsed = JSON.parse(await fs.readFile(file, 'utf8')) as CacheFile;
      if (parsed.version === VALIDATION_VERSION && parsed.root === root && typeof parsed.files === 'object') return new ValidationCache(file, root, parsed.files);
    } catch {
      // No cache yet, or one from another version: validate from scratch and write a new one.
    }
    return new ValidationCache(file, root, {});
  }

  get(relPath: string, size: number, mtimeMs: number): FileVerdict | undefined {
    const cached = this.files[relPath];
    return cached && cached.size === size && cached.mtimeMs === mtimeMs ? cached.verdict : undefined;
  }

  set(relPath: string, size: number, mtimeMs: number, verdict: FileVerdict): void {
    this.files[relPath] = { size, mtimeMs, verdict };
    this.changed = true;
  }

  /** Writes the cache atomically (temporary file, rename) if anything changed. */
  async save(): Promise<void> {
    if (this.file === undefined || !this.changed) return;
    await fs.mkdir(path.dirname(this.file), { recursive: true });
    const temporary = `${this.file}.${process.pid}.tmp`;
    const content: CacheFile = { version: VALIDATION_VERSION, root: this.root, files: this.files };
    await fs.writeFile(temporary, JSON.stringify(content));
    await fs.rename(temporary, this.file);
    this.changed = false;
  }
}
