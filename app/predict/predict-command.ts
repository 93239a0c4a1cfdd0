// `emotrain predict IMAGE|DIR... --model RUN_DIR|CHECKPOINT_DIR`: every face of every photo with
// its box, label, confidence and seven probabilities; an annotated copy of each photo in --out;
// --json prints one JSON object per photo (JSON Lines) for scripts. A photo that cannot be read is
// reported by path and the rest go on; the exit code is 1 when any photo failed, else 0.

import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describeError, PhotoError } from '../../shared/errors.js';
import { resolveModelSource, type CheckpointKind } from '../../shared/checkpoint-source.js';
import { loadPredictor, type PredictorChoice } from './load-predictor.js';
import { annotatePrediction, type PhotoPrediction } from './photo-predictor.js';

export interface PredictOptions extends PredictorChoice {
  inputs: readonly string[];
  model: string;
  checkpoint: CheckpointKind;
  outDir: string;
  json: boolean;
}

export interface PredictOutput {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

/** File names a directory's photos are taken from; other files are listed as skipped, not failed. */
const PHOTO_NAME = /\.(jpe?g|png|bmp|pgm|ppm|pnm)$/i;

export interface PhotoList {
  files: string[];
  /** Files in the given directories that are not photos by name: said, not failed. */
  skipped: string[];
}

/** The photos named by the arguments: files as given, directories' photo files (not recursive, sorted). */
export function listPhotos(inputs: readonly string[]): PhotoList {
  const files: string[] = [];
  const skipped: string[] = [];
  for (const input of inputs) {
    if (existsSync(input) && statSync(input).isDirectory()) {
      for (const name of readdirSync(input).sort()) {
        const file = path.join(input, name);
        if (name.startsWith('.') || statSync(file).isDirectory()) continue;
        (PHOTO_NAME.test(name) ? files : skipped).push(file);
      }
    } else {
      // A missing file is still listed: reading it fails, and that is reported by its path.
      files.push(input);
    }
  }
  return { files, skipped };
}

export async function runPredict(options: PredictOptions, output: PredictOutput): Promise<number> {
  const source = resolveModelSource(options.model, options.checkpoint);
  const { files, skipped } = listPhotos(options.inputs);
  for (const file of skipped) output.stderr(`skipped ${file}: not a photo by its name (${PHOTO_NAME.source})\n`);
  const { predictor, runsOn, dispose } = await loadPredictor(source, options);
  output.stderr(
    `model ${source.dir} (${source.meta.model}, ${source.meta.imageSize}px ${source.meta.preprocessing}, epoch ${source.meta.epoch}) on ${runsOn}; detector ${options.detector ?? 'none (--no-detect: each photo is one face)'}\n`,
  );
  mkdirSync(options.outDir, { recursive: true });
  const copyNames = new Set<string>();
  let failed = 0;
  try {
    for (const file of files) {
      try {
        const bytes = readPhotoFile(file);
        const { prediction, photo } = await predictor.predict(bytes, file);
        const copy = path.join(options.outDir, uniqueCopyName(file, copyNames));
        writeFileSync(copy, annotatePrediction(photo, prediction).jpeg);
        if (options.json) output.stdout(`${JSON.stringify({ ...prediction, annotated: copy })}\n`);
        else output.stdout(describePrediction(prediction, copy));
        for (const warning of prediction.warnings) output.stderr(`warning: ${warning}\n`);
      } catch (error) {
        // Only a photo's own problems are per photo; anything else (the model, the disk) stops the run.
        if (!(error instanceof PhotoError)) throw error;
        failed++;
        if (options.json) output.stdout(`${JSON.stringify({ image: file, error: { code: error.code, message: error.message } })}\n`);
        output.stderr(`${describeError(error)} [${error.code}]\n`);
      }
    }
  } finally {
    await dispose();
  }
  output.stderr(`${files.length - failed} of ${files.length} photos done${failed > 0 ? `, ${failed} failed` : ''}; annotated copies in ${options.outDir}\n`);
  return failed > 0 ? 1 : 0;
}

function readPhotoFile(file: string): Uint8Array {
  try {
    return readFileSync(file);
  } catch (cause) {
    throw new PhotoError('PHOTO_UNREADABLE', `${file}: cannot be read`, { cause });
  }
}

/** photo.jpg → photo.annotated.jpg; a second photo.jpg from another folder → photo-2.annotated.jpg. */
function uniqueCopyName(file: string, used: Set<string>): string {
  const base = path.basename(file).replace(/\.[^.]*$/, '');
  let name = `${base}.annotated.jpg`;
  for (let i = 2; used.has(name); i++) name = `${base}-${i}.annotated.jpg`;
  used.add(name);
  return name;
}

function describePrediction(prediction: PhotoPrediction, copy: string): string {
  if (prediction.faces.length === 0) return `${prediction.image}: no face found (detector ${prediction.detector}); copy ${copy}\n`;
  const faces = prediction.faces.map((face) => {
    const { x, y, width, height } = face.box;
    return `  ${face.label} ${(face.confidence * 100).toFixed(1)}% at x ${Math.round(x)}, y ${Math.round(y)}, ${Math.round(width)}x${Math.round(height)}`;
  });
  const count = prediction.faces.length === 1 ? '1 face' : `${prediction.faces.length} faces`;
  return `${prediction.image}: ${count}; annotated ${copy}\n${faces.join('\n')}\n`;
}
