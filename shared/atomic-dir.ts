// Atomic directory writes (SPEC §6: "every checkpoint write is atomic"). Files go to a temporary
// sibling directory and are fsynced; then the old directory is moved aside, the new one renamed
// into place, and the old one removed. A crash leaves either the old or the new directory whole;
// the only window without `dir` is between the two renames, and readAtomicDir() recovers from it
// by taking the moved-aside copy. A crash while the temporary directory is written leaves it
// behind; removeStaleTemporaries() clears those at the next start (issue 14).

import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { CheckpointError } from './errors.js';

const OLD_SUFFIX = '.old-';
const TMP_SUFFIX = '.tmp-';
/** `.<dir>.tmp-<8 hex>`: the name writeDirectoryAtomically gives its temporary directory, and only that. */
const TMP_NAME = /^\.[^/]+\.tmp-[0-9a-f]{8}$/;
/** Temporary directories this process is writing now, which are never stale. */
const writing = new Set<string>();

export function writeDirectoryAtomically(dir: string, files: Record<string, Uint8Array | string>): void {
  const parent = path.dirname(dir);
  const base = path.basename(dir);
  const tmp = path.join(parent, `.${base}${TMP_SUFFIX}${randomBytes(4).toString('hex')}`);
  writing.add(tmp);
  try {
    mkdirSync(tmp, { recursive: true });
    for (const [name, content] of Object.entries(files)) {
      const fd = openSync(path.join(tmp, name), 'w');
      try {
        const bytes = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
        let written = 0;
        while (written < bytes.byteLength) written += writeSync(fd, bytes, written, bytes.byteLength - written);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    }
    fsyncDirectory(tmp);
    replaceDirectory(tmp, dir);
  } catch (cause) {
    rmSync(tmp, { recursive: true, force: true });
    throw new CheckpointError('CHECKPOINT_WRITE_FAILED', `cannot write ${dir}: ${(cause as Error).message}`, { cause });
  } finally {
    writing.delete(tmp);
  }
}

/**
 * Removes the temporary directories an interrupted writeDirectoryAtomically left in `parent` —
 * only directories named as it names them, and none this process is writing. Returns their names.
 */
export function removeStaleTemporaries(parent: string): string[] {
  if (!existsSync(parent)) return [];
  const stale = readdirSync(parent, { withFileTypes: true }).filter((entry) => entry.isDirectory() && TMP_NAME.test(entry.name) && !writing.has(path.join(parent, entry.name)));
  for (const entry of stale) rmSync(path.join(parent, entry.name), { recursive: true, force: true });
  return stale.map((entry) => entry.name);
}

/**
 * Puts the complete directory `staging` (a sibling of `dir`) in place of `dir`: the old one is
 * moved aside, the new one renamed in, the old one removed. If the second rename fails the old one
 * is put back; a crash between the renames is recovered by resolveAtomicDir.
 */
export function replaceDirectory(staging: string, dir: string): void {
  const parent = path.dirname(dir);
  const old = path.join(parent, `.${path.basename(dir)}${OLD_SUFFIX}${randomBytes(4).toString('hex')}`);
  const hadOld = existsSync(dir);
  if (hadOld) renameSync(dir, old);
  try {
    renameSync(staging, dir);
  } catch (error) {
    if (hadOld) renameSync(old, dir);
    throw error;
  }
  fsyncDirectory(parent);
  if (hadOld) rmSync(old, { recursive: true, force: true });
}

/**
 * The path to read `dir` from: `dir` itself, or — after a crash between the two renames — the
 * moved-aside previous copy, which is put back in place. Undefined when there is neither.
 */
export function resolveAtomicDir(dir: string): string | undefined {
  if (existsSync(dir)) return dir;
  const parent = path.dirname(dir);
  const prefix = `.${path.basename(dir)}${OLD_SUFFIX}`;
  if (!existsSync(parent)) return undefined;
  const old = readdirSync(parent).find((name) => name.startsWith(prefix));
  if (old === undefined) return undefined;
  renameSync(path.join(parent, old), dir);
  return dir;
}

function fsyncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
