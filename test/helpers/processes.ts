// Starting the real coordinator and worker programs (from dist/, built by `npm test`) in tests,
// watching their output, and always cleaning up: every process a test starts is killed and every
// temp directory removed, even when the test fails.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const COORDINATOR = path.join(ROOT, 'dist', 'coordinator', 'main.js');
export const WORKER = path.join(ROOT, 'dist', 'worker', 'main.js');
export const EMOTRAIN = path.join(ROOT, 'dist', 'cli', 'emotrain.js');

/** One synthetic-data cache for the whole test run, so each dataset is generated once. */
export const TEST_CACHE = path.join(os.tmpdir(), 'emotrain-test-cache');

/** The README's demo command made tiny (about 15 s on two cores): two CPU workers, the small CNN at 32 px, 700 synthetic faces. */
export function tinyRunArgs(runsDir: string, runId: string, epochs = 2): string[] {
  return [
    '--gpus', '2', '--epochs', String(epochs), '--dataset', 'synthetic', '--synthetic-count', '700',
    '--model', 'small-cnn', '--image-size', '32', '--runs', runsDir, '--run-id', runId, '--progress', 'lines',
  ];
}

export class Program {
  readonly child: ChildProcess;
  output = '';
  private readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  /**
   * `ownGroup`: start in a process group of its own, as a shell does, so a test can signal the group like Ctrl-C.
   * `wrap`: a command that runs node for us and then is node (`ip netns exec NS`, which execs it), so the pid stays node's.
   */
  constructor(script: string, args: string[], env: Record<string, string> = {}, ownGroup = false, wrap: string[] = []) {
    if (!existsSync(script)) throw new Error(`${script} is missing: run \`npm run build\` first (npm test does)`);
    // Tests never take fixed ports: a coordinator's metrics endpoint gets any free port unless the test chose one.
    if (script === COORDINATOR && !args.some((a) => a.startsWith('--metrics-port') || a === '--no-metrics')) {
      args = [...args, '--metrics-port', '0'];
    }
    const [command, ...prefix] = wrap.length > 0 ? wrap : [process.execPath];
    this.child = spawn(command!, [...prefix, ...(wrap.length > 0 ? [process.execPath] : []), script, ...args], {
      cwd: ROOT,
      env: { ...process.env, EMOTRAIN_CACHE: TEST_CACHE, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: ownGroup,
    });
    this.child.stdout!.on('data', (data: Buffer) => (this.output += data.toString()));
    this.child.stderr!.on('data', (data: Buffer) => (this.output += data.toString()));
    this.exited = new Promise((resolve) => this.child.on('exit', (code, signal) => resolve({ code, signal })));
    running.add(this);
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Resolves with the first match of `pattern` in the output; rejects on timeout or exit. */
  async waitFor(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const match = this.output.match(pattern);
      if (match) return match;
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(`process exited (${this.child.exitCode ?? this.child.signalCode}) before printing ${pattern}:\n${this.output}`);
      }
      if (Date.now() > deadline) throw new Error(`no ${pattern} within ${timeoutMs} ms:\n${this.output}`);
      await sleep(50);
    }
  }

  async exit(timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`still running after ${timeoutMs} ms:\n${this.output}`)), timeoutMs);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }
}

const running = new Set<Program>();
const tempDirs = new Set<string>();

export function tempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), `emotrain-${prefix}-`));
  tempDirs.add(dir);
  return dir;
}

/** Kills every program still running (and the workers they started) and removes temp dirs. */
export function cleanUp(): void {
  for (const program of running) program.kill('SIGKILL');
  running.clear();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Whether a process with this pid exists (and is not a zombie we could still reap). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.split(' ')[2] !== 'Z';
  } catch {
    return false;
  }
}

export async function waitForEvents(runDir: string, predicate: (events: RunEventLine[]) => boolean, timeoutMs: number): Promise<RunEventLine[]> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const events = readEvents(runDir);
    if (predicate(events)) return events;
    await sleep(100);
  }
  throw new Error(`events never matched in ${runDir}: ${JSON.stringify(readEvents(runDir))}`);
}

export function workerPids(events: RunEventLine[]): Map<number, number> {
  return new Map(events.filter((e) => e.event === 'worker_joined').map((e) => [e['rank'] as number, e['pid'] as number]));
}

export interface RunEventLine {
  event: string;
  [key: string]: unknown;
}

export function readEvents(runDir: string): RunEventLine[] {
  const file = path.join(runDir, 'events.jsonl');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as RunEventLine);
}

export function readCsv(file: string): Array<Record<string, number>> {
  const [header, ...lines] = readFileSync(file, 'utf8').trim().split('\n');
  const columns = header!.split(',');
  return lines.map((line) => Object.fromEntries(line.split(',').map((v, i) => [columns[i]!, Number(v)])));
}
