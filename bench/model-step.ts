// npm run bench:model-step — one worker's training step on the wasm backend, in one process (no
// coordinator, no gRPC): Replica.computeGradients (forward, backward, gradients read back and
// encoded to fp16) and Replica.applyReduced (Adam, weights written back), exactly as a worker runs
// them, on a synthetic batch. For mini-xception it also runs the PyTorch peer
// (bench/peer/mini_xception_step.py: the same net, batch, input size and Adam, 1 thread) in the
// same run and prints both images/s and their ratio.
// Options: --model mini-xception|small-cnn|resnet50, --head paper|study, --batch N (32),
//          --image-size N (the model's default), --steps N (timed, 5), --warmup N (2),
//          --profile (per-kernel time, by tf.profile, of --profile-steps N steps: 3), --no-peer,
//          --python PATH (Debian's /usr/bin/python3, which has python3-torch)

import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../shared/backend/select-backend.js';
import { NUM_CLASSES } from '../shared/classes.js';
import { MODEL_DEFAULTS, type ModelName, type WorkerConfig } from '../shared/config.js';
import { STUDY_AUGMENTATION } from '../shared/image/augmentation.js';
import { DEFAULT_DROPOUT, DEFAULT_L2, type HeadName, isHeadName, isModelName } from '../shared/models/index.js';
import { SeededRandom } from '../shared/random.js';
import type { Batch } from '../shared/data/batch-assembler.js';
import { Replica } from '../worker/replica.js';
import { loadAverage, median, option } from './options.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const peerScript = path.resolve(here, '..', '..', 'bench', 'peer', 'mini_xception_step.py');

const modelName = option('model', 'mini-xception');
if (!isModelName(modelName)) throw new Error(`--model ${modelName}: expected mini-xception, small-cnn or resnet50`);
const model: ModelName = modelName;
const headOption = option('head', MODEL_DEFAULTS[model].head);
if (!isHeadName(headOption)) throw new Error(`--head ${headOption}: expected paper or study`);
const head: HeadName = headOption;
const batchSize = Number(option('batch', '32'));
const imageSize = Number(option('image-size', String(MODEL_DEFAULTS[model].imageSize)));
const steps = Number(option('steps', '5'));
const warmup = Number(option('warmup', '2'));
const python = option('python', '/usr/bin/python3');
const profile = process.argv.includes('--profile');
const profileSteps = Number(option('profile-steps', '3'));
const withPeer = !process.argv.includes('--no-peer') && model === 'mini-xception';

function syntheticBatch(): Batch {
  const random = new SeededRandom(7);
  const images = Float32Array.from({ length: batchSize * imageSize * imageSize * 3 }, () => random.next());
  const labels = Int32Array.from({ length: batchSize }, () => Math.floor(random.next() * NUM_CLASSES));
  return { count: batchSize, images, labels, sampleIds: Array.from({ length: batchSize }, (_, i) => i) };
}

/** One worker step without the network: the upload is "reduced" by one worker, itself. */
function trainStep(replica: Replica, batch: Batch, step: number): { computeMs: number; applyMs: number } {
  const t0 = performance.now();
  replica.computeGradients(batch, step);
  const t1 = performance.now();
  const header = {
    step,
    applied: true,
    skipReason: '',
    lossScale: replica.lossScale,
    dtype: replica.dtype,
    gradientElements: replica.state.trainable.length,
    stateElements: replica.state.state.length,
    learningRate: MODEL_DEFAULTS[model].learningRate,
    optimizerIteration: replica.optimizer.iteration + 1,
    nextLossScale: replica.lossScale,
  };
  const targets = replica.downloadTargets();
  replica.uploadPayload().forEach((bytes, i) => targets[i]!.set(bytes));
  const t2 = performance.now();
  replica.applyReduced(header);
  const t3 = performance.now();
  return { computeMs: t1 - t0, applyMs: t3 - t2 };
}

