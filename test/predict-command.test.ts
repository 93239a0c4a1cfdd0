// Issue 10, point 2 and acceptance d: `emotrain predict` on a real (tiny) trained run. With
// --no-detect a val image gets exactly the probabilities `emotrain evaluate` gave it; with the
// default detector the astronaut's face is found, labelled and drawn; EXIF orientation is
// honoured; a photo with no face says so; an unreadable file is reported by path while the rest go
// on, and the exit code says so; --runtime onnx gives tfjs' answer.

import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import jpeg from 'jpeg-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EMOTION_CLASSES } from '../shared/classes.js';
import { encodeJpeg } from '../shared/image/jpeg-encode.js';
import { encodePng } from '../shared/image/png.js';
import { applyOrientation } from '../app/image/orientation.js';
import type { PhotoPrediction } from '../app/predict/photo-predictor.js';
import { ASTRONAUT, ASTRONAUT_FACE_CENTRE, astronautPixels, withOrientation } from './helpers/photos.js';
import { COORDINATOR, EMOTRAIN, Program, cleanUp, tempDir, tinyRunArgs } from './helpers/processes.js';

type Line = PhotoPrediction & { annotated: string };

let runDir: string;

async function predict(args: string[]): Promise<{ code: number | null; output: string; stdout: string }> {
  const program = new Program(EMOTRAIN, ['predict', ...args]);
  let stdout = '';
  program.child.stdout!.on('data', (data: Buffer) => (stdout += data.toString()));
  const { code } = await program.exit(120_000);
  return { code, output: program.output, stdout };
}

const lines = (stdout: string) => stdout.trim().split('\n').map((line) => JSON.parse(line) as Line);

beforeAll(async () => {
  const runs = tempDir('predict-runs');
  const coordinator = new Program(COORDINATOR, tinyRunArgs(runs, 'predict'));
  const trained = await coordinator.exit(240_000);
  expect(trained.code, coordinator.output).toBe(0);
  runDir = path.join(runs, 'predict');
  const evaluate = new Program(EMOTRAIN, ['evaluate', runDir, '--split', 'val']);
  const evaluated = await evaluate.exit(120_000);
  expect(evaluated.code, evaluate.output).toBe(0);
});
afterAll(cleanUp);

describe('emotrain predict --no-detect', () => {
  it('gives a val image the probabilities emotrain evaluate gave it, to 1e-6', async () => {
    const csv = readFileSync(path.join(runDir, 'report', 'val-predictions.csv'), 'utf8').trim().split('\n');
    expect(csv[0]).toBe(`path,label,predicted,${EMOTION_CLASSES.join(',')}`);
    const rows = csv.slice(1, 9).map((line) => {
      const [file, , predicted, ...probabilities] = line.split(',');
      return { file: file!, predicted: predicted!, probabilities: probabilities.map(Number) };
    });
    const { code, output, stdout } = await predict([...rows.map((r) => r.file), '--model', runDir, '--no-detect', '--json', '--out', tempDir('no-detect')]);
    expect(code, output).toBe(0);
    const predictions = lines(stdout);
    expect(predictions.map((p) => p.image)).toEqual(rows.map((r) => r.file));
    predictions.forEach((prediction, i) => {
      expect(prediction.detector).toBe('none');
      expect(prediction.faces).toHaveLength(1);
      const face = prediction.faces[0]!;
      expect(face.box).toEqual({ x: 0, y: 0, width: prediction.width, height: prediction.height });
      expect(face.label).toBe(rows[i]!.predicted);
      EMOTION_CLASSES.forEach((name, c) => expect(Math.abs(face.probabilities[name] - rows[i]!.probabilities[c]!), `${rows[i]!.file} ${name}`).toBeLessThanOrEqual(1e-6));
    });
    // The probabilities differ from image to image by far more than the tolerance: the comparison means something.
    const spread = Math.max(...EMOTION_CLASSES.map((name) => {
      const values = predictions.map((p) => p.faces[0]!.probabilities[name]);
      return Math.max(...values) - Math.min(...values);
    }));
    expect(spread).toBeGreaterThan(1e-3);
  });
});

