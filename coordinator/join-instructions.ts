// What the waiting coordinator prints for the person starting workers (issue 13, point 4): the
// exact command, with the address workers should use and `--token $EMOTRAIN_TOKEN` — never the
// token itself, which would end up in terminal scrollback and CI logs.

export interface JoinInstructionsOptions {
  remoteWorkers: number;
  /** Best first (advertised-addresses.ts). */
  addresses: string[];
  tls: boolean;
  /** A ring run: with TLS, each worker also needs a certificate of its own for its peer port. */
  ring?: boolean;
  /** Set when the run is on the NATS control plane. */
  nats?: { servers: string; runId: string; auth: 'none' | 'creds' | 'token' | 'user' };
}

/** The TLS flags of a worker command: the CA, and in a ring run the worker's own certificate. */
function tlsFlags(tls: boolean, ring: boolean | undefined): string {
  if (!tls) return '';
  return ring ? ' --tls-ca CA.pem --tls-cert WORKER.pem --tls-key WORKER-KEY.pem' : ' --tls-ca CA.pem';
}

export function joinInstructions(options: JoinInstructionsOptions): string[] {
  const [address, ...others] = options.addresses;
  const tls = tlsFlags(options.tls, options.ring);
  const lines = [
    `waiting for ${options.remoteWorkers} remote worker${options.remoteWorkers === 1 ? '' : 's'}; on each GPU host run, once per GPU (N = 0, 1, ...):`,
    `  worker --coordinator ${address} --token $EMOTRAIN_TOKEN --gpu N${tls}`,
  ];
  if (others.length > 0) lines.push(`  (this coordinator is also reachable at ${others.join(', ')})`);
  if (options.nats) {
    const login = { none: '', creds: ' --nats-creds FILE', token: ' --nats-token $EMOTRAIN_NATS_TOKEN', user: ' --nats-user USER --nats-password $EMOTRAIN_NATS_PASSWORD' }[options.nats.auth];
    lines.push(`  or, through NATS: worker --nats ${options.nats.servers}${login} --token $EMOTRAIN_TOKEN --run ${options.nats.runId} --gpu N${tls}`);
  }
  lines.push('  with EMOTRAIN_TOKEN set to this run\'s token on that host');
  if (options.tls && options.ring) lines.push('  and WORKER.pem a certificate signed by CA.pem for the address other workers reach that one at (its peer port serves TLS)');
  return lines;
}

/**
 * What a run waiting for replacements prints: the command for each free rank. Local ranks are
 * started again by the coordinator itself while its restart budget lasts.
 */
export function replacementInstructions(options: { freeRanks: number[]; addresses: string[]; tls: boolean; ring?: boolean }): string[] {
  const [address] = options.addresses;
  const tls = tlsFlags(options.tls, options.ring);
  return options.freeRanks.map((rank) => `  to replace rank ${rank}: worker --coordinator ${address} --token $EMOTRAIN_TOKEN --rank ${rank} --gpu N${tls}`);
}
