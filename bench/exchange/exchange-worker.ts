// A worker of `npm run bench:exchange`: joins over real gRPC, fetches the state, and for every step
// command uploads gradients of the model's trainable size (fixed values, no compute) through the
// real client, receives the reduced ones and applies them with the one Adam, as a replica does.
// Prints one JSON line at the end: its rank and the seconds of each exchange.
// Arguments: coordinator address, token, precision.

import { AdamOptimizer } from '../../shared/adam.js';
import { Fp16Kernels } from '../../shared/fp16/kernels.js';
import { bytesOf, PROTOCOL_VERSION, type ReducedHeader } from '../../shared/wire/index.js';
import { CommandQueue } from '../../worker/command-queue.js';
import { CoordinatorClient } from '../../worker/coordinator-client.js';

const [address, token, precision] = process.argv.slice(2) as [string, string, 'fp16' | 'fp32'];
const client = new CoordinatorClient(address, token);
await client.waitForReady(30_000);
const joined = await client.join({ protocolVersion: PROTOCOL_VERSION, host: 'bench', gpu: -1, pid: process.pid, backend: 'none', requestedRank: -1, localData: false });
const ref = { runId: joined.runId, workerId: joined.workerId };
let weights = new Float32Array(0);
let optimizer = new AdamOptimizer(0);
let lossScale = 1;
const manifest = await client.fetchState(ref, (m) => {
  const n = m.weights[0]!.shape[0]!;
  weights = new Float32Array(n);
  optimizer = new AdamOptimizer(n);
  return [bytesOf(weights), new Uint8Array(0), bytesOf(optimizer.slots.m), bytesOf(optimizer.slots.v)];
});
optimizer.iteration = manifest.optimizerIteration;
lossScale = manifest.lossScale;
const n = weights.length;
const gradients = new Float32Array(n);
for (let i = 0; i < n; i++) gradients[i] = (((i * 7919 + joined.rank * 104729) % 2001) - 1000) * 1e-6;
const scaled = new Float32Array(n);
const upload16 = new Uint16Array(n);
const download16 = new Uint16Array(n);
const reduced = new Float32Array(n);
const fp16 = precision === 'fp16';
const encoder = new Fp16Kernels(Math.max(1, Math.min(n, 1 << 18)));
const exchangeSeconds: number[] = [];
const stream = client.commands(ref);
const commands = new CommandQueue<void>(stream, () => undefined);
let lastTimings = { exchange: 0, apply: 0, total: 0 };
try {
  for await (const { command } of commands) {
    if (command.kind === 'trainStep') {
      const t0 = performance.now();
      for (let i = 0; i < n; i++) scaled[i] = gradients[i]! * lossScale;
      if (fp16) encoder.encodeAll(scaled, upload16);
      const t1 = performance.now();
      const header: ReducedHeader = await client.exchange(
        {
          ...ref, step: command.trainStep.step, lossScale, dtype: fp16 ? 'TENSOR_DTYPE_FLOAT16' : 'TENSOR_DTYPE_FLOAT32',
          gradientElements: n, stateElements: 0, shardSize: command.trainStep.samples.length, lossSum: 0, correct: 0, regularizationLoss: 0,
          timings: { dataSeconds: 0, computeSeconds: 0, exchangeSeconds: lastTimings.exchange, applySeconds: lastTimings.apply, totalSeconds: lastTimings.total },
        },
        [fp16 ? bytesOf(upload16) : bytesOf(scaled), new Uint8Array(0)],
        () => [fp16 ? bytesOf(download16) : bytesOf(reduced), new Uint8Array(0)],
      );
      const t2 = performance.now();
      if (header.applied) optimizer.step(weights, fp16 ? download16 : reduced, header.lossScale, header.learningRate);
      lossScale = header.nextLossScale;
      const t3 = performance.now();
      exchangeSeconds.push((t2 - t1) / 1000);
      lastTimings = { exchange: (t2 - t1) / 1000, apply: (t3 - t2) / 1000, total: (t3 - t0) / 1000 };
    } else if (command.kind === 'evaluate') {
      const count = command.evaluate.samples.length;
      await client.report({ ...ref, kind: 'evaluation', evaluation: { evaluationId: command.evaluate.evaluationId, count, correct: 0, confusion: new Array(49).fill(0), sampleIds: [], probabilities: [], regularizationLoss: 0, sampleLosses: new Array(count).fill(1) } });
    } else if (command.kind === 'checksum') {
      const { sha256Of } = await import('./flat-shadow.js');
      await client.report({ ...ref, kind: 'checksum', checksum: { step: command.checksum.step, sha256: sha256Of(weights, new Float32Array(0)) } });
    } else {
      break;
    }
  }
} finally {
  stream.cancel();
  client.close();
}
process.stdout.write(`${JSON.stringify({ rank: joined.rank, exchangeSeconds })}\n`);
