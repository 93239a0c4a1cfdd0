// A worker of `npm run bench:exchange`: joins over real gRPC with a real Peer service, fetches the
// state, and for every step command exchanges gradients of the model's trainable size (fixed
// values, no compute) the way a worker does (worker/step-exchange.ts: star through the
// coordinator, ring peer to peer), then applies them with the one Adam, as a replica does.
// Prints one JSON line at the end: its rank, the seconds of each exchange, and for each its step,
// when it began and ended (milliseconds on the machine's clock, which the workers of one machine
// share) and the CPU seconds this process spent in it (user + system; it starts no threads of
// its own, so this is the exchange and V8's garbage collection).
// Arguments: coordinator address, token.

import { AdamOptimizer } from '../../shared/adam.js';
import { Fp16Kernels } from '../../shared/fp16/kernels.js';
import { bytesOf, bytesPerElement, PROTOCOL_VERSION, type TensorDtype } from '../../shared/wire/index.js';
import { validateWorkerConfig, type WorkerConfig } from '../../shared/config.js';
import { CommandQueue } from '../../worker/command-queue.js';
import { CoordinatorClient, type ExchangeTransport } from '../../worker/coordinator-client.js';
import { PeerServer } from '../../worker/peer-server.js';
import { RingAllReduce } from '../../worker/ring-allreduce.js';
import { exchangeStep, type ExchangeReplica } from '../../worker/step-exchange.js';
import { sha256Of } from './flat-shadow.js';

/** A replica that is only its arrays: fixed gradients, the reduced ones, and the weights. */
class FlatReplica implements ExchangeReplica {
  readonly dtype: TensorDtype;
  readonly stateElements = 0;
  readonly weights: Float32Array;
  readonly optimizer: AdamOptimizer;
  private readonly scaled: Float32Array;
  private readonly upload16: Uint16Array;
  private readonly reduced: Uint16Array | Float32Array;
  private readonly encoder: Fp16Kernels;

  constructor(
    readonly trainableElements: number,
    fp16: boolean,
    private readonly gradients: Float32Array,
  ) {
    this.dtype = fp16 ? 'TENSOR_DTYPE_FLOAT16' : 'TENSOR_DTYPE_FLOAT32';
    this.weights = new Float32Array(trainableElements);
    this.optimizer = new AdamOptimizer(trainableElements);
    this.scaled = new Float32Array(trainableElements);
    this.upload16 = new Uint16Array(trainableElements);
    this.reduced = fp16 ? new Uint16Array(trainableElements) : new Float32Array(trainableElements);
    this.encoder = new Fp16Kernels(Math.max(1, Math.min(trainableElements, 1 << 18)));
  }

  /** The step's gradients, scaled and encoded as a replica's computeGradients leaves them. */
  prepare(lossScale: number): void {
    for (let i = 0; i < this.trainableElements; i++) this.scaled[i] = this.gradients[i]! * lossScale;
    if (this.dtype === 'TENSOR_DTYPE_FLOAT16') this.encoder.encodeAll(this.scaled, this.upload16);
  }

  ownGradients(): Uint16Array | Float32Array {
    return this.dtype === 'TENSOR_DTYPE_FLOAT16' ? this.upload16 : this.scaled;
  }

  reducedGradients(): Uint16Array | Float32Array {
    return this.reduced;
  }

  uploadPayload(segment?: { offset: number; count: number }): Uint8Array[] {
    if (!segment) return [bytesOf(this.ownGradients()), new Uint8Array(0)];
    const elementBytes = bytesPerElement(this.dtype);
    return [bytesOf(this.reduced).subarray(segment.offset * elementBytes, (segment.offset + segment.count) * elementBytes), new Uint8Array(0)];
  }

  downloadTargets(ring = false): Uint8Array[] {
    return ring ? [new Uint8Array(0)] : [bytesOf(this.reduced), new Uint8Array(0)];
  }
}

