// Issue 10, point 4 and acceptance e: `emotrain export RUN --format onnx` writes an ONNX model of
// every model emotrain trains whose probabilities, run by onnxruntime, equal tfjs' to 1e-4 on 32
// face images prepared as the run's meta.json says; `--format tfjs` writes a directory plain
// tf.loadLayersModel opens. The runs are fixtures: freshly initialised models (test/helpers/fixture-run.ts).

import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MODEL_NAMES, type ModelName } from '../shared/models/index.js';
import { readCheckpointMeta } from '../shared/checkpoint-meta.js';
import { inputLength } from '../shared/image/model-input.js';
import { resizeInto } from '../shared/image/preprocess.js';
import { loadLayersModelFromDir } from '../shared/model-io.js';
import { writeFixtureRun } from './helpers/fixture-run.js';
import { faceRgb } from './helpers/datasets.js';
import { EMOTRAIN, Program, cleanUp, tempDir } from './helpers/processes.js';

/** Every model emotrain trains, at a small input size; a new model is one more line here. */
const EXPORTED_MODELS: ReadonlyArray<{ model: ModelName; imageSize: number }> = [
  { model: 'small-cnn', imageSize: 32 },
  { model: 'resnet50', imageSize: 32 },
  { model: 'mini-xception', imageSize: 48 },
];

const IMAGES = 32;
const TOLERANCE = 1e-4;

beforeAll(async () => {
  tf.env().set('PROD', true);
  await tf.setBackend('cpu');
});
afterAll(cleanUp);

async function exportRun(args: string[]): Promise<{ code: number | null; output: string }> {
  const program = new Program(EMOTRAIN, ['export', ...args]);
  const { code } = await program.exit(240_000);
  return { code, output: program.output };
}

/** 32 synthetic faces as the model's input: resized and preprocessed by the shared functions evaluation uses. */
function faceInputs(imageSize: number, preprocessing: 'unit' | 'caffe'): Float32Array {
  const inputs = new Float32Array(IMAGES * inputLength(imageSize));
  for (let i = 0; i < IMAGES; i++) {
    const side = 48 + (i % 3) * 26;
    resizeInto({ width: side, height: side, data: faceRgb(i % 7, i, side) }, imageSize, preprocessing, inputs, i * inputLength(imageSize));
  }
  return inputs;
}

describe('emotrain export --format onnx', () => {
  it('covers every model emotrain trains', () => {
    expect(EXPORTED_MODELS.map((m) => m.model).sort()).toEqual([...MODEL_NAMES].sort());
  });

  for (const { model, imageSize } of EXPORTED_MODELS) {
    it(`writes ${model} so that onnxruntime's probabilities equal tfjs' to 1e-4 on ${IMAGES} faces`, async () => {
      const runDir = await writeFixtureRun(tempDir('export-runs'), model, { model, imageSize, checkpoints: ['best'] });
      const out = path.join(tempDir('export-out'), `${model}.onnx`);
      const { code, output } = await exportRun([runDir, '--format', 'onnx', '--out', out]);
      expect(code, output).toBe(0);
      expect(output).toMatch(new RegExp(`wrote ${out.replace(/[.]/g, '\\.')} \\(.* MB, \\d+ layers; input "input" float32 \\[batch, ${imageSize}, ${imageSize}, 3\\] NHWC`));
      expect(output).toMatch(/onnxruntime agrees with tfjs to \d\.\de-\d+ on 4 inputs/);

      const checkpoint = path.join(runDir, 'checkpoints', 'best');
      const meta = readCheckpointMeta(checkpoint);
      const inputs = faceInputs(imageSize, meta.preprocessing);
      const shape = [IMAGES, imageSize, imageSize, 3];
      const tfjsModel = await loadLayersModelFromDir(checkpoint);
      const expected = tf.tidy(() => (tfjsModel.predict(tf.tensor4d(inputs, shape as [number, number, number, number])) as tf.Tensor).dataSync());
      tfjsModel.dispose();

      const session = await ort.InferenceSession.create(readFileSync(out));
      expect(session.inputNames).toEqual(['input']);
      expect(session.outputNames).toEqual(['probabilities']);
      const outputs = await session.run({ input: new ort.Tensor('float32', inputs, shape) });
      const actual = outputs['probabilities']!;
      expect(actual.dims).toEqual([IMAGES, 7]);
      let worst = 0;
      for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs((actual.data as Float32Array)[i]! - expected[i]!));
      expect(worst).toBeLessThan(TOLERANCE);
      // Probabilities, not logits.
      const rowSum = Array.from((actual.data as Float32Array).subarray(0, 7)).reduce((a, b) => a + b, 0);
      expect(rowSum).toBeCloseTo(1, 5);
      await session.release();
    });
  }
});

describe('emotrain export --format tfjs', () => {
  it('writes model.json, weights.bin and meta.json that plain tf.loadLayersModel opens, predicting as the checkpoint does', async () => {
    const runDir = await writeFixtureRun(tempDir('export-runs'), 'tfjs-export', { checkpoints: ['best'] });
    const { code, output } = await exportRun([runDir, '--format', 'tfjs']);
    expect(code, output).toBe(0);
    const out = path.join(runDir, 'export', 'tfjs');
    expect(output).toContain(`wrote ${out} (model.json, weights.bin, meta.json: small-cnn, 32px unit inputs)`);
    for (const file of ['model.json', 'weights.bin', 'meta.json']) expect(existsSync(path.join(out, file)), file).toBe(true);
    const exported = await loadLayersModelFromDir(out);
    const original = await loadLayersModelFromDir(path.join(runDir, 'checkpoints', 'best'));
    const inputs = tf.tensor4d(faceInputs(32, 'unit'), [IMAGES, 32, 32, 3]);
    expect(Array.from((exported.predict(inputs) as tf.Tensor).dataSync())).toEqual(Array.from((original.predict(inputs) as tf.Tensor).dataSync()));
    expect(readCheckpointMeta(out).model).toBe('small-cnn');
  });

  it('refuses a directory that is neither a run nor a checkpoint, naming it', async () => {
    const notARun = tempDir('not-a-run');
    const { code, output } = await exportRun([notARun, '--format', 'onnx']);
    expect(code).toBe(1);
    expect(output).toContain(`export ${notARun}: ${notARun} is neither a run directory (config.json and checkpoints/) nor a checkpoint directory (model.json and meta.json) [CHECKPOINT_NOT_FOUND]`);
  });
});
