// What --model (predict, serve) and RUN (export) name: a run directory — its checkpoints/best, or
// --checkpoint last — or a checkpoint directory itself (model.json + meta.json, e.g. what
// `emotrain export --format tfjs` writes). meta.json says how the checkpoint's inputs were
// prepared, which is how the app prepares each face.

import { existsSync } from 'node:fs';
import path from 'node:path';
import { resolveAtomicDir } from './atomic-dir.js';
import { readCheckpointMeta, type CheckpointMeta } from './checkpoint-meta.js';
import { CheckpointError } from './errors.js';

export type CheckpointKind = 'best' | 'last';

export interface ModelSource {
  /** The checkpoint directory (model.json, weights, meta.json). */
  dir: string;
  meta: CheckpointMeta;
}

/** `argument` names what was given in errors: --model for predict and serve, the run for export. */
export function resolveModelSource(given: string, kind: CheckpointKind = 'best', argument = '--model'): ModelSource {
  const dir = path.resolve(given);
  if (!existsSync(dir)) throw new CheckpointError('CHECKPOINT_NOT_FOUND', `${argument} ${given}: ${dir} does not exist`);
  if (existsSync(path.join(dir, 'model.json'))) return { dir, meta: readCheckpointMeta(dir) };
  const checkpoints = path.join(dir, 'checkpoints');
  if (existsSync(path.join(dir, 'config.json')) && existsSync(checkpoints)) {
    const checkpoint = resolveAtomicDir(path.join(checkpoints, kind));
    if (checkpoint === undefined) {
      throw new CheckpointError('CHECKPOINT_NOT_FOUND', `${argument} ${given}: the run has no checkpoints/${kind} yet (a run writes it at the end of its first epoch)`);
    }
    return { dir: checkpoint, meta: readCheckpointMeta(checkpoint) };
  }
  throw new CheckpointError(
    'CHECKPOINT_NOT_FOUND',
    `${argument} ${given}: ${dir} is neither a run directory (config.json and checkpoints/) nor a checkpoint directory (model.json and meta.json)`,
  );
}