const [address, token, transport] = process.argv.slice(2) as [string, string, ExchangeTransport];
const client = new CoordinatorClient(address, token, undefined, transport);
const peers = new PeerServer(token);
const peerPort = await peers.listen('127.0.0.1:0');
await client.waitForReady(30_000);
const joined = await client.join({
  protocolVersion: PROTOCOL_VERSION, host: 'bench', gpu: -1, pid: process.pid, backend: 'cpu', requestedRank: -1, localData: false, peerAddress: `127.0.0.1:${peerPort}`,
});
peers.setRun(joined.runId);
const config = validateWorkerConfig(JSON.parse(joined.configJson) as WorkerConfig);
const ref = { runId: joined.runId, workerId: joined.workerId };
let replica: FlatReplica | undefined;
const manifest = await client.fetchState(ref, (m) => {
  const n = m.weights[0]!.shape[0]!;
  const gradients = new Float32Array(n);
  for (let i = 0; i < n; i++) gradients[i] = (((i * 7919 + joined.rank * 104729) % 2001) - 1000) * 1e-6;
  replica = new FlatReplica(n, config.precision === 'fp16', gradients);
  return [bytesOf(replica.weights), new Uint8Array(0), bytesOf(replica.optimizer.slots.m), bytesOf(replica.optimizer.slots.v)];
});
const flat = replica!;
flat.optimizer.iteration = manifest.optimizerIteration;
let lossScale = manifest.lossScale;
const allreduce = config.allreduce ?? 'star';
const ring = allreduce === 'ring' ? new RingAllReduce(peers, token, undefined) : undefined;
const context = { client, replica: flat, member: ref, rank: joined.rank, allreduce, ring };
const exchangeSeconds: number[] = [];
const exchangeSpans: Array<{ step: number; start: number; end: number; cpuSeconds: number }> = [];
const stream = client.commands(ref);
const commands = new CommandQueue<void>(stream, () => undefined);
let last = { exchange: 0, apply: 0, total: 0 };
try {
  for await (const { command } of commands) {
    if (command.kind === 'trainStep') {
      const t0 = performance.now();
      flat.prepare(lossScale);
      const t1 = performance.now();
      const cpu = process.cpuUsage();
      const header = await exchangeStep(context, command.trainStep, { lossSum: 0, correct: 0, regularizationLoss: 0, nonFinite: 0 }, command.trainStep.samples.length, lossScale, {
        dataSeconds: 0, computeSeconds: (t1 - t0) / 1000, exchangeSeconds: last.exchange, applySeconds: last.apply, totalSeconds: last.total,
      });
      const t2 = performance.now();
      const used = process.cpuUsage(cpu);
      if (header.applied) flat.optimizer.step(flat.weights, flat.reducedGradients(), header.lossScale, header.learningRate);
      lossScale = header.nextLossScale;
      const t3 = performance.now();
      exchangeSeconds.push((t2 - t1) / 1000);
      exchangeSpans.push({ step: command.trainStep.step, start: performance.timeOrigin + t1, end: performance.timeOrigin + t2, cpuSeconds: (used.user + used.system) / 1e6 });
      last = { exchange: (t2 - t1) / 1000, apply: (t3 - t2) / 1000, total: (t3 - t0) / 1000 };
    } else if (command.kind === 'evaluate') {
      const count = command.evaluate.samples.length;
      await client.report({ ...ref, kind: 'evaluation', evaluation: { evaluationId: command.evaluate.evaluationId, count, correct: 0, confusion: benchConfusion(count), sampleIds: [], probabilities: [], regularizationLoss: 0, sampleLosses: new Array(count).fill(1) } });
    } else if (command.kind === 'checksum') {
      await client.report({ ...ref, kind: 'checksum', checksum: { step: command.checksum.step, requestId: command.checksum.requestId, sha256: sha256Of(flat.weights, new Float32Array(0)) } });
    } else if (command.kind === 'stop') {
      break;
    }
  }
} finally {
  stream.cancel();
  ring?.close();
  await peers.close();
  client.close();
}
process.stdout.write(`${JSON.stringify({ rank: joined.rank, exchangeSeconds, exchangeSpans })}\n`);

/** A confusion matrix that fits a report of `count` samples, none right (the coordinator checks it adds up). */
function benchConfusion(count: number): number[] {
  const confusion = new Array<number>(49).fill(0);
  confusion[1] = count;
  return confusion;
}
