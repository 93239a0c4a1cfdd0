// Issue 13, acceptance d: deploy/kubernetes/ passes the Kubernetes API schema (kubernetes-models'
// validators, generated from the API's OpenAPI spec), and its pieces fit together: the workers
// are an Indexed Job of one GPU each that reach the coordinator through its Service, the token
// comes from the Secret, the metrics port is annotated for Prometheus, and the images are the
// ones the Dockerfiles build. No cluster runs here: nothing is applied.

import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { Job } from 'kubernetes-models/batch/v1';
import { PersistentVolumeClaim, Secret, Service } from 'kubernetes-models/v1';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { ROOT } from './helpers/processes.js';

const DIR = path.join(ROOT, 'deploy', 'kubernetes');
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'v1/Secret': Secret as never,
  'v1/Service': Service as never,
  'v1/PersistentVolumeClaim': PersistentVolumeClaim as never,
  'batch/v1/Job': Job as never,
};

interface Resource {
  file: string;
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
  [key: string]: unknown;
}

function resources(): Resource[] {
  const files = readdirSync(DIR).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
  return files.flatMap((file) =>
    parseAllDocuments(readFileSync(path.join(DIR, file), 'utf8')).map((doc) => {
      if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors.map((e) => e.message).join('; ')}`);
      return { ...(doc.toJS() as Omit<Resource, 'file'>), file } as Resource;
    }),
  );
}

function find(kind: string, name: string): Resource {
  const found = resources().find((r) => r.kind === kind && r.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name} in deploy/kubernetes`);
  return found;
}

type Container = { name: string; image: string; command: string[]; args: string[]; env: Array<{ name: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }>; ports?: Array<{ name: string; containerPort: number }>; resources?: { limits?: Record<string, unknown> } };
type PodTemplate = { metadata: { labels: Record<string, string>; annotations?: Record<string, string> }; spec: { containers: Container[] } };

function flag(container: Container, name: string): string | undefined {
  return container.args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
}

describe('the Kubernetes manifests', () => {
  it('pass the Kubernetes API schema, each resource', () => {
    const all = resources();
    expect(all.map((r) => `${r.kind}/${r.metadata.name}`).sort()).toEqual([
      'Job/emotrain-coordinator', 'Job/emotrain-workers', 'PersistentVolumeClaim/emotrain-runs', 'Secret/emotrain-token', 'Service/emotrain-coordinator',
    ]);
    for (const resource of all) {
      const Model = MODELS[`${resource.apiVersion}/${resource.kind}`];
      expect(Model, `${resource.file}: ${resource.apiVersion} ${resource.kind} has no schema here`).toBeDefined();
      const { file: _file, ...manifest } = resource;
      expect(() => new Model!(manifest as never).validate(), resource.file).not.toThrow();
    }
    // the kustomization applies every file
    const kustomization = parseAllDocuments(readFileSync(path.join(DIR, 'kustomization.yaml'), 'utf8'))[0]!.toJS() as { resources: string[] };
    expect(kustomization.resources.sort()).toEqual([...new Set(all.map((r) => r.file))].sort());
  });

  it('the validator does catch a manifest that breaks the schema', () => {
    const workers = find('Job', 'emotrain-workers');
    const { file: _file, ...manifest } = workers;
    const broken = structuredClone(manifest) as Resource;
    (broken.spec as { completions: unknown }).completions = 'four';
    expect(() => new Job(broken as never).validate()).toThrow(/completions must be integer/);
  });

  it('fit together: one GPU per indexed worker, the Service, the Secret, the Prometheus annotations, the images', () => {
    const coordinatorJob = find('Job', 'emotrain-coordinator');
    const workersJob = find('Job', 'emotrain-workers');
    const service = find('Service', 'emotrain-coordinator');
    const secret = find('Secret', 'emotrain-token');
    const coordinatorPod = (coordinatorJob.spec as { template: PodTemplate }).template;
    const workerPod = (workersJob.spec as { template: PodTemplate }).template;
    const coordinator = coordinatorPod.spec.containers[0]!;
    const worker = workerPod.spec.containers[0]!;

    expect(workersJob.spec).toMatchObject({ completionMode: 'Indexed', completions: Number(flag(coordinator, 'workers')), parallelism: Number(flag(coordinator, 'workers')) });
    expect(worker.resources?.limits?.['nvidia.com/gpu']).toBe(1);
    expect(coordinator.resources?.limits?.['nvidia.com/gpu']).toBeUndefined();
    expect(flag(worker, 'rank')).toBe('$(JOB_COMPLETION_INDEX)');

    // workers reach the coordinator's gRPC port through the Service, which selects the coordinator pod
    const grpcPort = (service.spec as { ports: Array<{ name: string; port: number }> }).ports.find((p) => p.name === 'grpc')!.port;
    expect(flag(worker, 'coordinator')).toBe(`${service.metadata.name}:${grpcPort}`);
    expect(flag(coordinator, 'advertise')).toBe(`${service.metadata.name}:${grpcPort}`);
    expect(flag(coordinator, 'listen')).toBe(`0.0.0.0:${grpcPort}`);
    for (const [key, value] of Object.entries((service.spec as { selector: Record<string, string> }).selector)) expect(coordinatorPod.metadata.labels[key]).toBe(value);

    // the token from the Secret, in both, never in the arguments
    for (const container of [coordinator, worker]) {
      expect(container.env.find((e) => e.name === 'EMOTRAIN_TOKEN')?.valueFrom?.secretKeyRef).toEqual({ name: secret.metadata.name, key: 'token' });
      expect(container.args.some((a) => a.startsWith('--token'))).toBe(false);
    }

    // Prometheus finds the metrics port from the annotations; it is the port the coordinator serves
    const metricsPort = Number(flag(coordinator, 'metrics-port'));
    expect(metricsPort).not.toBe(9400); // dcgm-exporter's
    expect(coordinatorPod.metadata.annotations).toEqual({ 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(metricsPort), 'prometheus.io/path': '/metrics' });
    expect(coordinator.ports?.find((p) => p.name === 'metrics')?.containerPort).toBe(metricsPort);
    expect(flag(coordinator, 'metrics-host')).toBe('0.0.0.0');

    // the images the recipes build: the CPU one for the coordinator, the CUDA one for the workers
    expect(coordinator.image).toBe('localhost/emotrain:cpu');
    expect(worker.image).toBe('localhost/emotrain:gpu');
    expect(readFileSync(path.join(ROOT, 'deploy', 'docker', 'gpu.Dockerfile'), 'utf8')).toMatch(/cuda:11\.2\.\d+-cudnn8-runtime/);
    for (const container of [coordinator, worker]) expect(container.command).toEqual(['node', `dist/${container === coordinator ? 'coordinator' : 'worker'}/main.js`]);
  });
});
