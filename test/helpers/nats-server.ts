// A real nats-server (Debian's) for the control-plane tests: started with a user and password from
// a config file, on a free port (or inside a network namespace, through `ip netns exec`), killed
// and restarted on the same port to make an outage, and always stopped in cleanUpNatsServers.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { sleep, tempDir } from './processes.js';

export const NATS_SERVER = '/usr/sbin/nats-server';

/** Fails, never skips: without the server these acceptance tests have not been met. */
export function requireNatsServer(): void {
  if (!existsSync(NATS_SERVER)) throw new Error(`${NATS_SERVER} is missing: install Debian's nats-server (apt-get install nats-server), as .ci/run does`);
}

export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

const servers = new Set<NatsServer>();

export class NatsServer {
  private child: ChildProcess | undefined;
  output = '';
  readonly config: string;

  constructor(
    readonly host: string,
    readonly port: number,
    readonly user: string,
    readonly password: string,
    /** Run inside this network namespace. */
    private readonly netns?: string,
  ) {
    this.config = path.join(tempDir('nats'), 'nats.conf');
    writeFileSync(this.config, `listen: "${host}:${port}"\nauthorization {\n  user: "${user}"\n  password: "${password}"\n}\n`);
    servers.add(this);
  }

  get url(): string {
    return `nats://${this.host}:${this.port}`;
  }

  /** Starts the server and resolves once it accepts clients. */
  async start(timeoutMs = 10_000): Promise<void> {
    const [command, args] = this.netns ? ['ip', ['netns', 'exec', this.netns, NATS_SERVER, '-c', this.config]] : [NATS_SERVER, ['-c', this.config]];
    const child = spawn(command, args as string[], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    child.stdout!.on('data', (d: Buffer) => (this.output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (this.output += d.toString()));
    const deadline = Date.now() + timeoutMs;
    const ready = this.output.length;
    while (!this.output.slice(ready).includes('Server is ready')) {
      if (child.exitCode !== null) throw new Error(`nats-server exited (${child.exitCode}):\n${this.output}`);
      if (Date.now() > deadline) throw new Error(`nats-server not ready within ${timeoutMs} ms:\n${this.output}`);
      await sleep(50);
    }
  }

  /** An outage: the server dies at once, as a crashed host would. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }
}

export async function cleanUpNatsServers(): Promise<void> {
  for (const server of servers) await server.kill();
  servers.clear();
}
