// Local worker processes, one per GPU (SPEC §2): `CUDA_VISIBLE_DEVICES=i` for worker i, the token
// in the environment (never on the command line, where `ps` shows it), their output forwarded with
// a prefix. Every child is reaped: on a normal stop after a grace period, and when the coordinator
// process exits for any reason — a child's stdin is a pipe from us, and a worker started by a
// coordinator leaves when it closes (worker/main.ts), so not even SIGKILL leaves orphans.
//
// A worker that ends before it was asked to is started again (SPEC §8), up to --max-restarts times
// per rank, like torchrun's. One that has not joined within the start timeout, or whose process is
// stopped (SIGSTOP, a debugger) for a few seconds before it joins, is reported and killed, which
// counts as the same kind of loss.

import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { ResolvedBackend } from '../shared/backend/select-backend.js';
import type { Clock } from './clock.js';

export interface LocalWorkerOptions {
  count: number;
  address: string;
  token: string;
  backend: ResolvedBackend;
  /** Decode-and-augment threads per worker (worker --data-threads). */
  dataThreads: number;
  /** Certificate files for a TLS coordinator. */
  tls: { ca: string; cert?: string; key?: string } | undefined;
  /** --max-restarts: how often each rank's process may be started again. */
  maxRestarts: number;
  /** --worker-start-timeout: from its start, how long a process may take to join. */
  startTimeoutMs: number;
  clock: Clock;
  /** A process was started; `restart` counts the times for this rank (0: the first start). */
  onStarted: (rank: number, pid: number, restart: number, reason: string | undefined) => void;
  /** A process that has not joined is stopped or slow: it is about to be killed. */
  onStalled: (rank: number, pid: number, reason: string) => void;
  /**
   * A worker process ended before it was asked to. `restarting`: it is being started again;
   * false when the budget is spent or `mayRestart` said no. `killedByUs`: we killed it (the run
   * let it go, or it stalled before joining), and `description` says why.
   */
  onUnexpectedExit: (rank: number, pid: number, description: string, restarting: boolean, killedByUs: boolean) => void;
  /** Whether a rank whose process ended may be started again (no: the worker told us why it failed). */
  mayRestart: (rank: number, pid: number) => boolean;
  /** Where workers' output lines go (prefixed). */
  output: (line: string) => void;
  /** Reads a process's state letter (R, S, T, ...); /proc by default. */
  processState?: (pid: number) => string | undefined;
}

const WORKER_MAIN = fileURLToPath(new URL('../worker/main.js', import.meta.url));
/** A process stopped this long before it joins is reported (SPEC §8: within seconds). */
export const STOPPED_BEFORE_JOIN_MS = 3000;
const WATCH_INTERVAL_MS = 500;
/** A pause before a lost worker's process is started again. */
const RESTART_DELAY_MS = 500;

/** The state letter in /proc/PID/stat (after the parenthesised command name). */
export function procState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) || undefined;
  } catch {
    return undefined;
  }
}

interface Slot {
  rank: number;
  child: ChildProcess;
  startedAt: number;
  joined: boolean;
  restarts: number;
  /** Since when the process was seen stopped before joining. */
  stoppedSince: number | undefined;
  /** Why we killed it, if we did. */
  killedBecause: string | undefined;
}

export class LocalWorkers {
  private readonly slots = new Map<number, Slot>();
  private stopping = false;
  private watch: NodeJS.Timeout | undefined;
  private readonly exitHook = () => this.killAll();

  constructor(private readonly options: LocalWorkerOptions) {
    process.on('exit', this.exitHook);
  }

  get pids(): number[] {
    return [...this.slots.values()].map((s) => s.child.pid ?? -1);
  }

  /** Whether `pid` is one of ours (alive). */
  owns(pid: number): boolean {
    return this.slotOf(pid) !== undefined;
  }

  start(): void {
    for (let rank = 0; rank < this.options.count; rank++) this.spawn(rank, 0, undefined);
    this.watch = setInterval(() => this.checkStarting(), WATCH_INTERVAL_MS);
    this.watch.unref();
  }

  /** The worker with this pid joined the run. */
  joined(pid: number): void {
    const slot = this.slotOf(pid);
    if (slot) slot.joined = true;
  }

  /** The run let the worker with this pid go (lost, expelled): its process goes too, and is started again. */
  lost(pid: number, reason: string): void {
    const slot = this.slotOf(pid);
    if (!slot || this.stopping) return;
    // Often it is dead already (its death is how the run lost it): a zombie not reaped yet.
    const state = (this.options.processState ?? procState)(pid);
    if (state === undefined || state === 'Z' || state === 'X') return;
    slot.killedBecause ??= reason;
    slot.child.kill('SIGKILL');
  }

