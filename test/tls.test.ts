import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { selfSignedCertificate } from './helpers/certificates.js';
import { COORDINATOR, Program, WORKER, cleanUp, readEvents, tempDir } from './helpers/processes.js';

afterEach(cleanUp);

/** A self-signed certificate for 127.0.0.1 and localhost. */
const selfSigned = () => selfSignedCertificate(tempDir('tls'));

describe('TLS', () => {
  it('trains over TLS with local workers, and refuses a worker that does not speak it', async () => {
    const { cert, key } = selfSigned();
    const runs = tempDir('runs');
    const coordinator = new Program(COORDINATOR, [
      '--gpus', '1', '--workers', '1', '--listen', '127.0.0.1:0', '--token', 'tls-token', '--tls-cert', cert, '--tls-key', key,
      '--epochs', '1', '--steps-per-epoch', '2', '--dataset', 'synthetic', '--synthetic-count', '700', '--model', 'small-cnn',
      '--image-size', '16', '--runs', runs, '--run-id', 'tls', '--progress', 'lines',
    ]);
    const address = `127.0.0.1:${(await coordinator.waitFor(/listening on 127\.0\.0\.1:(\d+)/, 60_000))[1]}`;

    // without the CA, a worker cannot even connect: it fails clearly instead of joining in plain text
    const plain = new Program(WORKER, ['--coordinator', address, '--token', 'tls-token', '--connect-timeout', '3']);
    expect((await plain.exit(30_000)).code).not.toBe(0);
    expect(plain.output).toMatch(/cannot reach the coordinator at 127\.0\.0\.1:\d+ within 3000 ms/);

    // with it, the second worker joins and the run trains to the end
    const remote = new Program(WORKER, ['--coordinator', address, '--token', 'tls-token', '--tls-ca', cert]);
    expect((await coordinator.exit(120_000)).code, coordinator.output).toBe(0);
    expect((await remote.exit(10_000)).code, remote.output).toBe(0);
    const events = readEvents(path.join(runs, 'tls'));
    expect(events.filter((e) => e.event === 'worker_joined').length).toBe(2);
    expect(events.some((e) => e.event === 'replicas_verified')).toBe(true);
  });

  it('runs a ring over TLS, and a worker without a certificate of its own for its peer port is told so', async () => {
    const { cert, key } = selfSigned();
    const runs = tempDir('runs');
    const coordinator = new Program(COORDINATOR, [
      '--gpus', '1', '--workers', '1', '--listen', '127.0.0.1:0', '--token', 'tls-token', '--tls-cert', cert, '--tls-key', key, '--allreduce', 'ring',
      '--epochs', '1', '--steps-per-epoch', '2', '--dataset', 'synthetic', '--synthetic-count', '700', '--model', 'small-cnn',
      '--image-size', '16', '--runs', runs, '--run-id', 'tls-ring', '--progress', 'lines',
    ]);
    const address = `127.0.0.1:${(await coordinator.waitFor(/listening on 127\.0\.0\.1:(\d+)/, 60_000))[1]}`;
    await coordinator.waitFor(/--tls-ca CA\.pem --tls-cert WORKER\.pem --tls-key WORKER-KEY\.pem/, 30_000);

    // only the CA: it could reach peers, but could not serve its own peer port over TLS
    const caOnly = new Program(WORKER, ['--coordinator', address, '--token', 'tls-token', '--tls-ca', cert]);
    expect((await caOnly.exit(60_000)).code).not.toBe(0);
    expect(caOnly.output).toMatch(/this run reduces peer to peer over TLS \(--allreduce ring\): start the worker with --tls-cert and --tls-key as well/);

    // with a certificate of its own (here the same self-signed one), the ring trains to the end
    const remote = new Program(WORKER, ['--coordinator', address, '--token', 'tls-token', '--tls-ca', cert, '--tls-cert', cert, '--tls-key', key]);
    expect((await coordinator.exit(120_000)).code, coordinator.output).toBe(0);
    expect((await remote.exit(10_000)).code, remote.output).toBe(0);
    const events = readEvents(path.join(runs, 'tls-ring'));
    expect(events.some((e) => e.event === 'replicas_verified')).toBe(true);
  });
});
