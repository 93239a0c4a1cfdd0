// npm run bench:exchange — the gradient exchange alone, as a run does it: real processes, real
// gRPC, the coordinator's real validation and reduction (bench/exchange/exchange-coordinator.ts),
// workers that upload gradients of the model's trainable size and apply the result
// (exchange-worker.ts), no compute. Per configuration it prints the median and p95 seconds of an
// exchange, algorithm and bus bandwidth as nccl-tests define them (algbw = gradient bytes /
// seconds; busbw = algbw · 2(W-1)/W), a worker's CPU seconds per exchange (median), the
// coordinator's CPU seconds (and its GC pauses) and peak RSS — and, when
// Debian's python3-torch is installed, gloo's all_reduce of the same bytes on the same machine
// (bench/peer/gloo_allreduce.py) and the ratio.
// An exchange is timed as gloo's peer times an all_reduce (a barrier, then the call): from the
// moment the last worker of the step began its upload to each worker's reduced result. How long a
// worker waited before that for a slower one (whose Adam update or data ran longer) is the step's
// skew, not the exchange's cost; it is printed beside, as the time from each worker's own start.
//
//   npm run bench:exchange -- --model resnet50|mini-xception|small-cnn | --params N
//                             --workers 2,4 [--mode star,ring] [--precision fp16|fp32] [--repeat K] [--json]
//                             [--exchange-transport http2,grpc-js]
// --exchange-transport: how the workers speak Exchange to the coordinator's one port. http2 (the
// product's): node:http2 at both ends, on a connection of its own (worker/exchange-link.ts,
// coordinator/exchange-server.ts); grpc-js: through grpc-js at both ends, as every call went
// before, measured beside it.

import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { ExchangeCoordinatorArgs } from './exchange/exchange-coordinator.js';
import type { ExchangeTransport } from '../worker/coordinator-client.js';
import { loadAverage, option } from './options.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(here, '..', '..');
const COORDINATOR = path.join(here, 'exchange', 'exchange-coordinator.js');
const WORKER = path.join(here, 'exchange', 'exchange-worker.js');
const PEER = path.join(ROOT, 'bench', 'peer', 'gloo_allreduce.py');
const DEBIAN_PYTHON = '/usr/bin/python3';

const quantile = (values: number[], q: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
};

/** Trainable parameters of a model as emotrain builds it with nothing frozen (what an exchange moves). */
async function trainableParams(model: string): Promise<number> {
  const { selectBackend } = await import('../shared/backend/select-backend.js');
  const { buildReplicaModel } = await import('../shared/replica-model.js');
  const { MODEL_DEFAULTS } = await import('../shared/config.js');
  await selectBackend('cpu');
  const defaults = MODEL_DEFAULTS[model as keyof typeof MODEL_DEFAULTS];
  if (!defaults) throw new Error(`--model ${model} is unknown`);
  // 32x32 for ResNet50: the weights do not depend on the input size.
  const imageSize = model === 'resnet50' ? 32 : defaults.imageSize;
  const { state, model: built } = buildReplicaModel({ model: model as never, imageSize, freeze: 'none', dropout: 0.5, l2: 0.01, seed: 1, precision: 'fp16', microBatch: 0, augment: false, preprocessing: defaults.preprocessing });
  built.dispose();
  return state.trainable.length;
}

interface Measurement {
  mode: string;
  /** How the workers spoke Exchange (--exchange-transport). */
  transport: ExchangeTransport;
  workers: number;
  params: number;
  precision: string;
  /** Median from the last worker's start of the step to each worker's result (as gloo's barrier-then-time). */
  seconds: number;
  p95: number;
  /** Median from each worker's own start: the exchange plus the wait for slower workers. */
  secondsFromOwnStart: number;
  /**
   * Median CPU seconds (user + system) a worker process spent in one exchange: what the mode costs
   * each worker, whatever the machine's cores, so the ring's growth with W shows where the
   * machine has too few cores to show it in seconds.
   */
  workerCpuSeconds: number;
  algbwGBps: number;
  busbwGBps: number;
  coordinatorCpuSeconds: number;
  /** Of the training's steps, in pauses of the coordinator's main thread for garbage collection. */
  coordinatorGcSeconds: number;
  coordinatorMajorGcs: number;
  coordinatorPeakRssMiB: number;
  gloo?: { seconds: number; ratio: number };
  loadAverage: string;
}

function linesOf(child: ReturnType<typeof spawn>): AsyncIterable<string> {
  return createInterface({ input: child.stdout! });
}

