// meta.json beside every checkpoint's model (SPEC §6): which run and epoch it is from, how it
// scored, and how its inputs were prepared — what evaluate, predict and export need to use it.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { EMOTION_CLASSES } from './classes.js';
import type { Preprocessing } from './config.js';
import { CheckpointError } from './errors.js';

const PREPROCESSINGS: readonly Preprocessing[] = ['unit', 'caffe'];

export interface CheckpointMeta {
  runId: string;
  /** Epochs completed when the checkpoint was taken (1-based). */
  epoch: number;
  step: number;
  valAccuracy: number;
  valLoss: number;
  model: string;
  imageSize: number;
  preprocessing: Preprocessing;
  classes: readonly string[];
  savedAt: string;
}

/**
 * The meta.json of the checkpoint in `dir`, checked for what a user of the model relies on: the
 * classes in emotrain's order, and how inputs are prepared (size and preprocessing).
 */
export function readCheckpointMeta(dir: string): CheckpointMeta {
  const metaFile = path.join(dir, 'meta.json');
  let meta: CheckpointMeta;
  try {
    meta = JSON.parse(readFileSync(metaFile, 'utf8')) as CheckpointMeta;
  } catch (cause) {
    throw new CheckpointError('CHECKPOINT_INVALID', `cannot read ${metaFile}: ${(cause as Error).message}`, { cause });
  }
  if (meta === null || typeof meta !== 'object') throw new CheckpointError('CHECKPOINT_INVALID', `${metaFile} is not a JSON object`);
  if (JSON.stringify(meta.classes) !== JSON.stringify(EMOTION_CLASSES)) {
    throw new CheckpointError('CHECKPOINT_INVALID', `${metaFile} lists classes ${JSON.stringify(meta.classes)}; emotrain's are ${JSON.stringify(EMOTION_CLASSES)}`);
  }
  if (!Number.isInteger(meta.imageSize) || meta.imageSize < 1) {
    throw new CheckpointError('CHECKPOINT_INVALID', `${metaFile}: imageSize must be a positive integer (the model's input side), got ${JSON.stringify(meta.imageSize)}`);
  }
  if (!(PREPROCESSINGS as readonly string[]).includes(meta.preprocessing)) {
    throw new CheckpointError('CHECKPOINT_INVALID', `${metaFile}: preprocessing must be one of ${PREPROCESSINGS.join(', ')}, got ${JSON.stringify(meta.preprocessing)}`);
  }
  return meta;
}
