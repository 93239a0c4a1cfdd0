// What a --weights path is (issue 9, point 5): a Keras HDF5 file, a TensorFlow.js layers model
// directory, or an emotrain checkpoint — given as a checkpoint directory (best/ or last/) or as a
// run directory, which means its checkpoints/best. Decided from what is there, never from a file
// extension: an HDF5 file is known by its signature, a directory by the files it holds.

import { closeSync, existsSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import path from 'node:path';
import { resolveAtomicDir } from '../atomic-dir.js';
import { WeightsError } from '../errors.js';
import type { WeightsSourceKind } from './source-weights.js';

export interface LocatedWeights {
  kind: WeightsSourceKind;
  /** The HDF5 file, or the directory holding model.json. */
  path: string;
}

// HDF5's format signature; a file may put a user block of 512 * 2^k bytes in front of it.
const HDF5_SIGNATURE = Uint8Array.of(0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a);

export const EXPECTED_SOURCES =
  'a Keras HDF5 weights file (.h5, as save_weights or keras.applications write it), a TensorFlow.js layers model directory (model.json + weight files), or an emotrain run or checkpoint directory';

/** The offsets where the HDF5 signature may be, for a file of `size` bytes: 0, 512, 1024, 2048, ... */
export function hdf5SignatureOffsets(size: number): number[] {
  const offsets = [0];
  for (let offset = 512; offset + HDF5_SIGNATURE.length <= size; offset *= 2) offsets.push(offset);
  return offsets;
}

export function isHdf5Signature(bytes: Uint8Array): boolean {
  return bytes.length >= HDF5_SIGNATURE.length && HDF5_SIGNATURE.every((b, i) => bytes[i] === b);
}

/** What a directory is, from the names in it; undefined when it is none of the sources. */
export function classifyDirectory(entries: ReadonlySet<string>): 'run' | WeightsSourceKind | undefined {
  if (entries.has('model.json')) return entries.has('meta.json') ? 'emotrain-checkpoint' : 'tfjs-layers';
  if (entries.has('checkpoints') && entries.has('config.json')) return 'run';
  return undefined;
}

export function locateWeights(given: string): LocatedWeights {
  const resolved = path.resolve(given);
  let stats;
  try {
    stats = statSync(resolved);
  } catch (cause) {
    throw new WeightsError('WEIGHTS_NOT_FOUND', `--weights ${given}: ${resolved} does not exist (expected ${EXPECTED_SOURCES})`, { cause });
  }
  if (stats.isFile()) {
    if (path.basename(resolved) === 'model.json') return locateDirectory(path.dirname(resolved), given);
    if (startsAsHdf5(resolved, stats.size)) return { kind: 'keras-h5', path: resolved };
    throw new WeightsError('WEIGHTS_UNRECOGNIZED', `--weights ${given}: ${resolved} is not a weights file: it is not HDF5 (no HDF5 signature) and not model.json; expected ${EXPECTED_SOURCES}`);
  }
  if (stats.isDirectory()) return locateDirectory(resolved, given);
  throw new WeightsError('WEIGHTS_UNRECOGNIZED', `--weights ${given}: ${resolved} is neither a file nor a directory; expected ${EXPECTED_SOURCES}`);
}

function locateDirectory(dir: string, given: string): LocatedWeights {
  const entries = new Set(readdirSync(dir));
  const kind = classifyDirectory(entries);
  if (kind === undefined) {
    const h5 = [...entries].filter((name) => /\.(h5|hdf5|keras)$/i.test(name));
    const hint = h5.length > 0 ? ` (it holds ${h5.join(', ')}: give the file itself)` : '';
    throw new WeightsError('WEIGHTS_UNRECOGNIZED', `--weights ${given}: ${dir} has no model.json and is not a run directory${hint}; expected ${EXPECTED_SOURCES}`);
  }
  if (kind !== 'run') return { kind, path: dir };
  const best = resolveAtomicDir(path.join(dir, 'checkpoints', 'best'));
  if (best === undefined) {
    const last = path.join(dir, 'checkpoints', 'last');
    const hint = existsSync(last) ? `; give ${last} to start from its last checkpoint` : ': checkpoints are written at the end of each epoch';
    throw new WeightsError('WEIGHTS_NOT_FOUND', `--weights ${given}: the run directory ${dir} has no checkpoints/best${hint}`);
  }
  return { kind: 'emotrain-checkpoint', path: best };
}

function startsAsHdf5(file: string, size: number): boolean {
  const fd = openSync(file, 'r');
  try {
    const head = new Uint8Array(HDF5_SIGNATURE.length);
    return hdf5SignatureOffsets(size).some((offset) => readSync(fd, head, 0, head.length, offset) === head.length && isHdf5Signature(head));
  } finally {
    closeSync(fd);
  }
}
