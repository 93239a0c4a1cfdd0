// Local worker processes, one per GPU (SPEC §2): `CUDA_VISIBLE_DEVICES=i` for worker i, the token
// in the environment (never on the command line, where `ps` shows it), their output forwarded with
// a prefix. Every child is reaped: on a normal stop after a grace period, and when the coordinator
// process exits for any reason.

import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { ResolvedBackend } from '../shared/backend/select-backend.js';

export interface LocalWorkerOptions {
  count: number;
  address: string;
  token: string;
  backend: ResolvedBackend;
  /** Decode-and-augment threads per worker (worker --data-threads). */
  dataThreads: number;
  /** Certificate files for a TLS coordinator. */
  tls: { ca: string; cert?: string; key?: string } | undefined;
  /** Called when a worker process ends before it was asked to. */
  onUnexpectedExit: (index: number, pid: number, description: string) => void;
  /** Where workers' output lines go (prefixed). */
  output: (line: string) => void;
}

const WORKER_MAIN = fileURLToPath(new URL('../worker/main.js', import.meta.url));

export class LocalWorkers {
  private readonly children: ChildProcess[] = [];
  private stopping = false;
  private readonly exitHook = () => this.killAll();

  constructor(private readonly options: LocalWorkerOptions) {
    process.on('exit', this.exitHook);
  }

  get pids(): number[] {
    return this.children.map((c) => c.pid ?? -1);
  }

  start(): void {
    for (let i = 0; i < this.options.count; i++) {
      const child = spawn(
        process.execPath,
        [
          WORKER_MAIN,
          ...['--coordinator', this.options.address, '--gpu', String(i), '--rank', String(i), '--backend', this.options.backend],
          ...['--data-threads', String(this.options.dataThreads), ...this.tlsArgs()],
        ],
        {
          env: { ...process.env, CUDA_VISIBLE_DEVICES: String(i), EMOTRAIN_TOKEN: this.options.token, EMOTRAIN_MANAGED: '1' },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      const prefix = `[worker ${i}] `;
      for (const stream of [child.stdout!, child.stderr!]) {
        createInterface({ input: stream }).on('line', (line) => this.options.output(prefix + line));
      }
      child.on('exit', (code, signal) => {
        if (this.stopping) return;
        const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
        this.options.onUnexpectedExit(i, child.pid ?? -1, `its process (pid ${child.pid}) ${how}`);
      });
      this.children.push(child);
    }
  }

  private tlsArgs(): string[] {
    const tls = this.options.tls;
    if (!tls) return [];
    return ['--tls-ca', tls.ca, ...(tls.cert && tls.key ? ['--tls-cert', tls.cert, '--tls-key', tls.key] : [])];
  }

  /** Waits up to `graceMs` for every worker to exit after a stop, then kills the rest. */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    const running = this.children.filter((c) => c.exitCode === null && c.signalCode === null);
    await Promise.race([
      Promise.all(running.map((c) => new Promise<void>((resolve) => c.once('exit', () => resolve())))),
      new Promise<void>((resolve) => setTimeout(resolve, graceMs).unref()),
    ]);
    this.killAll();
    process.off('exit', this.exitHook);
  }

  killAll(): void {
    this.stopping = true;
    for (const child of this.children) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  }
}
