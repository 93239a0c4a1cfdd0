// Atomic directory writes (SPEC §6: "every checkpoint write is atomic"). Files go to a temporary
// sibling directory and are fsynced; then the old directory is moved aside, the new one renamed
// into place, and the old one removed. A crash leaves either the old or the new directory whole;
// the only window without `dir` is between the two renames, and readAtomicDir() recovers from it
// by taking the moved-aside copy.

import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { CheckpointError } from './errors.js';

const OLD_SUFFIX = '.old-';
const TMP_SUFFIX = '.tmp-';

export function writeDirectoryAtomically(dir: string, files: Record<string, Uint8Array | string>): void {
  const parent = path.dirname(dir);
  const base = path.basename(dir);
  const tag = randomBytes(4).toString('hex');
  const tmp = path.join(parent, `.${base}${TMP_SUFFIX}${tag}`);
  const old = path.join(parent, `.${base}${OLD_SUFFIX}${tag}`);
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
    const hadOld = existsSync(dir);
    if (hadOld) renameSync(dir, old);
    renameSync(tmp, dir);
    fsyncDirectory(parent);
    if (hadOld) rmSync(old, { recursive: true, force: true });
  } catch (cause) {
    rmSync(tmp, { recursive: true, force: true });
    throw new CheckpointError('CHECKPOINT_WRITE_FAILED', `cannot write ${dir}: ${(cause as Error).message}`, { cause });
  }
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
