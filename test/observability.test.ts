import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COORDINATOR, Program, ROOT, cleanUp, readCsv, sleep, tempDir } from './helpers/processes.js';

// One real training run, scraped by a real Prometheus (Debian's package, installed by .ci/run)
// configured from deploy/prometheus.yml; every test below reads from it.

const EPOCHS = 4;
const PROMETHEUS = '/usr/bin/prometheus';

interface PanelTarget {
  expr: string;
}
interface Dashboard {
  panels: Array<{ title: string; targets: PanelTarget[] }>;
  templating: { list: Array<{ name: string; definition?: string }> };
}

let coordinator: Program;
let prometheus: ChildProcess | undefined;
let prometheusUrl: string;
let metricsUrl: string;
let runDir: string;
let runId: string;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function query(expr: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>> {
  const response = await fetch(`${prometheusUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
  const body = (await response.json()) as { status: string; error?: string; data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } };
  if (body.status !== 'success') throw new Error(`Prometheus refused ${expr}: ${body.error}`);
  return body.data.result;
}

/**
 * A dashboard expression as Grafana would send it for this run and all workers, over a rate window
 * that spans the whole run: on a loaded machine the last step can be more than 20 s before the
 * query (validation and checkpoints come after it), and a rate() window without observations is
 * 0/0 = NaN — which says nothing about the dashboard.
 */
function resolveTemplate(expr: string): string {
  return expr.replaceAll('$__rate_interval', '10m').replaceAll('$run', runId).replaceAll('$worker', '.*');
}

beforeAll(async () => {
  const check = spawnSync(PROMETHEUS, ['--version']);
  if (check.status !== 0) throw new Error(`${PROMETHEUS} is missing: apt-get install prometheus (.ci/run does)`);
  const runs = tempDir('observability');
  runId = 'observed';
  runDir = path.join(runs, runId);
  // Prometheus first, scraping the port the coordinator will serve on, and images of 64 px so the
  // run trains for several seconds: rate() needs two or more scrapes while it does.
  const metricsPort = await freePort();
  const deployed = readFileSync(path.join(ROOT, 'deploy', 'prometheus.yml'), 'utf8');
  expect(deployed).toContain("targets: ['host.docker.internal:9478']");
  expect(deployed).toMatch(/scrape_interval: \d+s/);
  const config = deployed.replace("targets: ['host.docker.internal:9478']", `targets: ['127.0.0.1:${metricsPort}']`).replace(/scrape_interval: \d+s/, 'scrape_interval: 1s');
  const dir = tempDir('prometheus');
  writeFileSync(path.join(dir, 'prometheus.yml'), config);
  const port = await freePort();
  prometheusUrl = `http://127.0.0.1:${port}`;
  prometheus = spawn(PROMETHEUS, [`--config.file=${path.join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: 'ignore' });
  for (let i = 0; ; i++) {
    const ready = await fetch(`${prometheusUrl}/-/ready`).then((r) => r.ok, () => false);
    if (ready) break;
    if (i > 200) throw new Error('Prometheus did not become ready');
    await sleep(100);
  }
  coordinator = new Program(COORDINATOR, [
    '--gpus', '2', '--epochs', String(EPOCHS), '--dataset', 'synthetic', '--synthetic-count', '700', '--model', 'small-cnn',
    '--image-size', '64', '--runs', runs, '--run-id', runId, '--progress', 'lines', '--metrics-port', String(metricsPort), '--metrics-linger', '120',
  ]);
  const match = await coordinator.waitFor(/metrics on (http:\/\/127\.0\.0\.1:(\d+))\/metrics/, 60_000);
  metricsUrl = `${match[1]}/metrics`;
  expect(match[2]).toBe(String(metricsPort));
  // train to the end; the coordinator then keeps serving its final metrics
  await coordinator.waitFor(/serving the final metrics/, 240_000);
  // wait until Prometheus has scraped the final epoch
  for (let i = 0; ; i++) {
    const epoch = await query(`emotrain_epoch{run="${runId}"}`);
    if (epoch[0]?.value[1] === String(EPOCHS)) break;
    if (i > 100) throw new Error(`Prometheus never saw epoch ${EPOCHS}: ${JSON.stringify(epoch)}\n${coordinator.output}`);
    await sleep(200);
  }
  await sleep(2500); // a few more scrapes so every rate() window holds the end of the run
  // rate() over the run needs the counters seen moving; say so plainly if the run outran the scrapes
  const seen = await query(`changes(emotrain_steps_total{run="${runId}"}[10m])`);
  if (!(Number(seen[0]?.value[1]) >= 2)) throw new Error(`Prometheus saw the step counter change only ${seen[0]?.value[1] ?? 0} times while the run trained`);
}, 300_000);

afterAll(() => {
  prometheus?.kill('SIGKILL');
  cleanUp();
});

describe('observability', () => {
  it('answers every PromQL expression of every dashboard panel with data, through a real Prometheus', async () => {
    const dashboard = JSON.parse(readFileSync(path.join(ROOT, 'grafana', 'dashboards', 'emotrain.json'), 'utf8')) as Dashboard;
    const expressions = dashboard.panels.flatMap((panel) => panel.targets.map((target) => ({ panel: panel.title, expr: target.expr })));
    expect(expressions.length).toBeGreaterThanOrEqual(20);
    const empty: string[] = [];
    for (const { panel, expr } of expressions) {
      const result = await query(resolveTemplate(expr));
      if (result.length === 0) empty.push(`${panel}: ${expr}`);
      for (const series of result) expect(Number.isNaN(Number(series.value[1])), `${panel}: ${expr} is NaN`).toBe(false);
    }
    expect(empty).toEqual([]);
    // the template variables find this run and its two workers
    const runs = await fetch(`${prometheusUrl}/api/v1/label/run/values?match[]=emotrain_epoch`).then((r) => r.json() as Promise<{ data: string[] }>);
    expect(runs.data).toContain(runId);
    const workers = await fetch(`${prometheusUrl}/api/v1/label/worker/values?match[]=${encodeURIComponent(`emotrain_train_samples_total{run="${runId}"}`)}`).then((r) => r.json() as Promise<{ data: string[] }>);
    expect(workers.data.sort()).toEqual(['0', '1']);
    const variables = dashboard.templating.list.map((v) => v.name);
    expect(variables).toEqual(expect.arrayContaining(['run', 'worker']));
  });

  it('exposes the SPEC §7 metrics with the right types, units and bounded label sets', async () => {
    // Prometheus' own exposition parser: what it scraped, it reports through its metadata and series APIs.
    const api = async <T>(pathAndQuery: string): Promise<T> => ((await fetch(`${prometheusUrl}${pathAndQuery}`).then((r) => r.json())) as { data: T }).data;
    const metadata = await api<Record<string, Array<{ type: string; help: string }>>>('/api/v1/metadata');
    const seriesOf = (name: string) => api<Array<Record<string, string>>>(`/api/v1/series?match[]=${encodeURIComponent(`${name}{run="${runId}"}`)}`);
    const expected: Array<[string, string, string[]]> = [
      ['emotrain_train_samples_total', 'counter', ['worker', 'host', 'gpu']],
      ['emotrain_train_samples_per_second', 'gauge', []],
      ['emotrain_step_duration_seconds', 'histogram', ['phase', 'worker', 'host', 'gpu']],
      ['emotrain_loss', 'gauge', ['split']],
      ['emotrain_accuracy_ratio', 'gauge', ['split']],
      ['emotrain_learning_rate', 'gauge', []],
      ['emotrain_loss_scale', 'gauge', []],
      ['emotrain_skipped_steps_total', 'counter', []],
      ['emotrain_gradient_bytes_total', 'counter', ['direction']],
      ['emotrain_workers', 'gauge', []],
      ['emotrain_epoch', 'gauge', []],
      ['emotrain_best_val_accuracy_ratio', 'gauge', []],
      ['emotrain_class_recall_ratio', 'gauge', ['class']],
    ];
    const scrapeLabels = ['__name__', 'instance', 'job', 'run'];
    for (const [name, type, labels] of expected) {
      const meta = metadata[name]?.[0];
      expect(meta, `${name} is not exposed`).toBeDefined();
      expect(meta!.type, name).toBe(type);
      expect(meta!.help.length, `${name} has no help text`).toBeGreaterThan(10);
      const series = await seriesOf(type === 'histogram' ? `${name}_count` : name);
      expect(series.length, `${name} has no series`).toBeGreaterThan(0);
      for (const one of series) expect(Object.keys(one).sort(), name).toEqual([...scrapeLabels, ...labels].sort());
    }
    const phases = (await seriesOf('emotrain_step_duration_seconds_count')).map((s) => s['phase']);
    expect([...new Set(phases)].sort()).toEqual(['apply', 'compute', 'data', 'exchange', 'total']);

    // Every label takes values from a small fixed set.
    const allowed: Record<string, (value: string) => boolean> = {
      worker: (v) => v === '0' || v === '1',
      gpu: (v) => v === 'cpu' || /^\d+$/.test(v),
      phase: (v) => ['data', 'compute', 'exchange', 'apply', 'total'].includes(v),
      split: (v) => v === 'train' || v === 'val',
      direction: (v) => v === 'up' || v === 'down',
      change: (v) => v === 'shrink' || v === 'grow',
      class: (v) => ['angry', 'disgust', 'fear', 'happy', 'neutral', 'sad', 'surprise'].includes(v),
      le: (v) => v === '+Inf' || Number.isFinite(Number(v)),
    };
    const all = await api<Array<Record<string, string>>>(`/api/v1/series?match[]=${encodeURIComponent(`{__name__=~"emotrain_.*", run="${runId}"}`)}`);
    const hosts = new Set<string>();
    for (const one of all) {
      for (const [label, value] of Object.entries(one)) {
        if (label === 'host') hosts.add(value);
        else if (!scrapeLabels.includes(label)) {
          expect(allowed[label], `unexpected label ${label} on ${one['__name__']}`).toBeDefined();
          expect(allowed[label]!(value), `${one['__name__']}{${label}="${value}"}`).toBe(true);
        }
      }
    }
    expect(hosts.size).toBe(1); // one host: this machine
    // process metrics from prom-client's defaults
    expect(metadata['process_resident_memory_bytes']).toBeDefined();
    expect(metadata['nodejs_eventloop_lag_seconds']).toBeDefined();

    // Prometheus' linter on our own families: naming conventions (units, _total on counters only)
    const text = await fetch(metricsUrl).then((r) => r.text());
    const ours = text.split('\n').filter((line) => /^(# (HELP|TYPE) )?emotrain_/.test(line)).join('\n');
    const lint = spawnSync('/usr/bin/promtool', ['check', 'metrics'], { input: `${ours}\n`, encoding: 'utf8' });
    expect(`${lint.stdout}${lint.stderr}`).toBe('');
    expect(lint.status).toBe(0);
  });

  it('shows the same numbers as metrics.csv', async () => {
    const rows = readCsv(path.join(runDir, 'metrics.csv'));
    expect(rows.length).toBe(EPOCHS);
    const last = rows.at(-1)!;
    const scraped = async (expr: string) => Number((await query(expr))[0]!.value[1]);
    expect(await scraped(`emotrain_accuracy_ratio{run="${runId}", split="val"}`)).toBe(last['val_accuracy']);
    expect(await scraped(`emotrain_loss{run="${runId}", split="val"}`)).toBe(last['val_loss']);
    expect(await scraped(`emotrain_accuracy_ratio{run="${runId}", split="train"}`)).toBe(last['accuracy']);
    expect(await scraped(`emotrain_loss_scale{run="${runId}"}`)).toBe(last['loss_scale']);
    expect(await scraped(`emotrain_best_val_accuracy_ratio{run="${runId}"}`)).toBe(Math.max(...rows.map((r) => r['val_accuracy']!)));
    const trainSamples = await scraped(`sum(emotrain_train_samples_total{run="${runId}"})`);
    const config = JSON.parse(readFileSync(path.join(runDir, 'config.json'), 'utf8')) as { split: { train: number } };
    expect(trainSamples).toBe(EPOCHS * config.split.train);
  });
});
