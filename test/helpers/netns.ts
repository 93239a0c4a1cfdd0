// Hosts with addresses of their own for multi-host tests (issue 13, point 2): one Linux network
// namespace per host, each joined by a veth pair to a bridge in a hub namespace of its own, so
// nothing is added to the machine's own network and the traffic stays between the namespaces
// the test made. Addresses are from 198.18.0.0/15, the range set aside for network tests
// (RFC 2544). Names carry the test process's pid; every namespace is removed after the test, and
// one left behind by a test process that died is removed by the next.

import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { isAlive } from './processes.js';

const PREFIX = 'emotrain-t';
const SUBNET = '198.18.0';

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Fails, never skips: these acceptance tests need root and iproute2. */
export function requireNetworkNamespaces(): void {
  if (!existsSync('/usr/sbin/ip') && !existsSync('/sbin/ip') && !existsSync('/usr/bin/ip')) throw new Error("`ip` is missing: install Debian's iproute2 (apt-get install iproute2), as .ci/run does");
  if (process.getuid?.() !== 0) throw new Error('network namespaces need root (ip netns add): run the tests as root, as CI does');
}

function namespaces(): string[] {
  return ip('netns', 'list').split('\n').map((line) => line.split(' ')[0]!).filter((name) => name !== '');
}

function removeNamespace(name: string): void {
  // Processes outlive their namespace's name; the test started them, so they go first, by pid.
  for (const pid of ip('netns', 'pids', name).split('\n').filter((p) => p !== '')) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // already gone
    }
  }
  try {
    ip('netns', 'del', name);
  } catch {
    // already removed
  }
}

/** Namespaces of ours whose test process is gone (a crash, a kill -9 of vitest). */
function removeLeftovers(): void {
  for (const name of namespaces()) {
    const match = new RegExp(`^${PREFIX}(\\d+)-`).exec(name);
    if (match && !isAlive(Number(match[1]))) removeNamespace(name);
  }
}

export class TestNetwork {
  private readonly hub: string;
  private readonly hosts = new Map<string, { namespace: string; address: string }>();
  private readonly created: string[] = [];

  private constructor(private readonly id: string) {
    this.hub = `${PREFIX}${process.pid}-${id}-hub`;
  }

  /** A hub and one namespace per host name; host i gets 198.18.0.(i+1). */
  static create(hostNames: string[]): TestNetwork {
    requireNetworkNamespaces();
    removeLeftovers();
    const network = new TestNetwork(Math.random().toString(36).slice(2, 8));
    try {
      network.build(hostNames);
    } catch (error) {
      network.destroy();
      throw error;
    }
    return network;
  }

  private addNamespace(name: string): void {
    ip('netns', 'add', name);
    this.created.push(name);
    ip('-n', name, 'link', 'set', 'lo', 'up');
  }

  private build(hostNames: string[]): void {
    this.addNamespace(this.hub);
    ip('-n', this.hub, 'link', 'add', 'br0', 'type', 'bridge');
    ip('-n', this.hub, 'link', 'set', 'br0', 'up');
    hostNames.forEach((host, i) => {
      const namespace = `${PREFIX}${process.pid}-${this.id}-${host}`;
      const address = `${SUBNET}.${i + 1}`;
      this.addNamespace(namespace);
      ip('-n', this.hub, 'link', 'add', `p${i}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', namespace);
      ip('-n', this.hub, 'link', 'set', `p${i}`, 'master', 'br0', 'up');
      ip('-n', namespace, 'addr', 'add', `${address}/24`, 'dev', 'eth0');
      ip('-n', namespace, 'link', 'set', 'eth0', 'up');
      this.hosts.set(host, { namespace, address });
    });
  }

  address(host: string): string {
    return this.host(host).address;
  }

  namespace(host: string): string {
    return this.host(host).namespace;
  }

  /** The command prefix that runs a program on `host`. */
  on(host: string): string[] {
    return ['ip', 'netns', 'exec', this.host(host).namespace];
  }

  private host(name: string) {
    const host = this.hosts.get(name);
    if (!host) throw new Error(`no test host ${name}`);
    return host;
  }

  destroy(): void {
    for (const name of this.created.reverse()) removeNamespace(name);
    this.created.length = 0;
  }
}
