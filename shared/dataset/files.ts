// Directory listing for layout detection and loading: entries in a fixed (code-unit) order so an
// index is the same on every machine, symbolic links followed, names matched case-insensitively.

import { promises as fs } from 'node:fs';
import path from 'node:path';

export interface Entry {
  name: string;
  isDirectory: boolean;
  isFile: boolean;
}

export function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The entries of `dir`, sorted by name; [] when it is not a readable directory. */
export async function listDirectory(dir: string): Promise<Entry[]> {
  let dirents;
  try {
    dirents = await fs.readdir(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  const entries = await Promise.all(
    dirents.map(async (dirent): Promise<Entry> => {
      if (!dirent.isSymbolicLink()) return { name: dirent.name, isDirectory: dirent.isDirectory(), isFile: dirent.isFile() };
      try {
        const stat = await fs.stat(path.join(dir, dirent.name));
        return { name: dirent.name, isDirectory: stat.isDirectory(), isFile: stat.isFile() };
      } catch {
        return { name: dirent.name, isDirectory: false, isFile: false };
      }
    }),
  );
  return entries.sort((a, b) => byCodeUnits(a.name, b.name));
}

/** The first entry whose name is one of `names`, ignoring case. */
export function findEntry(entries: readonly Entry[], names: readonly string[], kind: 'directory' | 'file'): Entry | undefined {
  const wanted = new Set(names.map((n) => n.toLowerCase()));
  return entries.find((e) => wanted.has(e.name.toLowerCase()) && (kind === 'directory' ? e.isDirectory : e.isFile));
}

export async function isReadableFile(file: string): Promise<boolean> {
  try {
    return (await fs.stat(file)).isFile();
  } catch {
    return false;
  }
}

/** Hidden files (.DS_Store, ._name from macOS archives) are operating-system clutter, not data. */
export function isHidden(name: string): boolean {
  return name.startsWith('.');
}
