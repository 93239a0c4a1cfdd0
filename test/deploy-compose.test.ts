// deploy/docker-compose.yml runs emotrain itself, not only its neighbours (issue 13, point 3): the
// coordinator is built from the Dockerfile, publishes its events on the stack's nats-server, and
// serves metrics where the stack's Prometheus scrapes; the GPU worker finds it through NATS.
// (No container engine runs here; the CPU image build is tried by hand, see the README.)

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ROOT } from './helpers/processes.js';

interface Service {
  build?: { context: string; dockerfile: string };
  image: string;
  command: string[];
  environment?: Record<string, string>;
  ports?: string[];
  profiles?: string[];
}

const compose = parse(readFileSync(path.join(ROOT, 'deploy', 'docker-compose.yml'), 'utf8')) as { services: Record<string, Service> };

describe('the compose stack', () => {
  it('builds and runs the coordinator, on the stack\'s NATS, scraped by its Prometheus', () => {
    const coordinator = compose.services['coordinator']!;
    expect(coordinator.build).toEqual({ context: '..', dockerfile: 'Dockerfile' });
    expect(readFileSync(path.join(ROOT, 'deploy', coordinator.build!.context, coordinator.build!.dockerfile), 'utf8')).toContain('FROM ${BASE_IMAGE}');
    expect(coordinator.command.slice(0, 2)).toEqual(['node', 'dist/coordinator/main.js']);
    expect(coordinator.command).toContain('--nats=nats://nats:4222');
    expect(compose.services['nats']).toBeDefined();
    // the token comes from the environment of whoever starts the stack, never from this file
    expect(coordinator.environment?.['EMOTRAIN_TOKEN']).toMatch(/^\$\{EMOTRAIN_TOKEN:\?/);
    // Prometheus scrapes the host's 9478, where the coordinator's metrics port is published
    const metricsPort = coordinator.command.find((a) => a.startsWith('--metrics-port='))!.split('=')[1];
    expect(coordinator.ports).toContain(`${metricsPort}:${metricsPort}`);
    expect(readFileSync(path.join(ROOT, 'deploy', 'prometheus.yml'), 'utf8')).toContain(`targets: ['host.docker.internal:${metricsPort}']`);
  });

  it('offers a GPU worker, from the CUDA image, that joins by NATS discovery', () => {
    const worker = compose.services['worker-gpu']!;
    expect(worker.profiles).toEqual(['gpu']);
    expect(worker.build?.dockerfile).toBe('deploy/docker/gpu.Dockerfile');
    expect(worker.command).toEqual(['node', 'dist/worker/main.js', '--nats=nats://nats:4222', '--gpu=0']);
  });
});
