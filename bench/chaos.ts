// npm run bench:chaos -- --kills N [--seed S] [--workers W] [--json]
// Fault injection with real processes (SPEC §8): runs of W local CPU workers (tiny model, tiny
// images), half of them --elastic, in which a seeded schedule hits a random worker at a random
// moment — SIGKILL, or SIGSTOP (a frozen process) — or kills the coordinator itself, which is
// then resumed with --resume. Moments: a random delay into the steps, right after an epoch's last
// step (validation), right after an epoch ends (checkpoint writes), right after a worker process
// is started (its join). Until N hits are done. It reports hangs (no step and no event for
// --hang-seconds), runs that did not finish, completed epochs lost, orphan worker processes, and
// the time to detect (the hit to the coordinator's worker_left or worker_stalled event) and to
// recover (the hit to the next completed step, read from the run's Prometheus endpoint).

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadAverage, option } from './options.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const COORDINATOR = path.resolve(here, '..', 'coordinator', 'main.js');
const WORKER_MAIN = path.resolve(here, '..', 'worker', 'main.js');

function integerOption(name: string, fallback: number, min: number): number {
  const value = Number(option(name, String(fallback)));
  if (!Number.isInteger(value) || value < min) {
    process.stderr.write(`bench:chaos: --${name} must be an integer >= ${min}, got ${option(name, '')}\n`);
    process.exit(2);
  }
  return value;
}

const KILLS = integerOption('kills', 10, 1);
const SEED = integerOption('seed', 1, 0);
const WORKERS = integerOption('workers', 3, 2);
const EPOCHS = integerOption('epochs', 4, 2);
const STEPS = integerOption('steps-per-epoch', 4, 2);
const HANG_MS = integerOption('hang-seconds', 60, 5) * 1000;
const JSON_OUT = process.argv.includes('--json');
const log = (line: string) => process.stderr.write(`${line}\n`);

/** mulberry32: the schedule is the same for the same --seed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = random(SEED);
const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)]!;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type Action = 'kill-worker' | 'stop-worker' | 'kill-coordinator';
type Moment = 'steps' | 'validation' | 'checkpoint' | 'join';

interface Hit {
  run: number;
  elastic: boolean;
  action: Action;
  moment: Moment;
  at: number;
  detectSeconds?: number;
  recoverSeconds?: number;
  /** No step came after it because the run had none left (the hit came after the last step). */
  noStepsLeft?: boolean;
}

interface RunEvent {
  time: string;
  event: string;
  [key: string]: unknown;
}

function readEvents(runDir: string): RunEvent[] {
  const file = path.join(runDir, 'events.jsonl');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as RunEvent];
      } catch {
        return []; // a line being written
      }
    });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Worker processes of this emotrain still running: pid → command line. */