async function measure(mode: string, transport: ExchangeTransport, workers: number, params: number, precision: 'fp16' | 'fp32', steps: number): Promise<Omit<Measurement, 'gloo' | 'loadAverage'>> {
  if (mode !== 'star' && mode !== 'ring') throw new Error(`--mode ${mode}: expected star or ring`);
  const token = randomBytes(12).toString('hex');
  const args: ExchangeCoordinatorArgs = { params, workers, steps, precision, allreduce: mode, token };
  const coordinator = spawn(process.execPath, [COORDINATOR, JSON.stringify(args)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = linesOf(coordinator)[Symbol.asyncIterator]();
  const first = await lines.next();
  const [, port] = /^listening (\d+)$/.exec(String(first.value)) ?? [];
  if (!port) throw new Error(`the bench coordinator did not start: ${String(first.value)}`);
  const children = Array.from({ length: workers }, () => spawn(process.execPath, [WORKER, `127.0.0.1:${port}`, token, transport], { stdio: ['ignore', 'pipe', 'inherit'] }));
  const results = await Promise.all(
    children.map(async (child) => {
      let last = '';
      for await (const line of linesOf(child)) last = line;
      return JSON.parse(last) as { rank: number; exchangeSeconds: number[]; exchangeSpans: Array<{ step: number; start: number; end: number; cpuSeconds: number }> };
    }),
  );
  const summary = JSON.parse(String((await lines.next()).value)) as { trainCpuSeconds: number; gcSeconds: number; majorGcs: number; peakRssBytes: number };
  // the first step of each worker is warm-up (connections, first buffers)
  const stepNumbers = results[0]!.exchangeSpans.map((span) => span.step);
  for (const r of results) {
    const own = r.exchangeSpans.map((span) => span.step);
    if (own.join() !== stepNumbers.join()) throw new Error(`worker ${r.rank} exchanged steps ${own.join(', ')}, worker ${results[0]!.rank} steps ${stepNumbers.join(', ')}: the bench's world changed`);
  }
  const seconds: number[] = [];
  for (let i = 1; i < stepNumbers.length; i++) {
    const lastStart = Math.max(...results.map((r) => r.exchangeSpans[i]!.start));
    for (const r of results) seconds.push((r.exchangeSpans[i]!.end - lastStart) / 1000);
  }
  const fromOwnStart = results.flatMap((r) => r.exchangeSeconds.slice(1));
  const workerCpu = results.flatMap((r) => r.exchangeSpans.slice(1).map((span) => span.cpuSeconds));
  const median = quantile(seconds, 0.5);
  const bytes = params * (precision === 'fp16' ? 2 : 4);
  const algbw = bytes / median / 1e9;
  return {
    mode,
    transport,
    workers,
    params,
    precision,
    seconds: median,
    p95: quantile(seconds, 0.95),
    secondsFromOwnStart: quantile(fromOwnStart, 0.5),
    workerCpuSeconds: quantile(workerCpu, 0.5),
    algbwGBps: algbw,
    busbwGBps: (algbw * 2 * (workers - 1)) / workers,
    coordinatorCpuSeconds: summary.trainCpuSeconds,
    coordinatorGcSeconds: summary.gcSeconds,
    coordinatorMajorGcs: summary.majorGcs,
    coordinatorPeakRssMiB: summary.peakRssBytes / 2 ** 20,
  };
}

function gloo(params: number, workers: number, precision: string, repeat: number): number | undefined {
  if (!existsSync(DEBIAN_PYTHON)) return undefined;
  const probe = spawnSync(DEBIAN_PYTHON, ['-c', 'import torch.distributed'], { encoding: 'utf8' });
  if (probe.status !== 0) return undefined;
  const run = spawnSync(DEBIAN_PYTHON, [PEER, String(params), String(workers), precision, String(repeat)], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`the gloo peer failed: ${run.stderr}`);
  return (JSON.parse(run.stdout.trim().split('\n').at(-1)!) as { seconds: number }).seconds;
}

const json = process.argv.includes('--json');
const modes = option('mode', 'star').split(',');
const transports = option('exchange-transport', 'http2').split(',') as ExchangeTransport[];
for (const t of transports) if (t !== 'grpc-js' && t !== 'http2') throw new Error(`--exchange-transport ${t}: expected http2 or grpc-js`);
const workerCounts = option('workers', '2').split(',').map(Number);
const precision = option('precision', 'fp16') as 'fp16' | 'fp32';
const repeat = Number(option('repeat', '10'));
const paramsOption = option('params', '');
const model = option('model', paramsOption ? '' : 'resnet50');
const params = paramsOption ? Number(paramsOption) : await trainableParams(model);
const what = model ? `${model} (${params.toLocaleString('en-US')} trainable values)` : `${params.toLocaleString('en-US')} values`;
if (!json) console.log(`bench:exchange — ${what}, ${precision}, ${repeat} steps; load average ${loadAverage()} on ${os.cpus().length} cores`);
for (const workers of workerCounts) {
  const glooSeconds = gloo(params, workers, precision, repeat);
  for (const mode of modes) for (const transport of transports) {
    const m: Measurement = { ...(await measure(mode, transport, workers, params, precision, repeat + 1)), loadAverage: loadAverage() };
    if (glooSeconds !== undefined) m.gloo = { seconds: glooSeconds, ratio: m.seconds / glooSeconds };
    if (json) {
      console.log(JSON.stringify(m));
    } else {
      const peer = m.gloo ? `; gloo all_reduce ${m.gloo.seconds.toFixed(3)} s → ${m.gloo.ratio.toFixed(2)}x gloo` : '; gloo peer not installed (apt-get install python3-torch)';
      console.log(
        `${mode} ${workers} workers${transports.length > 1 || transport !== 'http2' ? ` [exchange ${transport}]` : ''}: median ${m.seconds.toFixed(3)} s (p95 ${m.p95.toFixed(3)} s; ${m.secondsFromOwnStart.toFixed(3)} s from each worker's own start; ${m.workerCpuSeconds.toFixed(3)} CPU s a worker), algbw ${m.algbwGBps.toFixed(2)} GB/s, busbw ${m.busbwGBps.toFixed(2)} GB/s; ` +
          `coordinator ${m.coordinatorCpuSeconds.toFixed(1)} CPU s (GC pauses ${m.coordinatorGcSeconds.toFixed(2)} s, ${m.coordinatorMajorGcs} major), peak RSS ${m.coordinatorPeakRssMiB.toFixed(0)} MiB${peer} (load ${m.loadAverage})`,
      );
    }
  }
}
