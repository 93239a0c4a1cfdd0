// The coordinator side of `npm run bench:exchange`: the real gRPC service, protocol session, step
// engine and trainer over a flat model of `params` weights (no tfjs), driving `steps` steps for
// `workers` worker processes. Prints `listening PORT` when ready and, at the end, one JSON line
// with its CPU seconds, its main thread's GC pauses and peak RSS. Arguments: one JSON object (see ExchangeCoordinatorArgs).

import { readFileSync } from 'node:fs';
import { PerformanceObserver, constants as perfConstants } from 'node:perf_hooks';
import { ModelCheckpoint } from '../../coordinator/callbacks/model-checkpoint.js';
import { ReduceLROnPlateau } from '../../coordinator/callbacks/reduce-lr-on-plateau.js';
import { systemClock } from '../../coordinator/clock.js';
import { PendingReplies } from '../../coordinator/pending-replies.js';
import { ProtocolSession } from '../../coordinator/protocol-session.js';
import { RunEvents } from '../../coordinator/run-events.js';
import { StepEngine } from '../../coordinator/step-engine.js';
import { TrainerServer } from '../../coordinator/trainer-service.js';
import { Trainer } from '../../coordinator/trainer.js';
import { World } from '../../coordinator/world.js';
import type { AllReduce, Precision } from '../../shared/config.js';
import { LossScaler } from '../../shared/loss-scaler.js';
import type { Sample } from '../../shared/wire/index.js';
import { FlatShadow } from './flat-shadow.js';

export interface ExchangeCoordinatorArgs {
  params: number;
  workers: number;
  steps: number;
  precision: Precision;
  allreduce: AllReduce;
  token: string;
}

/** Peak resident set (VmHWM) in bytes, from /proc. */
export function peakRssBytes(): number {
  const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return match ? Number(match[1]) * 1024 : process.memoryUsage().rss;
}

const args = JSON.parse(process.argv[2]!) as ExchangeCoordinatorArgs;
const GLOBAL_BATCH = 128;
const world = new World(args.workers);
const shadow = new FlatShadow(args.params, 0);
const scaler = new LossScaler(args.precision === 'fp32' ? { initialScale: 1, growthInterval: Number.MAX_SAFE_INTEGER, maxScale: 1 } : {});
const engine = new StepEngine(shadow, scaler, args.precision, { allreduce: args.allreduce });
const replies = new PendingReplies();
const events = new RunEvents();
const ids = (from: number, count: number) => Array.from({ length: count }, (_, i) => from + i);
const noImages = {
  async samplesFor(_recipient: unknown, sampleIds: readonly number[]): Promise<Sample[]> {
    return sampleIds.map((id) => ({ id, label: id % 7, image: Buffer.alloc(0), path: '', sha256: '' }));
  },
  forgetWorker(): void {},
};
const trainer = new Trainer({
  config: { runId: 'bench-exchange', epochs: 1, stepsPerEpoch: args.steps, globalBatch: GLOBAL_BATCH, seed: 1, model: 'small-cnn', imageSize: 16, preprocessing: 'unit', allreduce: args.allreduce },
  split: { train: ids(0, GLOBAL_BATCH * args.steps), val: ids(GLOBAL_BATCH * args.steps, args.workers), test: [] },
  world,
  engine,
  shadow,
  samples: noImages,
  replies,
  checkpoints: { saveBest: async () => undefined, saveLast: async () => undefined },
  events,
  clock: systemClock,
  plateau: new ReduceLROnPlateau(1e-3, {}),
  checkpoint: new ModelCheckpoint(),
  lossScalerState: () => scaler.snapshot(),
});
events.subscribe('failures', (event) => {
  if (event.event === 'worker_left' && !event.expected) process.stderr.write(`bench coordinator: ${event.reason}\n`);
});
const session = new ProtocolSession({
  runId: 'bench-exchange',
  workerConfig: { model: 'small-cnn', imageSize: 16, freeze: 'none', dropout: 0, l2: 0, seed: 1, precision: args.precision, allreduce: args.allreduce, microBatch: 0, augment: false, preprocessing: 'unit' },
  world,
  engine,
  replies,
  shadow,
  position: () => trainer.position(),
});
const server = new TrainerServer(session, args.token, { idleStreamMs: 60_000 });
const port = await server.listen('127.0.0.1:0');
process.stdout.write(`listening ${port}\n`);
const cpuStart = process.cpuUsage();
await trainer.waitForWorld(120_000);
const trainStart = process.cpuUsage();
// Garbage collection on the main thread while it trains: the bulk of it is major GCs that the
// external memory of the sockets' read buffers brings on.
const gc = { seconds: 0, major: 0 };
const gcObserver = new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    gc.seconds += entry.duration / 1000;
    if ((entry as { detail?: { kind?: number } }).detail?.kind === perfConstants.NODE_PERFORMANCE_GC_MAJOR) gc.major++;
  }
});
gcObserver.observe({ entryTypes: ['gc'] });
await trainer.train();
const cpu = process.cpuUsage(trainStart);
gcObserver.disconnect();
trainer.stopWorkers('the benchmark is over');
await server.close(1000);
await shadow.close();
const total = process.cpuUsage(cpuStart);
process.stdout.write(
  `${JSON.stringify({ trainCpuSeconds: (cpu.user + cpu.system) / 1e6, gcSeconds: gc.seconds, majorGcs: gc.major, totalCpuSeconds: (total.user + total.system) / 1e6, peakRssBytes: peakRssBytes() })}\n`,
);
