// npm run bench:runtimes — ms per image of the classifier on each runtime `predict --runtime`
// offers: tfjs (the backend --backend picks: wasm here, one thread) and onnxruntime-node (the same
// weights through export/onnx; with one thread, and with its default, all cores), for small-cnn at
// 64x64 and resnet50 at 224x224, one image at a time (a photo with one face) and in a batch.
// Weights are freshly initialised (speed does not depend on them). Also prints the largest
// probability difference between the runtimes.
// Options: --repeat N (default 5), --models small-cnn,resnet50.

import os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { selectBackend } from '../shared/backend/select-backend.js';
import { MODEL_DEFAULTS } from '../shared/config.js';
import { buildModel, type ModelName } from '../shared/models/index.js';
import { tfjsModelToOnnx } from '../export/onnx/tfjs-to-onnx.js';
import { loadAverage, median, option } from './options.js';

const repeat = Number(option('repeat', '5'));
const models = option('models', 'small-cnn,resnet50').split(',') as ModelName[];
const BATCH: Record<string, number> = { 'small-cnn': 32, resnet50: 8 };

async function timeIt(run: () => Promise<unknown>): Promise<number> {
  await run(); // warm-up: first-call compilation and allocation
  const times: number[] = [];
  for (let i = 0; i < repeat; i++) {
    const start = performance.now();
    await run();
    times.push(performance.now() - start);
  }
  return median(times);
}

const backend = await selectBackend('auto');
process.stdout.write(`backend ${backend.name}; onnxruntime-node ${ort.env.versions.node}; ${os.cpus().length} cores; median of ${repeat}; load average ${loadAverage()}\n\n`);
process.stdout.write('| model | input | batch | tfjs (ms/image) | onnxruntime, 1 thread (ms/image) | onnxruntime, default threads (ms/image) | largest probability difference |\n|---|---|---|---|---|---|---|\n');

for (const name of models) {
  const imageSize = MODEL_DEFAULTS[name].imageSize;
  const head = MODEL_DEFAULTS[name].head;
  const model = buildModel({ name, imageSize, seed: 7, freeze: { kind: 'none' }, head, dropout: head === 'paper' ? 0 : 0.5, l2: 0.01 });
  const exported = tfjsModelToOnnx(model);
  const sessions = {
    one: await ort.InferenceSession.create(exported.bytes, { intraOpNumThreads: 1, interOpNumThreads: 1 }),
    all: await ort.InferenceSession.create(exported.bytes),
  };
  for (const batch of [1, BATCH[name] ?? 8]) {
    const shape = [batch, imageSize, imageSize, 3];
    const inputs = tf.tidy(() => tf.randomUniform(shape, 0, 1, 'float32', 3).dataSync() as Float32Array);
    let tfjsOut: Float32Array = new Float32Array();
    const tfjsMs = await timeIt(async () => {
      tfjsOut = tf.tidy(() => (model.predict(tf.tensor4d(inputs, shape as [number, number, number, number])) as tf.Tensor).dataSync() as Float32Array);
    });
    let onnxOut: Float32Array = new Float32Array();
    const run = (session: ort.InferenceSession) => async () => {
      const outputs = await session.run({ [exported.inputName]: new ort.Tensor('float32', inputs, shape) });
      onnxOut = outputs[exported.outputName]!.data as Float32Array;
    };
    const oneMs = await timeIt(run(sessions.one));
    const allMs = await timeIt(run(sessions.all));
    let worst = 0;
    for (let i = 0; i < tfjsOut.length; i++) worst = Math.max(worst, Math.abs(tfjsOut[i]! - onnxOut[i]!));
    process.stdout.write(
      `| ${name} | ${imageSize}x${imageSize} | ${batch} | ${(tfjsMs / batch).toFixed(1)} | ${(oneMs / batch).toFixed(1)} | ${(allMs / batch).toFixed(1)} | ${worst.toExponential(1)} |\n`,
    );
  }
  await sessions.one.release();
  await sessions.all.release();
  model.dispose();
}
process.stdout.write(`\nload average ${loadAverage()}\n`);
