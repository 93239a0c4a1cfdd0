// `worker --nats URL [--run ID]`: find the coordinator's gRPC address on the control plane instead
// of being told it (issue 13, point 1). Asks every coordinator on the server until the chosen run
// answers (shared/control/discovery.ts decides which), then tries its advertised addresses in
// order and keeps the first this host can reach. NATS is needed only for this.

import net from 'node:net';
import { ControlError, describeError } from '../shared/errors.js';
import { chooseRun } from '../shared/control/discovery.js';
import type { Announcement } from '../shared/control/messages.js';
import { gatherAnnouncements, openControlConnection } from '../shared/control/nats-requests.js';
import { describeNats, type NatsSettings } from '../shared/control/nats-settings.js';

export interface DiscoveryOptions {
  settings: NatsSettings;
  runId: string | undefined;
  /** Whether this worker was given TLS files: the run's announcement must agree. */
  tls: boolean;
  timeoutMs: number;
  log: (line: string) => void;
}

export interface Discovered {
  run: Announcement;
  address: string;
}

const ROUND_MS = 700;
const PROBE_MS = 2000;

export async function discoverCoordinator(options: DiscoveryOptions): Promise<Discovered> {
  const connection = await openControlConnection(options.settings, 'emotrain-worker');
  const deadline = Date.now() + options.timeoutMs;
  let lastWhy = '';
  try {
    for (;;) {
      const announcements = await gatherAnnouncements(connection, ROUND_MS, (message) => options.log(`ignoring a malformed announcement: ${message}`));
      const choice = chooseRun(announcements, options.runId);
      if (choice.kind === 'error') throw choice.error;
      if (choice.kind === 'chosen') return { run: choice.run, address: await reachable(choice.run, options.tls) };
      if (choice.why !== lastWhy) options.log(`${choice.why}; waiting (up to ${Math.round(options.timeoutMs / 1000)} s)`);
      lastWhy = choice.why;
      if (Date.now() > deadline) {
        throw new ControlError('CONTROL_NO_RUN', `${choice.why} after ${Math.round(options.timeoutMs / 1000)} s on NATS ${describeNats(options.settings)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
  } finally {
    await connection.close().catch(() => undefined);
  }
}

async function reachable(run: Announcement, tls: boolean): Promise<string> {
  if (run.tls && !tls) throw new ControlError('CONTROL_NO_RUN', `run ${run.run_id} serves TLS: give --tls-ca (the CA that signed its certificate)`);
  if (!run.tls && tls) throw new ControlError('CONTROL_NO_RUN', `run ${run.run_id} does not serve TLS, but --tls-ca/--tls-cert were given`);
  const failures: string[] = [];
  for (const address of run.grpc) {
    try {
      await probe(address);
      return address;
    } catch (error) {
      failures.push(`${address}: ${describeError(error)}`);
    }
  }
  throw new ControlError('CONTROL_NO_RUN', `run ${run.run_id} announced no address this host can reach (${failures.join('; ') || 'none announced'})`);
}

/** A TCP connection to `address` opens within PROBE_MS. */
function probe(address: string): Promise<void> {
  const colon = address.lastIndexOf(':');
  const host = address.slice(0, colon).replace(/^\[|\]$/g, '');
  const port = Number(address.slice(colon + 1));
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port, timeout: PROBE_MS });
    socket.once('connect', () => {
      socket.destroy();
      resolve();
    });
    socket.once('timeout', () => {
      socket.destroy();
      reject(new Error(`no answer within ${PROBE_MS} ms`));
    });
    socket.once('error', (error) => reject(error));
  });
}
