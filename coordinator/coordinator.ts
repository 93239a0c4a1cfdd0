// One coordinator process from start to exit: prepare the dataset (before any worker exists),
// create or reopen the run directory, build the shadow model, serve gRPC, start the local workers,
// run, and shut everything down — on success, on failure and on Ctrl-C alike, leaving no worker
// process behind.

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { workerConfigOf, type RunConfig } from '../shared/config.js';
import { summarizeSkipped } from '../shared/dataset/index.js';
import { ConfigError, describeError } from '../shared/errors.js';
import { loadLayersModelFromDir } from '../shared/model-io.js';
import { resolveAuto, selectBackend, type ResolvedBackend } from '../shared/backend/select-backend.js';
import { CheckpointStore } from './checkpoint-store.js';
import { ConsoleReporter } from './console-reporter.js';
import { describeSplit, prepareDataset } from '../shared/dataset/prepare.js';
import { RunDirectory } from './run-directory.js';
import { SampleStore } from '../shared/data/sample-store.js';
import { ShadowModel } from './shadow-model.js';
import { TrainerServer, serverCredentials } from './trainer-service.js';
import { TrainingRun } from './training-run.js';
import { MetricsServer } from './metrics-server.js';
import { RunMetrics } from './run-metrics.js';
import { LocalWorkers } from './worker-launcher.js';
import { describeMember } from './world.js';

export interface CoordinatorOptions {
  config: RunConfig;
  /** --epochs as given on the command line, if it was (a resumed run may be extended). */
  explicitEpochs?: number;
  /** Continue the run in this directory from checkpoints/last. */
  resumeDir?: string;
  syntheticSeed: number;
  token?: string;
  tls: { cert?: string; key?: string; ca?: string };
  joinTimeoutMs: number;
  heartbeatTimeoutMs: number;
  progress: 'auto' | 'bar' | 'lines';
  /** Prometheus endpoint; undefined turns metrics off. */
  metrics?: { host: string; port: number; lingerSeconds: number };
}

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_INTERRUPTED = 130;

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

export function parseListenAddress(listen: string): { host: string; port: number } {
  const match = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(listen);
  if (!match) throw new ConfigError('CONFIG_INVALID', `--listen ${JSON.stringify(listen)} is not host:port (e.g. 127.0.0.1:50051 or 0.0.0.0:50051)`);
  const port = Number(match[2]);
  if (port > 65535) throw new ConfigError('CONFIG_INVALID', `--listen port ${port} is out of range`);
  return { host: match[1]!, port };
}

/** The token workers must present: given, or — on loopback only — a random one for the local workers. */
export function resolveToken(listen: string, given: string | undefined): string {
  if (given !== undefined && given !== '') return given;
  const { host } = parseListenAddress(listen);
  if (!LOOPBACK_HOSTS.has(host)) {
    throw new ConfigError('CONFIG_INVALID', `refusing to listen on ${listen} without a token: give --token or set EMOTRAIN_TOKEN (SPEC §8)`);
  }
  return randomBytes(24).toString('base64url');
}

function readOptionalFile(flag: string, file: string | undefined): Buffer | undefined {
  if (file === undefined) return undefined;
  try {
    return readFileSync(file);
  } catch (cause) {
    throw new ConfigError('CONFIG_INVALID', `${flag} ${file}: cannot read it (${(cause as Error).message})`, { cause });
  }
}

