// npm run bench:flood [-- --requests 16 --megabytes 60 --idle 200]
// A tokenless flood against a training coordinator (issue 14, acceptance b): while a small run of
// 2 local workers trains, --requests concurrent Join calls of --megabytes each, without a token,
// and --idle connections that send nothing. It prints the coordinator's peak RSS before and during
// the flood, what the flood's calls were answered, and whether the run still finished (exit 0,
// every epoch) — legitimate workers unaffected. The run is long enough that the flood lands while
// it trains, and the bench fails if the run had ended before the flood was answered (a flood that
// meets a closed port measures nothing).

import * as grpc from '@grpc/grpc-js';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadTrainerService } from '../shared/wire/index.js';
import { loadAverage } from './options.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const COORDINATOR = path.resolve(here, '..', 'coordinator', 'main.js');

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const REQUESTS = option('requests', 16);
const MEGABYTES = option('megabytes', 60);
const IDLE = option('idle', 200);
const EPOCHS = 3;
/**
 * Enough faces that the run still trains when the flood's answers are in (they took 7 s on 2
 * cores): about 18 steps an epoch. With 700 and 6 steps the run had ended before on a slow day.
 */
const SYNTHETIC_FACES = 3000;

/** Epochs the coordinator's progress lines report finished. */
function epochsIn(output: string): number {
  return (output.match(/^Epoch \d+\/\d+/gm) ?? []).length;
}

function rssMiB(pid: number): number {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
  } catch {
    return 0;
  }
}

async function main(): Promise<void> {
  const runs = mkdtempSync(path.join(os.tmpdir(), 'emotrain-flood-'));
  const load = loadAverage();
  const coordinator = spawn(
    process.execPath,
    [COORDINATOR, '--gpus', '2', '--epochs', String(EPOCHS), '--dataset', 'synthetic', '--synthetic-count', String(SYNTHETIC_FACES), '--model', 'small-cnn',
      '--image-size', '32', '--runs', runs, '--run-id', 'flood', '--progress', 'lines', '--no-metrics'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  coordinator.stdout.on('data', (d: Buffer) => (output += d.toString()));
  coordinator.stderr.on('data', (d: Buffer) => (output += d.toString()));
  let running = true;
  const exited = new Promise<number | null>((resolve) =>
    coordinator.on('exit', (code) => {
      running = false;
      resolve(code);
    }),
  );
  const pid = coordinator.pid!;
  let port: string | undefined;
  while (!(port = /listening on 127\.0\.0\.1:(\d+)/.exec(output)?.[1])) await new Promise((r) => setTimeout(r, 50));
  // Let the world form and training start, then measure the baseline.
  while (!/joined .* 2\/2/.test(output)) await new Promise((r) => setTimeout(r, 50));
  await new Promise((r) => setTimeout(r, 1500));
  let peak = 0;
  const sampler = setInterval(() => (peak = Math.max(peak, rssMiB(pid))), 50);
  const before = rssMiB(pid);

  const idle: net.Socket[] = [];
  for (let i = 0; i < IDLE; i++) idle.push(net.connect(Number(port), '127.0.0.1').on('error', () => undefined));
  const Trainer = loadTrainerService().client;
  const big = 'x'.repeat(MEGABYTES * 1024 * 1024);
  const answers = new Map<string, number>();
  const started = Date.now();
  await Promise.all(
    Array.from({ length: REQUESTS }, () => {
      // A channel of its own per call, as separate attackers would have.
      // (grpc-js would otherwise share one connection among channels with the same options).
      const client = new Trainer(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { 'grpc.max_send_message_length': 128 * 1024 * 1024, 'grpc.use_local_subchannel_pool': 1 });
      return new Promise<void>((resolve) => {
        client.join({ protocolVersion: 3, host: big, gpu: 0, pid: 1, backend: 'x', requestedRank: -1, localData: false, peerAddress: '' }, new grpc.Metadata(), (error) => {
          const key = error ? grpc.status[error.code] ?? String(error.code) : 'OK';
          answers.set(key, (answers.get(key) ?? 0) + 1);
          client.close();
          resolve();
        });
      });
    }),
  );
  const floodSeconds = (Date.now() - started) / 1000;
  const during = peak;
  const trainingDuringFlood = running;
  const epochsAtAnswer = epochsIn(output);
  await new Promise((r) => setTimeout(r, 1000));
  for (const socket of idle) socket.destroy();
  const code = await exited;
  clearInterval(sampler);
  const epochs = epochsIn(output);
  rmSync(runs, { recursive: true, force: true });
  process.stdout.write(
    `bench:flood: ${REQUESTS} concurrent tokenless Join calls of ${MEGABYTES} MiB and ${IDLE} idle connections against a training coordinator (load average ${load})\n` +
      `  answered in ${floodSeconds.toFixed(2)} s: ${[...answers].map(([k, v]) => `${v} ${k}`).join(', ')}; ${trainingDuringFlood ? `the run was training (${epochsAtAnswer} of ${EPOCHS} epochs done)` : 'the run had ENDED before: the flood measured nothing'}\n` +
      `  coordinator RSS: ${before.toFixed(0)} MiB before, peak ${during.toFixed(0)} MiB during the flood, peak ${peak.toFixed(0)} MiB over the run\n` +
      `  the run: exit ${code}, ${epochs} of ${EPOCHS} epochs\n`,
  );
  process.exitCode = trainingDuringFlood && code === 0 && epochs === EPOCHS && peak < 300 ? 0 : 1;
}

void main();