describe('emotrain predict with face detection', () => {
  it("finds the astronaut's face, labels it with all seven probabilities, and writes an annotated copy", async () => {
    const out = tempDir('predict-out');
    const { code, output, stdout } = await predict([ASTRONAUT, '--model', runDir, '--json', '--out', out]);
    expect(code, output).toBe(0);
    const [prediction] = lines(stdout);
    expect(prediction).toMatchObject({ image: ASTRONAUT, width: 512, height: 512, orientation: 1, detector: 'haar', runtime: 'tfjs', warnings: [] });
    expect(prediction!.faces).toHaveLength(1);
    const face = prediction!.faces[0]!;
    const { x, y, width, height } = face.box;
    expect(x < ASTRONAUT_FACE_CENTRE.x && ASTRONAUT_FACE_CENTRE.x < x + width && y < ASTRONAUT_FACE_CENTRE.y && ASTRONAUT_FACE_CENTRE.y < y + height).toBe(true);
    expect(Object.keys(face.probabilities)).toEqual([...EMOTION_CLASSES]);
    expect(Object.values(face.probabilities).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    expect(face.confidence).toBe(Math.max(...Object.values(face.probabilities)));
    expect(face.probabilities[face.label]).toBe(face.confidence);
    // The crop is the Haar box framed as FER2013's faces are (1.04 times its side), inside the photo.
    expect(face.crop.width).toBeCloseTo(Math.max(width, height) * 1.04, 6);
    expect(prediction!.annotated).toBe(path.join(out, 'astronaut.annotated.jpg'));
    const copy = jpeg.decode(readFileSync(prediction!.annotated));
    expect([copy.width, copy.height]).toEqual([512, 512]);
  });

  it('turns a photo stored sideways upright by its EXIF orientation before looking for faces', async () => {
    const dir = tempDir('exif');
    // Stored turned a quarter counter-clockwise; tag 6 says: turn it clockwise to view it.
    const sideways = applyOrientation(astronautPixels(), 8);
    const stored = encodeJpeg(sideways.data, sideways.width, sideways.height, 92);
    writeFileSync(path.join(dir, 'tagged.jpg'), withOrientation(stored, 6));
    writeFileSync(path.join(dir, 'untagged.jpg'), stored);
    const { code, output, stdout } = await predict([path.join(dir, 'tagged.jpg'), path.join(dir, 'untagged.jpg'), '--model', runDir, '--json', '--out', dir]);
    expect(code, output).toBe(0);
    const [tagged, untagged] = lines(stdout);
    expect(tagged!.orientation).toBe(6);
    expect(tagged!.faces).toHaveLength(1);
    const { x, y, width, height } = tagged!.faces[0]!.box;
    expect(x < ASTRONAUT_FACE_CENTRE.x && ASTRONAUT_FACE_CENTRE.x < x + width && y < ASTRONAUT_FACE_CENTRE.y && ASTRONAUT_FACE_CENTRE.y < y + height).toBe(true);
    // The same pixels without the tag: a face lying on its side, which the frontal cascade does not find.
    expect(untagged!.orientation).toBe(1);
    expect(untagged!.faces).toEqual([]);
  });

  it('says when a photo has no face, reports each unreadable file by path, goes on, and exits 1', async () => {
    const dir = tempDir('mixed');
    const noFace = path.join(dir, 'wall.png');
    writeFileSync(noFace, encodePng({ width: 200, height: 150, data: new Uint8Array(200 * 150 * 3).fill(180) }));
    const notAPhoto = path.join(dir, 'notes.jpg');
    writeFileSync(notAPhoto, 'shopping list');
    const cut = path.join(dir, 'cut.png');
    writeFileSync(cut, readFileSync(ASTRONAUT).subarray(0, 50_000));
    const missing = path.join(dir, 'missing.jpg');
    const out = path.join(dir, 'out');
    const { code, output } = await predict([noFace, notAPhoto, ASTRONAUT, cut, missing, '--model', runDir, '--out', out]);
    expect(code, output).toBe(1);
    expect(output).toContain(`${noFace}: no face found (detector haar)`);
    expect(output).toMatch(new RegExp(`${ASTRONAUT.replace(/[.]/g, '\\.')}: 1 face; annotated .*astronaut\\.annotated\\.jpg\\n  (${EMOTION_CLASSES.join('|')}) \\d+\\.\\d% at x \\d+, y \\d+, \\d+x\\d+`));
    expect(output).toContain(`${notAPhoto}: not a JPEG, PNG, BMP, PGM/PPM image (starts with 73 68 6f 70) [PHOTO_UNSUPPORTED]`);
    expect(output).toContain(`${cut}: cannot decode PNG image (truncated: it ends after 50000 bytes, before its end marker) [PHOTO_CORRUPT]`);
    expect(output).toMatch(new RegExp(`${missing.replace(/[.]/g, '\\.')}: cannot be read \\(caused by: ENOENT.*\\) \\[PHOTO_UNREADABLE\\]`));
    expect(output).toContain('2 of 5 photos done, 3 failed');
    expect(existsSync(path.join(out, 'astronaut.annotated.jpg'))).toBe(true);
    expect(existsSync(path.join(out, 'wall.annotated.jpg'))).toBe(true);
  });

  it('prints a JSON line with the error for a photo that fails, and takes a directory of photos, naming what it skips', async () => {
    const dir = tempDir('folder');
    writeFileSync(path.join(dir, 'face.png'), readFileSync(ASTRONAUT));
    writeFileSync(path.join(dir, 'empty.jpg'), '');
    writeFileSync(path.join(dir, 'README.txt'), 'photos from the trip');
    mkdirSync(path.join(dir, 'nested'));
    const { code, output, stdout } = await predict([dir, '--model', runDir, '--json', '--out', path.join(dir, 'out')]);
    expect(code, output).toBe(1);
    expect(output).toContain(`skipped ${path.join(dir, 'README.txt')}: not a photo by its name`);
    const [empty, face] = lines(stdout) as unknown as [{ image: string; error: { code: string; message: string } }, Line];
    expect(empty).toEqual({ image: path.join(dir, 'empty.jpg'), error: { code: 'PHOTO_EMPTY', message: `${path.join(dir, 'empty.jpg')}: empty file (0 bytes)` } });
    expect(face.faces).toHaveLength(1);
  });

  it('gives the same answer with --runtime onnx as with tfjs (onnxruntime, the checkpoint converted in memory)', async () => {
    const out = tempDir('onnx');
    const tfjs = lines((await predict([ASTRONAUT, '--model', runDir, '--json', '--out', out])).stdout)[0]!;
    const onnx = await predict([ASTRONAUT, '--model', runDir, '--json', '--out', out, '--runtime', 'onnx']);
    expect(onnx.code, onnx.output).toBe(0);
    expect(onnx.output).toContain('on onnxruntime; detector haar');
    const prediction = lines(onnx.stdout)[0]!;
    expect(prediction.runtime).toBe('onnx');
    expect(prediction.faces[0]!.box).toEqual(tfjs.faces[0]!.box);
    expect(prediction.faces[0]!.label).toBe(tfjs.faces[0]!.label);
    for (const name of EMOTION_CLASSES) expect(Math.abs(prediction.faces[0]!.probabilities[name] - tfjs.faces[0]!.probabilities[name])).toBeLessThan(1e-4);
  });

  it('refuses a --model that is not a run or a checkpoint, naming it', async () => {
    const { code, output } = await predict([ASTRONAUT, '--model', path.join(runDir, 'nothing-here')]);
    expect(code).toBe(1);
    expect(output).toContain(`--model ${path.join(runDir, 'nothing-here')}: ${path.join(runDir, 'nothing-here')} does not exist [CHECKPOINT_NOT_FOUND]`);
  });
});