export async function runCoordinator(options: CoordinatorOptions): Promise<number> {
  const reporter = new ConsoleReporter(process.stdout, options.progress);
  let config = options.config;
  const token = resolveToken(config.listen, options.token);
  const tlsCert = readOptionalFile('--tls-cert', options.tls.cert);
  const tlsKey = readOptionalFile('--tls-key', options.tls.key);
  const tlsCa = readOptionalFile('--tls-ca', options.tls.ca);
  if (Boolean(tlsCert) !== Boolean(tlsKey)) throw new ConfigError('CONFIG_INVALID', '--tls-cert and --tls-key go together');

  let runDir: RunDirectory;
  let syntheticSeed = options.syntheticSeed;
  if (options.resumeDir) {
    runDir = new RunDirectory(path.resolve(options.resumeDir));
    const saved = runDir.readConfig<RunConfig & { syntheticSeed?: number }>();
    // The run's own settings win; only how long to train and where to listen may change.
    config = { ...saved, epochs: options.explicitEpochs ?? saved.epochs, listen: config.listen, gpus: config.gpus, remoteWorkers: config.remoteWorkers, backend: config.backend };
    syntheticSeed = saved.syntheticSeed ?? syntheticSeed;
  }

  const dataset = await prepareDataset(config.dataset, {
    syntheticCount: config.syntheticCount,
    syntheticSeed,
    splitSeed: config.seed,
    log: (line) => reporter.info(line),
  });
  if (dataset.generated) reporter.info(`generated the synthetic dataset in ${dataset.index.root}`);
  reporter.info(`dataset ${dataset.index.root}: ${describeSplit(dataset)}`);
  const { skipped } = dataset.index;
  if (skipped.length > 0) {
    reporter.info(`skipped ${skipped.length} files (${summarizeSkipped(skipped)}); each is listed with its reason in events.jsonl; first: ${skipped[0]!.path}: ${skipped[0]!.reason}`);
  }

  if (!options.resumeDir) {
    runDir = RunDirectory.create(config.runsDir, config.runId);
    // syntheticSeed is a coordinator option rather than part of RunConfig; evaluate needs it to
    // rebuild the exact dataset the run used.
    runDir.writeConfig({
      ...config,
      syntheticSeed,
      datasetRoot: dataset.index.root,
      datasetLayout: dataset.index.layout,
      split: { train: dataset.split.train.length, val: dataset.split.val.length, test: dataset.split.test.length, rule: dataset.split.rule },
    });
  }
  runDir = runDir!;
  // Once per run: a resumed run's events.jsonl already lists them.
  if (!options.resumeDir) for (const file of skipped) runDir.event({ event: 'dataset_file_skipped', path: file.path, reason: file.reason, kind: file.kind });

  // The coordinator computes nothing heavy: the cpu backend holds the shadow model for saving.
  await selectBackend('cpu');
  const shadow = new ShadowModel(workerConfigOf(config));
  let resume;
  if (options.resumeDir) {
    const last = new CheckpointStore(runDir.checkpointsDir).loadLast(shadow.state.trainable.length, shadow.state.state.length);
    const saved = await loadLayersModelFromDir(last.dir);
    const savedWeights = saved.layers.flatMap((l) => l.weights);
    shadow.state.requireSameLayout(savedWeights.map((w) => ({ name: w.name, shape: w.shape.map((d) => d ?? 1) })), last.dir);
    shadow.state.slots.forEach((slot, i) => slot.values.set(savedWeights[i]!.read().dataSync() as Float32Array));
    saved.dispose();
    shadow.slots = last.slots;
    resume = last.state;
    runDir.rewriteMetrics(runDir.readMetrics().filter((row) => row.epoch <= last.state.epochsCompleted));
    reporter.info(`resuming ${runDir.path} after epoch ${last.state.epochsCompleted} (step ${last.state.step}, lr ${last.state.plateau.learningRate}, loss scale ${last.state.lossScaler.scale})`);
  }

  const metrics = options.metrics
    ? new RunMetrics(config.runId, {
        learningRate: resume?.plateau.learningRate ?? config.learningRate,
        lossScale: resume?.lossScaler.scale ?? (config.precision === 'fp32' ? 1 : config.initialLossScale),
        epochs: config.epochs,
        epochsCompleted: resume?.epochsCompleted ?? 0,
        bestValAccuracy: resume?.bestValAccuracy ?? NaN,
      })
    : undefined;
  const metricsServer = metrics ? new MetricsServer(metrics) : undefined;
  let metricsAddress: string | undefined;
  if (metricsServer && options.metrics) {
    metricsAddress = `${options.metrics.host}:${await metricsServer.listen(options.metrics.host, options.metrics.port)}`;
    reporter.info(`metrics on http://${metricsAddress}/metrics`);
  }
  const run = new TrainingRun({
    config,
    split: dataset.split,
    samples: new SampleStore(dataset.index),
    runDir,
    shadow,
    reporter,
    ...(resume ? { resume } : {}),
    ...(metrics ? { observer: metrics } : {}),
  });
  const server = new TrainerServer(run, token);
  const { host } = parseListenAddress(config.listen);
  const port = await server.listen(config.listen, serverCredentials({ ...(tlsCert ? { tlsCert } : {}), ...(tlsKey ? { tlsKey } : {}), ...(tlsCa ? { tlsCa } : {}) }));
  const address = `${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${port}`;
  runDir.event({ event: options.resumeDir ? 'run_resumed' : 'run_started', run_id: config.runId, listen: `${host}:${port}`, metrics: metricsAddress ?? null, world: config.gpus + config.remoteWorkers, step: run.currentStep });
  reporter.info(`run ${config.runId}: ${runDir.path}`);
  reporter.info(`listening on ${host}:${port}`);

  const localBackend: ResolvedBackend = config.backend === 'auto' ? resolveAuto() : config.backend;
  if (config.gpus > 0 && localBackend !== 'tfjs-node-gpu') {
    const why = config.backend === 'auto' ? 'no GPU backend is installed (@tensorflow/tfjs-node-gpu)' : `--backend ${config.backend} was asked for`;
    reporter.info(`${why}: the ${config.gpus} local workers run on the CPU with the ${localBackend} backend`);
  }
  const launcher = new LocalWorkers({
    count: config.gpus,
    address,
    token,
    backend: localBackend,
    // The local workers share this host's cores for their data threads.
    dataThreads: Math.max(1, Math.floor(os.availableParallelism() / Math.max(1, config.gpus))),
    // Local workers verify the server with its CA (or its own self-signed certificate) and, under
    // mutual TLS, present the server's certificate pair as theirs.
    tls: tlsCert ? { ca: options.tls.ca ?? options.tls.cert!, ...(tlsCa ? { cert: options.tls.cert!, key: options.tls.key! } : {}) } : undefined,
    output: (line) => reporter.info(line),
    onUnexpectedExit: (index, pid, description) => {
      const member = run.world.byRank(index);
      const who = member ? describeMember(member) : `local worker ${index} (pid ${pid})`;
      run.fail(new Error(`${who} was lost at step ${run.currentStep}: ${description}`));
    },
  });

  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) {
      reporter.info(`${signal} again: stopping now`);
      launcher.killAll();
      process.exit(EXIT_INTERRUPTED);
    }
    interrupted = true;
    reporter.info(`${signal}: stopping after the current step (again to stop at once); checkpoints stay as of the last epoch`);
    run.requestStop(`${signal} received`);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const watchdog = setInterval(() => {
    for (const member of run.world.stalled(options.heartbeatTimeoutMs)) {
      run.world.lose(member, `no heartbeat for ${Math.round((Date.now() - member.lastHeartbeatMs) / 1000)} s (frozen, overloaded or unreachable)`);
    }
  }, 1000);
  watchdog.unref();

  try {
    launcher.start();
    if (config.remoteWorkers > 0) reporter.info(`waiting for ${config.remoteWorkers} remote workers to join ${host}:${port}`);
    await run.waitForWorld(options.joinTimeoutMs);
    const outcome = await run.train();
    run.stopWorkers(outcome.status === 'finished' ? 'the run finished' : 'the run was stopped');
    await launcher.stop(10_000);
    const bestText = Number.isFinite(outcome.bestValAccuracy) ? outcome.bestValAccuracy.toFixed(4) : 'n/a';
    if (outcome.status === 'finished') {
      runDir.event({ event: 'run_finished', epochs: outcome.epochsCompleted, best_val_accuracy: outcome.bestValAccuracy, step: run.currentStep });
      reporter.info(`finished ${outcome.epochsCompleted} epochs; best val_accuracy ${bestText}; checkpoints in ${runDir.checkpointsDir}`);
      return EXIT_OK;
    }
    runDir.event({ event: 'run_stopped', epochs: outcome.epochsCompleted, step: run.currentStep, reason: 'interrupted' });
    reporter.info(`stopped after ${outcome.epochsCompleted} epochs; continue with: coordinator --resume ${runDir.path}`);
    return EXIT_INTERRUPTED;
  } catch (error) {
    const message = describeError(error);
    runDir.event({ event: 'run_failed', step: run.currentStep, error: message, code: (error as { code?: string }).code ?? 'UNKNOWN' });
    reporter.info(`run failed: ${message}`);
    run.stopWorkers(`the run failed: ${message}`);
    await launcher.stop(3_000);
    return interrupted ? EXIT_INTERRUPTED : EXIT_FAILED;
  } finally {
    clearInterval(watchdog);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await server.close(1000);
    if (metricsServer) {
      // Give Prometheus a chance at the final values before the endpoint goes away.
      const lingerMs = (options.metrics?.lingerSeconds ?? 0) * 1000;
      if (lingerMs > 0 && !interrupted) {
        reporter.info(`serving the final metrics for ${lingerMs / 1000} s (--metrics-linger)`);
        await new Promise((resolve) => setTimeout(resolve, lingerMs));
      }
      await metricsServer.close();
    }
  }
}