function workerProcesses(): Map<number, string> {
  const found = new Map<number, string>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ');
      if (cmdline.includes(WORKER_MAIN) && alive(Number(entry))) found.set(Number(entry), cmdline);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** A coordinator process and what it prints; `steps()` reads its steps_total from /metrics. */
class Coordinator {
  readonly child: ChildProcess;
  output = '';
  metricsUrl: string | undefined;
  exited: Promise<number | null>;

  constructor(args: string[]) {
    this.child = spawn(process.execPath, [COORDINATOR, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const take = (data: Buffer) => {
      this.output += data.toString();
      this.metricsUrl ??= /metrics on (http:\/\/\S+\/metrics)/.exec(this.output)?.[1];
    };
    this.child.stdout!.on('data', take);
    this.child.stderr!.on('data', take);
    this.exited = new Promise((resolve) => this.child.on('exit', (code) => resolve(code)));
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  async steps(): Promise<number | undefined> {
    if (!this.metricsUrl || !this.running) return undefined;
    try {
      const text = await (await fetch(this.metricsUrl, { signal: AbortSignal.timeout(1000) })).text();
      const match = /^emotrain_steps_total\{[^}]*\} (\d+)/m.exec(text);
      return match ? Number(match[1]) : undefined;
    } catch {
      return undefined;
    }
  }
}

interface RunResult {
  hits: Hit[];
  finished: boolean;
  hung: boolean;
  epochsLost: number;
  orphans: number;
}

async function chaosRun(index: number, elastic: boolean, hitsWanted: number): Promise<RunResult> {
  const runs = mkdtempSync(path.join(os.tmpdir(), 'emotrain-chaos-'));
  const runId = `chaos-${index}`;
  const runDir = path.join(runs, runId);
  const faults = [...(elastic ? ['--elastic', '--min-workers', '1'] : []), '--max-restarts', String(hitsWanted + 2), '--rejoin-timeout', '60', '--heartbeat-timeout', '3'];
  const common = ['--progress', 'lines', '--metrics-host', '127.0.0.1', '--metrics-port', '0', ...faults];
  const fresh = [
    '--gpus', String(WORKERS), '--epochs', String(EPOCHS), '--steps-per-epoch', String(STEPS), '--dataset', 'synthetic', '--synthetic-count', '700',
    '--model', 'small-cnn', '--image-size', '32', '--seed', String(SEED * 1000 + index), '--runs', runs, '--run-id', runId, ...common,
  ];
  let coordinator = new Coordinator(fresh);
  const hits: Hit[] = [];
  let hung = false;
  let lastProgress = Date.now();
  let lastSteps = -1;
  let lastEventCount = 0;
  const seenWorkers = new Set<number>();
  const stepTimes: Array<{ at: number; coordinator: Coordinator }> = [];

  // Progress: steps from /metrics, and events; both tell a hang from a slow run.
  const watch = setInterval(() => {
    void (async () => {
      const steps = await coordinator.steps();
      const events = readEvents(runDir);
      for (const e of events) if (e.event === 'worker_started') seenWorkers.add(e['pid'] as number);
      if (steps !== undefined && steps !== lastSteps) {
        if (steps > lastSteps && lastSteps >= 0) stepTimes.push({ at: Date.now(), coordinator });
        lastSteps = steps;
        lastProgress = Date.now();
      }
      if (events.length !== lastEventCount) {
        lastEventCount = events.length;
        lastProgress = Date.now();
      }
    })();
  }, 100);

  const firstStepAfter = async (t: number, deadline: number): Promise<number | undefined> => {
    while (Date.now() < deadline) {
      const step = stepTimes.find((s) => s.at > t);
      if (step) return step.at;
      if (!coordinator.running && coordinator.child.exitCode !== null) return undefined;
      await sleep(50);
    }
    return undefined;
  };

  const workerPids = (): Array<{ rank: number; pid: number; joined: boolean }> => {
    const latest = new Map<number, { pid: number; joined: boolean }>();
    for (const e of readEvents(runDir)) {
      if (e.event === 'worker_started') latest.set(e['rank'] as number, { pid: e['pid'] as number, joined: false });
      if (e.event === 'worker_joined') {
        const entry = latest.get(e['rank'] as number);
        if (entry && entry.pid === e['pid']) entry.joined = true;
      }
    }
    return [...latest.entries()].map(([rank, w]) => ({ rank, ...w })).filter((w) => alive(w.pid));
  };

  const waitFor = async (predicate: () => boolean, timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline && coordinator.running) {
      if (predicate()) return true;
      await sleep(25);
    }
    return false;
  };

  try {
    // The world forms first; hits start once steps run.
    await waitFor(() => lastSteps > 0, 120_000);
    let coordinatorKills = 0;
    for (let h = 0; h < hitsWanted && coordinator.running; h++) {
      const roll = rand();
      const action: Action = roll < 0.55 ? 'kill-worker' : roll < 0.8 || coordinatorKills >= 2 ? 'stop-worker' : 'kill-coordinator';
      const moment: Moment = action === 'kill-coordinator' ? pick(['steps', 'validation', 'checkpoint'] as const) : pick(['steps', 'steps', 'validation', 'checkpoint', 'join'] as const);
      // Get to the moment.
      if (moment === 'steps') await sleep(300 + rand() * 3000);
      if (moment === 'validation') {
        const target = (Math.floor(Math.max(lastSteps, 0) / STEPS) + 1) * STEPS;
        await waitFor(() => lastSteps >= target, 60_000);
      }
      if (moment === 'checkpoint') {
        const before = readEvents(runDir).filter((e) => e.event === 'epoch_end').length;
        await waitFor(() => readEvents(runDir).filter((e) => e.event === 'epoch_end').length > before, 60_000);
      }
      if (moment === 'join') {
        // Right after a worker process starts: hit a worker first, then the replacement while it joins.
        const victims = workerPids();
        if (victims.length === 0) continue;
        const first = pick(victims);
        process.kill(first.pid, 'SIGKILL');
        await waitFor(() => workerPids().some((w) => w.rank === first.rank && w.pid !== first.pid), 30_000);
      }
      if (!coordinator.running) break;
      const at = Date.now();
      const hit: Hit = { run: index, elastic, action, moment, at };
      if (action === 'kill-coordinator') {
        coordinatorKills++;
        const workersBefore = workerPids().map((w) => w.pid);
        coordinator.child.kill('SIGKILL');
        await coordinator.exited;
        // Its local workers leave when their stdin pipe closes.
        const gone = Date.now() + 10_000;
        while (Date.now() < gone && workersBefore.some(alive)) await sleep(50);
        coordinator = new Coordinator(['--resume', runDir, ...common]);
        const recovered = await firstStepAfter(at, Date.now() + 120_000);
        if (recovered !== undefined) hit.recoverSeconds = (recovered - at) / 1000;
      } else {
        const victims = workerPids();
        const victim = moment === 'join' ? victims.find((w) => !w.joined) ?? pick(victims) : pick(victims.filter((w) => w.joined).length > 0 ? victims.filter((w) => w.joined) : victims);
        if (!victim) continue;
        process.kill(victim.pid, action === 'kill-worker' ? 'SIGKILL' : 'SIGSTOP');
        const deadline = Date.now() + 60_000;
        let detected: number | undefined;
        while (Date.now() < deadline && coordinator.running && detected === undefined) {
          // A joined worker's loss is a worker_left (or worker_stalled); one killed before it joined is seen when it is started again.
          const e = readEvents(runDir).find(
            (x) =>
              Date.parse(x.time) >= at - 50 &&
              (((x.event === 'worker_left' || x.event === 'worker_stalled') && x['pid'] === victim.pid) ||
                (x.event === 'worker_started' && String(x['reason']).includes(`(pid ${victim.pid})`))),
          );
          if (e) detected = Date.parse(e.time);
          else await sleep(25);
        }
        if (detected !== undefined) {
          hit.detectSeconds = Math.max(0, (detected - at) / 1000);
          const recovered = await firstStepAfter(detected, Date.now() + 90_000);
          if (recovered !== undefined) hit.recoverSeconds = (recovered - at) / 1000;
        }
        // A stopped process the coordinator gave up on is killed by it; never leave one behind.
        if (action === 'stop-worker' && alive(victim.pid)) {
          await sleep(2000);
          if (alive(victim.pid)) process.kill(victim.pid, 'SIGKILL');
        }
      }
      hits.push(hit);
      log(`  run ${index}${elastic ? ' (elastic)' : ''}: ${action} at ${moment}: detected ${hit.detectSeconds === undefined ? '-' : `${hit.detectSeconds.toFixed(2)} s`}, next step ${hit.recoverSeconds === undefined ? 'none yet' : `${hit.recoverSeconds.toFixed(2)} s`} after the hit`);
    }
    // Let the run finish; no progress for HANG_MS is a hang.
    for (;;) {
      const code = await Promise.race([coordinator.exited, sleep(500).then(() => 'running' as const)]);
      if (code !== 'running') break;
      if (Date.now() - lastProgress > HANG_MS) {
        hung = true;
        log(`  run ${index}: no progress for ${HANG_MS / 1000} s: a hang\n${coordinator.output.split('\n').slice(-15).join('\n')}`);
        coordinator.child.kill('SIGKILL');
        await coordinator.exited;
        break;
      }
    }
  } finally {
    clearInterval(watch);
  }
  const events = readEvents(runDir);
  const finished = events.at(-1)?.event === 'run_finished';
  if (!finished && !hung) log(`  run ${index}: did not finish:\n${coordinator.output.split('\n').slice(-15).join('\n')}`);
  if (finished) for (const hit of hits) if (hit.recoverSeconds === undefined) hit.noStepsLeft = true;
  const rows = existsSync(path.join(runDir, 'metrics.csv')) ? readFileSync(path.join(runDir, 'metrics.csv'), 'utf8').trim().split('\n').slice(1) : [];
  const epochs = rows.map((row) => Number(row.split(',')[0]));
  const completed = events.filter((e) => e.event === 'epoch_end').map((e) => e['epoch'] as number);
  // A completed epoch is lost when the finished run's metrics.csv does not have it.
  const epochsLost = finished ? EPOCHS - new Set(epochs.filter((e) => e >= 1 && e <= EPOCHS)).size : new Set(completed).size - new Set(epochs).size;
  await sleep(3000);
  let orphans = 0;
  for (const [pid] of workerProcesses()) {
    if (!seenWorkers.has(pid)) continue;
    orphans++;
    process.kill(pid, 'SIGKILL');
  }
  rmSync(runs, { recursive: true, force: true });
  return { hits, finished, hung, epochsLost: Math.max(0, epochsLost), orphans };
}

function stats(values: number[]): { median: number | null; max: number | null } {
  if (values.length === 0) return { median: null, max: null };
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return { median: sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2, max: sorted.at(-1)! };
}

async function main(): Promise<void> {
  const started = Date.now();
  const load = loadAverage();
  log(`bench:chaos: ${KILLS} hits, seed ${SEED}, ${WORKERS} local CPU workers, small-cnn 32x32, ${EPOCHS} epochs of ${STEPS} steps per run; load average ${load}`);
  const results: RunResult[] = [];
  let done = 0;
  for (let run = 0; done < KILLS; run++) {
    const elastic = run % 2 === 1;
    const wanted = Math.min(KILLS - done, 3 + Math.floor(rand() * 3));
    const result = await chaosRun(run, elastic, wanted);
    results.push(result);
    // A run that ended before all its hits counts only those it took.
    done += Math.max(1, result.hits.length);
    log(`run ${run}${elastic ? ' (elastic)' : ''}: ${result.hits.length} hits, ${result.finished ? 'finished' : 'NOT finished'}${result.hung ? ', HUNG' : ''}, ${result.epochsLost} epochs lost, ${result.orphans} orphans`);
  }
  const hits = results.flatMap((r) => r.hits);
  const detect = stats(hits.flatMap((h) => (h.detectSeconds === undefined ? [] : [h.detectSeconds])));
  const recover = stats(hits.flatMap((h) => (h.recoverSeconds === undefined ? [] : [h.recoverSeconds])));
  const summary = {
    hits: hits.length,
    by_action: Object.fromEntries((['kill-worker', 'stop-worker', 'kill-coordinator'] as const).map((a) => [a, hits.filter((h) => h.action === a).length])),
    by_moment: Object.fromEntries((['steps', 'validation', 'checkpoint', 'join'] as const).map((m) => [m, hits.filter((h) => h.moment === m).length])),
    runs: results.length,
    hangs: results.filter((r) => r.hung).length,
    unfinished: results.filter((r) => !r.finished).length,
    epochs_lost: results.reduce((sum, r) => sum + r.epochsLost, 0),
    orphans: results.reduce((sum, r) => sum + r.orphans, 0),
    unrecovered: hits.filter((h) => h.recoverSeconds === undefined && !h.noStepsLeft).length,
    after_last_step: hits.filter((h) => h.noStepsLeft).length,
    detect_seconds: detect,
    recover_seconds: recover,
    wall_seconds: (Date.now() - started) / 1000,
    load_average_start: load,
    load_average_end: loadAverage(),
  };
  const f = (v: number | null) => (v === null ? '-' : v.toFixed(2));
  log(
    `\n${summary.hits} hits in ${summary.runs} runs (${Object.entries(summary.by_action).map(([k, v]) => `${k} ${v}`).join(', ')}; at ${Object.entries(summary.by_moment).map(([k, v]) => `${k} ${v}`).join(', ')})\n` +
      `hangs ${summary.hangs}, unfinished runs ${summary.unfinished}, completed epochs lost ${summary.epochs_lost}, orphans ${summary.orphans}, hits never recovered from ${summary.unrecovered} (${summary.after_last_step} came after the run's last step)\n` +
      `detect: median ${f(detect.median)} s, max ${f(detect.max)} s; recover: median ${f(recover.median)} s, max ${f(recover.max)} s; ` +
      `${summary.wall_seconds.toFixed(0)} s; load average ${summary.load_average_start} → ${summary.load_average_end}`,
  );
  if (JSON_OUT) process.stdout.write(`${JSON.stringify(summary)}\n`);
  process.exitCode = summary.hangs + summary.unfinished + summary.epochs_lost + summary.orphans + summary.unrecovered > 0 ? 1 : 0;
}

void main();