/** Per-kernel times of `profileSteps` computeGradients calls, averaged: one step is too noisy on a shared machine. */
async function kernelProfile(replica: Replica, batch: Batch): Promise<void> {
  tf.env().set('CHECK_COMPUTATION_FOR_ERRORS', false);
  const info = await tf.profile(() => {
    for (let i = 0; i < profileSteps; i++) replica.computeGradients(batch, i);
  });
  // tf.profile also lists scopes (a tf.customGrad op, tf.fused ops under the tape) around the
  // kernels they run, which are listed themselves: only registered kernels count.
  const kernels = info.kernels
    .filter((kernel) => tf.getKernel(kernel.name, tf.getBackend()) !== undefined)
    .map((kernel) => ({ ...kernel, kernelTimeMs: (kernel.kernelTimeMs as number) / profileSteps }));
  const total = kernels.reduce((sum, kernel) => sum + kernel.kernelTimeMs, 0);
  const table = (title: string, keyOf: (kernel: (typeof kernels)[number]) => string, rows: number) => {
    const groups = new Map<string, { calls: number; ms: number }>();
    for (const kernel of kernels) {
      const entry = groups.get(keyOf(kernel)) ?? { calls: 0, ms: 0 };
      entry.calls += 1 / profileSteps;
      entry.ms += kernel.kernelTimeMs;
      groups.set(keyOf(kernel), entry);
    }
    console.log(`\n${title}`);
    console.log(`${'kernel'.padEnd(60)} ${'calls'.padStart(5)} ${'ms'.padStart(8)} ${'share'.padStart(6)}`);
    for (const [name, { calls, ms }] of [...groups.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, rows)) {
      console.log(`${name.padEnd(60)} ${String(Math.round(calls)).padStart(5)} ${ms.toFixed(1).padStart(8)} ${((ms / total) * 100).toFixed(1).padStart(5)}%`);
    }
  };
  console.log(`\nper-kernel time of computeGradients (tf.profile, mean of ${profileSteps} steps): ${Math.round(kernels.length / profileSteps)} kernel calls, ${total.toFixed(0)} ms a step`);
  table('by kernel', (kernel) => kernel.name, 25);
  table('by kernel and input shapes', (kernel) => `${kernel.name} ${kernel.inputShapes.map((shape) => `[${shape ?? ''}]`).join(' ')}`, 25);
}

interface PeerResult {
  framework: string;
  msPerStep: number;
  imagesPerSecond: number;
  totalParams: number;
}

function runPeer(): PeerResult | undefined {
  const args = [peerScript, '--batch', String(batchSize), '--image-size', String(imageSize), '--head', head, '--steps', String(steps), '--warmup', String(warmup)];
  const result = spawnSync(python, args, { encoding: 'utf8' });
  if (result.status !== 0) {
    console.log(`PyTorch peer (${python}) failed: ${result.error?.message ?? result.stderr.trim()}`);
    return undefined;
  }
  return JSON.parse(result.stdout.trim().split('\n').at(-1)!) as PeerResult;
}

async function main(): Promise<void> {
  console.log(`load average ${loadAverage()} on ${os.cpus().length} cores`);
  await selectBackend('wasm');
  const config: WorkerConfig = {
    model,
    imageSize,
    freeze: MODEL_DEFAULTS[model].freeze,
    head,
    dropout: head === 'paper' ? 0 : DEFAULT_DROPOUT,
    l2: DEFAULT_L2,
    seed: 42,
    precision: 'fp16',
    microBatch: 0,
    augment: false,
    augmentation: STUDY_AUGMENTATION,
    preprocessing: MODEL_DEFAULTS[model].preprocessing,
  };
  const replica = new Replica(config);
  const batch = syntheticBatch();
  for (let i = 0; i < warmup; i++) trainStep(replica, batch, i);
  const compute: number[] = [];
  const apply: number[] = [];
  for (let i = 0; i < steps; i++) {
    const { computeMs, applyMs } = trainStep(replica, batch, warmup + i);
    compute.push(computeMs);
    apply.push(applyMs);
  }
  const totals = compute.map((ms, i) => ms + apply[i]!);
  const ours = median(totals);
  const what = `${model} (${head} head) ${imageSize}x${imageSize}, batch ${batchSize}`;
  console.log(
    `ours (tfjs ${tf.version_core} wasm, 1 thread): ${what}: ${ours.toFixed(0)} ms/step = ${((batchSize / ours) * 1000).toFixed(1)} img/s ` +
      `(median of ${steps}; compute ${median(compute).toFixed(0)} ms, apply ${median(apply).toFixed(1)} ms; steps ${totals.map((t) => t.toFixed(0)).join(', ')})`,
  );
  if (profile) await kernelProfile(replica, batch);
  if (withPeer) {
    const peer = runPeer();
    if (peer) {
      console.log(`peer (${peer.framework}, 1 thread): ${what}: ${peer.msPerStep.toFixed(0)} ms/step = ${peer.imagesPerSecond.toFixed(1)} img/s (${peer.totalParams} parameters)`);
      console.log(`ratio ours / peer: ${(((batchSize / ours) * 1000) / peer.imagesPerSecond).toFixed(2)}x the images/s`);
    }
  }
  console.log(`load average ${loadAverage()}`);
}

await main();
