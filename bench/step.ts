// npm run bench:step — training throughput of the whole system (coordinator + worker processes +
// gRPC exchange) for small-cnn at 64x64, global batch 128, with 1 and with 2 workers.
// Each configuration runs 2 epochs of --steps steps; the first is warm-up (model build, first
// sample transfer, JIT), the figure is the second epoch's images/s from metrics.csv.
// Options: --steps N (default 12), --repeat N (default 1), --image-size N, --workers 1,2

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

async function measure(workers: number): Promise<number> {
  const runs = mkdtempSync(path.join(os.tmpdir(), 'emotrain-bench-'));
  try {
    const args = [
      coordinatorMain, '--gpus', String(workers), '--epochs', '2', '--steps-per-epoch', String(steps),
      '--dataset', 'synthetic', '--model', 'small-cnn', '--image-size', String(imageSize), '--batch', '128',
      '--runs', runs, '--run-id', 'bench', '--progress', 'lines', ...extra,
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

const results = new Map<number, number>();
for (const workers of workerCounts) {
  const samples: number[] = [];
  for (let r = 0; r < repeat; r++) samples.push(await measure(workers));
  results.set(workers, median(samples));
  console.log(`small-cnn ${imageSize}x${imageSize}, global batch 128, ${workers} worker(s): ${median(samples).toFixed(1)} images/s (median of ${repeat}: ${samples.map((s) => s.toFixed(1)).join(', ')})`);
}
if (results.has(1) && results.has(2)) {
  console.log(`speed-up 2 workers / 1 worker: ${(results.get(2)! / results.get(1)!).toFixed(2)}x on ${os.cpus().length} cores`);
}
