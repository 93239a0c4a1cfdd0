// npm run bench:step — training throughput of the whole system (coordinator + worker processes +
// gRPC exchange), global batch 128, with 1 and with 2 workers: by default small-cnn at 64x64;
// `--model resnet50 --image-size 32 --batch 8 --freeze none` is the configuration in which the
// exchange of ResNet50's 23.8M gradients is a visible part of a real step.
// Each configuration runs 2 epochs of --steps steps; the first is warm-up (model build, first
// sample transfer, JIT), the figures are the second epoch's: images/s from metrics.csv, and the
// mean seconds of each phase of a step (data, compute, exchange, apply) from its epoch_end event,
// with the exchange's share of the step.
// Options: --model M (default small-cnn), --steps N (default 12), --repeat N (default 1),
//          --image-size N, --batch N, --freeze F, --workers 1,2, --allreduce star|ring,
//          --metrics on|off|both (default on; both also prints the overhead of the exporter)

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadAverage, median, option } from './options.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const coordinatorMain = path.resolve(here, '..', 'coordinator', 'main.js');

const steps = Number(option('steps', '12'));
const repeat = Number(option('repeat', '1'));
const model = option('model', 'small-cnn');
const imageSize = Number(option('image-size', model === 'small-cnn' ? '64' : model === 'mini-xception' ? '48' : '32'));
const batch = option('batch', '128');
const freeze = option('freeze', '');
const allreduce = option('allreduce', 'star');
const workerCounts = option('workers', '1,2').split(',').map(Number);
const extra = option('extra', '').split(' ').filter((a) => a !== '');
const metricsModes = option('metrics', 'on') === 'both' ? ['on', 'off'] : [option('metrics', 'on')];

interface Phases {
  data: number;
  compute: number;
  exchange: number;
  apply: number;
  total: number;
}

async function measure(workers: number, metrics: string): Promise<{ imagesPerSecond: number; phases: Phases }> {
  const runs = mkdtempSync(path.join(os.tmpdir(), 'emotrain-bench-'));
  try {
    const args = [
      coordinatorMain, '--gpus', String(workers), '--epochs', '2', '--steps-per-epoch', String(steps),
      '--dataset', 'synthetic', '--model', model, '--image-size', String(imageSize), '--batch', batch, '--allreduce', allreduce,
      ...(freeze ? ['--freeze', freeze] : []),
      '--runs', runs, '--run-id', 'bench', '--progress', 'lines',
      ...(metrics === 'on' ? ['--metrics-port', '0'] : ['--no-metrics']), ...extra,
    ];
    const code = await new Promise<number | null>((resolve) => {
      const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'] });
      child.on('exit', (c) => resolve(c));
    });
    if (code !== 0) throw new Error(`coordinator exited with ${code}`);
    const lines = readFileSync(path.join(runs, 'bench', 'metrics.csv'), 'utf8').trim().split('\n');
    const columns = lines[0]!.split(',');
    const last = lines.at(-1)!.split(',');
    const epochEnds = readFileSync(path.join(runs, 'bench', 'events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { event: string; phase_seconds?: Phases }).filter((e) => e.event === 'epoch_end');
    return { imagesPerSecond: Number(last[columns.indexOf('images_per_second')]), phases: epochEnds.at(-1)!.phase_seconds! };
  } finally {
    rmSync(runs, { recursive: true, force: true });
  }
}

const results = new Map<string, number>();
console.log(`load average ${loadAverage()} on ${os.cpus().length} cores`);
for (const workers of workerCounts) {
  for (const metrics of metricsModes) {
    // interleave on/off repeats so drifting machine load hits both alike
    const runs: Array<{ imagesPerSecond: number; phases: Phases }> = [];
    for (let r = 0; r < repeat; r++) runs.push(await measure(workers, metrics));
    const samples = runs.map((r) => r.imagesPerSecond);
    const middle = runs.find((r) => r.imagesPerSecond === median(samples))!;
    const p = middle.phases;
    const share = p.total > 0 ? (100 * p.exchange) / p.total : 0;
    results.set(`${workers}/${metrics}`, median(samples));
    console.log(
      `${model} ${imageSize}x${imageSize}, global batch ${batch}, ${workers} worker(s), ${allreduce}, metrics ${metrics}: ${median(samples).toFixed(1)} images/s ` +
        `(median of ${repeat}: ${samples.map((s) => s.toFixed(1)).join(', ')}); per step: data ${p.data.toFixed(3)} s, compute ${p.compute.toFixed(3)} s, ` +
        `exchange ${p.exchange.toFixed(3)} s, apply ${p.apply.toFixed(3)} s of ${p.total.toFixed(3)} s — exchange ${share.toFixed(0)}% (load ${os.loadavg()[0]!.toFixed(2)})`,
    );
  }
}
for (const metrics of metricsModes) {
  const one = results.get(`1/${metrics}`);
  const two = results.get(`2/${metrics}`);
  if (one && two) console.log(`speed-up 2 workers / 1 worker (metrics ${metrics}): ${(two / one).toFixed(2)}x`);
}
if (metricsModes.length === 2) {
  for (const workers of workerCounts) {
    const on = results.get(`${workers}/on`)!;
    const off = results.get(`${workers}/off`)!;
    console.log(`metrics overhead with ${workers} worker(s): ${(((off - on) / off) * 100).toFixed(1)}% (on ${on.toFixed(1)} vs off ${off.toFixed(1)} images/s)`);
  }
}
console.log(`load average ${loadAverage()}`);