  private slotOf(pid: number): Slot | undefined {
    for (const slot of this.slots.values()) if (slot.child.pid === pid) return slot;
    return undefined;
  }

  private spawn(rank: number, restarts: number, reason: string | undefined): void {
    const child = spawn(
      process.execPath,
      [
        WORKER_MAIN,
        ...['--coordinator', this.options.address, '--gpu', String(rank), '--rank', String(rank), '--backend', this.options.backend],
        ...['--data-threads', String(this.options.dataThreads), ...this.tlsArgs()],
      ],
      {
        env: { ...process.env, CUDA_VISIBLE_DEVICES: String(rank), EMOTRAIN_TOKEN: this.options.token, EMOTRAIN_MANAGED: '1' },
        // stdin: a pipe we never write to; it closes when this process ends, and the worker with it.
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    child.stdin!.on('error', () => undefined);
    const prefix = `[worker ${rank}] `;
    for (const stream of [child.stdout!, child.stderr!]) {
      createInterface({ input: stream }).on('line', (line) => this.options.output(prefix + line));
    }
    const slot: Slot = { rank, child, startedAt: this.options.clock.now(), joined: false, restarts, stoppedSince: undefined, killedBecause: undefined };
    this.slots.set(rank, slot);
    child.on('exit', (code, signal) => this.onExit(slot, code, signal));
    this.options.onStarted(rank, child.pid ?? -1, restarts, reason);
  }

  private onExit(slot: Slot, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.stopping || this.slots.get(slot.rank) !== slot) return;
    const pid = slot.child.pid ?? -1;
    const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
    const description = slot.killedBecause ? `its process (pid ${pid}) was killed by the coordinator: ${slot.killedBecause}` : `its process (pid ${pid}) ${how}`;
    const restarting = slot.restarts < this.options.maxRestarts && this.options.mayRestart(slot.rank, pid);
    this.options.onUnexpectedExit(slot.rank, pid, description, restarting, slot.killedBecause !== undefined);
    if (!restarting) {
      this.slots.delete(slot.rank);
      return;
    }
    setTimeout(() => {
      if (!this.stopping && this.slots.get(slot.rank) === slot) this.spawn(slot.rank, slot.restarts + 1, description);
    }, RESTART_DELAY_MS).unref();
  }

  /** Reports and kills a process that has not joined and is stopped, or is past the start timeout. */
  private checkStarting(): void {
    if (this.stopping) return;
    const now = this.options.clock.now();
    const state = this.options.processState ?? procState;
    for (const slot of this.slots.values()) {
      const pid = slot.child.pid;
      if (slot.joined || pid === undefined || slot.killedBecause !== undefined || slot.child.exitCode !== null || slot.child.signalCode !== null) continue;
      const letter = state(pid);
      const stopped = letter === 'T' || letter === 't';
      if (stopped) slot.stoppedSince ??= now;
      else slot.stoppedSince = undefined;
      let reason: string | undefined;
      if (slot.stoppedSince !== undefined && now - slot.stoppedSince >= STOPPED_BEFORE_JOIN_MS) {
        reason = `stopped for ${((now - slot.stoppedSince) / 1000).toFixed(1)} s before joining (SIGSTOP?)`;
      } else if (now - slot.startedAt >= this.options.startTimeoutMs) {
        reason = `not joined ${Math.round((now - slot.startedAt) / 1000)} s after it started (--worker-start-timeout)`;
      }
      if (reason === undefined) continue;
      slot.killedBecause = reason;
      this.options.onStalled(slot.rank, pid, reason);
      slot.child.kill('SIGKILL');
    }
  }

  private tlsArgs(): string[] {
    const tls = this.options.tls;
    if (!tls) return [];
    return ['--tls-ca', tls.ca, ...(tls.cert && tls.key ? ['--tls-cert', tls.cert, '--tls-key', tls.key] : [])];
  }

  private running(): ChildProcess[] {
    return [...this.slots.values()].map((s) => s.child).filter((c) => c.exitCode === null && c.signalCode === null);
  }

  /** Waits up to `graceMs` for every worker to exit after a stop, then kills the rest. */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    clearInterval(this.watch);
    const running = this.running();
    await Promise.race([
      Promise.all(running.map((c) => new Promise<void>((resolve) => c.once('exit', () => resolve())))),
      new Promise<void>((resolve) => setTimeout(resolve, graceMs).unref()),
    ]);
    this.killAll();
    process.off('exit', this.exitHook);
  }

  killAll(): void {
    this.stopping = true;
    clearInterval(this.watch);
    for (const child of this.running()) child.kill('SIGKILL');
  }
}
