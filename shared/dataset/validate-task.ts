// Piscina task of dataset validation (validate.ts): read each file once, hash it (sha256, what
// workers with a local copy check against) and decode it fully, so that a corrupt, truncated or
// wrong-format image is found before any worker starts and never in the middle of a run.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { tryDecodeImage, type ImageProblem } from '../image/decode.js';

export interface ValidateTask {
  /** Absolute paths. */
  files: string[];
}

export type FileVerdict = { sha256: string; problem?: undefined } | { sha256: string; problem: ImageProblem | 'missing'; reason: string };

export function validateFile(file: string): FileVerdict {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (error) {
    return { sha256: '', problem: 'missing', reason: `cannot be read (${(error as Error).message})` };
  }
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const outcome = tryDecodeImage(bytes);
  return outcome.ok ? { sha256 } : { sha256, problem: outcome.problem, reason: outcome.reason };
}

export default function validateFiles(task: ValidateTask): FileVerdict[] {
  return task.files.map(validateFile);
}
