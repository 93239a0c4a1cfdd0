// Validation of an index before any worker starts (SPEC §5): every image file is read, hashed and
// decoded once, in a thread pool; missing, empty, corrupt, truncated and wrong-format files leave
// the index with their reason, so training never meets a bad file. Verdicts are cached by path,
// size and modification time (validation-cache.ts), so a second run over the same files is
// instant. Samples are renumbered: ids stay positions in the index.

import { promises as fs } from 'node:fs';
import path from 'node:path';
import { createThreadPool, taskModuleUrl } from '../thread-pool.js';
import type { DatasetIndex, SampleRecord, SkippedFile } from './sample.js';
import { ValidationCache } from './validation-cache.js';
import type { FileVerdict, ValidateTask } from './validate-task.js';

export interface ValidationOptions {
  /** Threads that decode; the pool is started only when something is not in the cache. */
  threads: number;
  /** The verdict cache file (validation-cache.ts validationCacheFile), or undefined for none. */
  cacheFile: string | undefined;
  /** Progress lines for a person (a big set takes a while the first time). */
  log?: (line: string) => void;
}

const FILES_PER_TASK = 32;
const STAT_CONCURRENCY = 64;

interface FileCheck {
  sample: SampleRecord;
  size: number;
  mtimeMs: number;
  verdict: FileVerdict | undefined;
}

export async function validateIndex(index: DatasetIndex, options: ValidationOptions): Promise<DatasetIndex> {
  const cache = await ValidationCache.open(options.cacheFile, index.root);
  const skipped: SkippedFile[] = [...index.skipped];
  const checks = new Map<SampleRecord, FileCheck>();
  const seen = new Map<string, SampleRecord>();
  const candidates: SampleRecord[] = [];
  for (const sample of index.samples) {
    if (seen.has(sample.path)) {
      skipped.push({ path: sample.path, kind: 'malformed-entry', reason: 'listed more than once; the first listing is used' });
      continue;
    }
    seen.set(sample.path, sample);
    candidates.push(sample);
  }

  const files = candidates.filter((s) => s.pixels === undefined);
  await forEachLimited(files, STAT_CONCURRENCY, async (sample) => {
    let stat;
    try {
      stat = await fs.stat(path.join(index.root, sample.path));
    } catch {
      checks.set(sample, { sample, size: -1, mtimeMs: 0, verdict: { sha256: '', problem: 'missing', reason: 'missing: no such file' } });
      return;
    }
    if (!stat.isFile()) {
      checks.set(sample, { sample, size: -1, mtimeMs: 0, verdict: { sha256: '', problem: 'missing', reason: 'missing: not a regular file' } });
    } else if (stat.size === 0) {
      checks.set(sample, { sample, size: 0, mtimeMs: stat.mtimeMs, verdict: { sha256: '', problem: 'empty', reason: 'empty file (0 bytes)' } });
    } else {
      checks.set(sample, { sample, size: stat.size, mtimeMs: stat.mtimeMs, verdict: cache.get(sample.path, stat.size, stat.mtimeMs) });
    }
  });

  const toDecode = [...checks.values()].filter((c) => c.verdict === undefined);
  if (toDecode.length > 0) {
    options.log?.(`checking ${toDecode.length} of ${files.length} images (decode and sha256, ${options.threads} threads; cached for the next run)`);
    const pool = createThreadPool(taskModuleUrl(import.meta.url, './validate-task.js'), { threads: options.threads });
    try {
      const tasks: Array<Promise<void>> = [];
      for (let start = 0; start < toDecode.length; start += FILES_PER_TASK) {
        const chunk = toDecode.slice(start, start + FILES_PER_TASK);
        const task: ValidateTask = { files: chunk.map((c) => path.join(index.root, c.sample.path)) };
        tasks.push(
          (pool.run(task) as Promise<FileVerdict[]>).then((verdicts) =>
            verdicts.forEach((verdict, i) => {
              const check = chunk[i]!;
              check.verdict = verdict;
              cache.set(check.sample.path, check.size, check.mtimeMs, verdict);
            }),
          ),
        );
      }
      await Promise.all(tasks);
    } finally {
      await pool.destroy();
    }
    await cache.save();
  }

  const samples: SampleRecord[] = [];
  for (const sample of candidates) {
    const verdict = checks.get(sample)?.verdict;
    if (verdict?.problem !== undefined) {
      skipped.push({ path: sample.path, kind: verdict.problem, reason: verdict.reason });
      continue;
    }
    const { sha256: _previous, ...record } = sample;
    samples.push({ ...record, id: samples.length, ...(verdict ? { sha256: verdict.sha256 } : {}) });
  }
  return { ...index, samples, skipped };
}

async function forEachLimited<T>(items: readonly T[], limit: number, action: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await action(items[next++]!);
  });
  await Promise.all(lanes);
}
