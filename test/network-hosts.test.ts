// Issue 13, acceptance b: the coordinator and two workers on three hosts with addresses of their
// own (network namespaces, test/helpers/netns.ts), plus a nats-server with authentication on a
// fourth. One worker joins by address over TLS with the run's token; the other is told only where
// NATS is and finds the coordinator there. The run trains to the end.

import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { COORDINATOR, Program, WORKER, cleanUp, readEvents, tempDir } from './helpers/processes.js';
import { NatsServer, cleanUpNatsServers, requireNatsServer } from './helpers/nats-server.js';
import { TestNetwork, requireNetworkNamespaces } from './helpers/netns.js';

let network: TestNetwork | undefined;

beforeAll(() => {
  requireNetworkNamespaces();
  requireNatsServer();
});
afterEach(async () => {
  cleanUp();
  await cleanUpNatsServers();
  network?.destroy();
  network = undefined;
});

/** A certificate for the coordinator's address, signed by a CA of the test's own (openssl). */
function certificates(coordinatorAddress: string): { ca: string; cert: string; key: string } {
  const dir = tempDir('netns-tls');
  const [ca, caKey, cert, key, csr] = ['ca.pem', 'ca-key.pem', 'cert.pem', 'key.pem', 'cert.csr'].map((f) => path.join(dir, f)) as [string, string, string, string, string];
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', caKey, '-out', ca, '-days', '1', '-subj', '/CN=emotrain test CA');
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', csr, '-subj', '/CN=coordinator');
  const ext = path.join(dir, 'san.cnf');
  execFileSync('sh', ['-c', `printf 'subjectAltName=IP:${coordinatorAddress}\\n' > ${ext}`]);
  openssl('x509', '-req', '-in', csr, '-CA', ca, '-CAkey', caKey, '-CAcreateserial', '-out', cert, '-days', '1', '-extfile', ext);
  return { ca, cert, key };
}

describe('workers on other network hosts', () => {
  it('trains to the end with one worker joining by address over TLS and one found through NATS', async () => {
    network = TestNetwork.create(['coordinator', 'gpu-a', 'gpu-b', 'nats']);
    const coordinatorAddress = network.address('coordinator');
    const nats = new NatsServer(network.address('nats'), 4222, 'emotrain', 'nats-secret', network.namespace('nats'));
    await nats.start();
    const { ca, cert, key } = certificates(coordinatorAddress);

    const runs = tempDir('netns-runs');
    const runId = `netns-${process.pid}`;
    const env = { EMOTRAIN_TOKEN: 'netns-token', EMOTRAIN_NATS_PASSWORD: nats.password };
    const coordinator = new Program(COORDINATOR, [
      '--gpus', '0', '--workers', '2', '--listen', '0.0.0.0:50061', '--tls-cert', cert, '--tls-key', key,
      '--nats', nats.url, '--nats-user', nats.user,
      '--epochs', '2', '--steps-per-epoch', '3', '--dataset', 'synthetic', '--synthetic-count', '700', '--model', 'small-cnn',
      '--image-size', '16', '--runs', runs, '--run-id', runId, '--progress', 'lines',
    ], env, false, network.on('coordinator'));
    // it prints the command to run on the other hosts, with its own address
    await coordinator.waitFor(new RegExp(`worker --coordinator ${coordinatorAddress.replaceAll('.', '\\.')}:50061 --token \\$EMOTRAIN_TOKEN --gpu N --tls-ca CA\\.pem`), 60_000);
    await coordinator.waitFor(/NATS: events on/, 10_000);

    const byAddress = new Program(WORKER, ['--coordinator', `${coordinatorAddress}:50061`, '--tls-ca', ca], env, false, network.on('gpu-a'));
    const byNats = new Program(WORKER, ['--nats', nats.url, '--nats-user', nats.user, '--tls-ca', ca], env, false, network.on('gpu-b'));
    expect((await coordinator.exit(90_000)).code, coordinator.output).toBe(0);
    expect((await byAddress.exit(10_000)).code, byAddress.output).toBe(0);
    expect((await byNats.exit(10_000)).code, byNats.output).toBe(0);
    expect(byNats.output).toContain(`found run ${runId} on NATS: joining its coordinator at ${coordinatorAddress}:50061`);
    // remote workers show their own progress
    expect(byAddress.output).toMatch(/worker \d: step 0 \(epoch 1\), 1 steps done; \d+\.\d img\/s own/);

    const events = readEvents(path.join(runs, runId));
    const peers = events.filter((e) => e.event === 'worker_joined').map((e) => String(e['peer']).replace(/^ipv4:/, '').split(':')[0]).sort();
    expect(peers).toEqual([network.address('gpu-a'), network.address('gpu-b')].sort());
    expect(new Set([coordinatorAddress, ...peers]).size).toBe(3);
    expect(events.filter((e) => e.event === 'epoch_end')).toHaveLength(2);
    expect(events.filter((e) => e.event === 'replicas_verified').at(-1)?.['workers']).toBe(2);
    expect(events.at(-1)!.event).toBe('run_finished');
    // TLS was on: no warning that the token travels in clear
    expect(events.some((e) => e.event === 'warning' && e['code'] === 'TOKEN_IN_CLEAR')).toBe(false);
  });
});
