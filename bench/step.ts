// npm run bench:step — training throughput of the whole system (coordinator + worker processes +
// gRPC exchange) for small-cnn at 64x64, global batch 128, with 1 and with 2 workers.
// Each configuration runs 2 epochs of --steps steps; the first is warm-up (model build, first
// sample transfer, JIT), the figure is the second epoch's images/s from metrics.csv.
// Options: --steps N (default 12), --repeat N (default 1), --image-size N, --workers 1,2,
//          --metrics on|off|both (default on; both also prints the overhead of the exporter)

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const coordinatorMain = path.resolve(here, '..', 'coordinator', 'main.js');

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

const steps = Number(option('steps', '12'));
const repeat = Number(option('repeat', '1'));
const imageSize = Number(option('image-size', '64'));
const workerCounts = option('workers', '1,2').split(',').map(Number);
const extra = option('extra', '').split(' ').filter((a) => a !== '');
const metricsModes = option('metrics', 'on') === 'both' ? ['on', 'off'] : [option('metrics', 'on')];

async function measure(workers: number, metrics: string): Promise<number> {
  const runs = mkdtempSync(path.join(os.tmpdir(), 'emotrain-bench-'));
  try {
    const args = [
      coordinatorMain, '--gpus', String(workers), '--epochs', '2', '--steps-per-epoch', String(steps),
      '--dataset', 'synthetic', '--model', 'small-cnn', '--image-size', String(imageSize), '--batch', '128',
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
    return Number(last[columns.indexOf('images_per_second')]);
  } finally {
    rmSync(runs, { recursive: true, force: true });
  }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

const results = new Map<string, number>();
console.log(`load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} on ${os.cpus().length} cores`);
for (const workers of workerCounts) {
  for (const metrics of metricsModes) {
    // interleave on/off repeats so drifting machine load hits both alike
    const samples: number[] = [];
    for (let r = 0; r < repeat; r++) samples.push(await measure(workers, metrics));
    results.set(`${workers}/${metrics}`, median(samples));
    console.log(
      `small-cnn ${imageSize}x${imageSize}, global batch 128, ${workers} worker(s), metrics ${metrics}: ${median(samples).toFixed(1)} images/s ` +
        `(median of ${repeat}: ${samples.map((s) => s.toFixed(1)).join(', ')})`,
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
console.log(`load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
