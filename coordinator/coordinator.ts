// One coordinator process from start to exit: set up (run-setup.ts), wire the engine — world, step
// engine, protocol session, trainer and the subscribers of its events — serve gRPC, start the local
// workers, run, and shut everything down: on success, on failure and on Ctrl-C alike, leaving no
// worker process behind. Returns the exit code; only the entry point exits.

import os from 'node:os';
import { resolveAuto, type ResolvedBackend } from '../shared/backend/select-backend.js';
import { workerConfigOf } from '../shared/config.js';
import { ConfigError, TrainingError, WorldError, describeError } from '../shared/errors.js';
import { LossScaler } from '../shared/loss-scaler.js';
import { weightsEventFields } from '../shared/weights/index.js';
import { counted } from '../shared/wording.js';
import { ModelCheckpoint } from './callbacks/model-checkpoint.js';
import { EarlyStopping } from './callbacks/early-stopping.js';
import { ReduceLROnPlateau } from './callbacks/reduce-lr-on-plateau.js';
import { isLoopbackHost } from '../shared/loopback.js';
import { advertisedAddresses } from './advertised-addresses.js';
import { CheckpointStore, checkpointWriter } from './checkpoint-store.js';
import { ControlPlaneLink } from './control-plane-link.js';
import { joinInstructions, replacementInstructions } from './join-instructions.js';
import type { NatsSettings } from '../shared/control/nats-settings.js';
import { systemClock } from './clock.js';
import { ConsoleReporter } from './console-reporter.js';
import { onInterrupts } from './interrupts.js';
import { MetricsServer } from './metrics-server.js';
import { PendingReplies } from './pending-replies.js';
import { ProtocolSession, isReportedFailure } from './protocol-session.js';
import { RunEvents } from './run-events.js';
import { RunMetrics } from './run-metrics.js';
import { runRecordWriter } from './run-record-writer.js';
import { openResumedRun, parseListenAddress, prepareRun, readOptionalFile, resolveToken, type SetupOptions } from './run-setup.js';
import { SampleStore } from '../shared/data/sample-store.js';
import { StallWatchdog } from './stall-watchdog.js';
import { StepEngine } from './step-engine.js';
import { TrainerServer } from './trainer-service.js';
import { Trainer } from './trainer.js';
import { DEFAULT_WORLD_POLICY } from './world-keeper.js';
import { LocalWorkers } from './worker-launcher.js';
import { World, describeMember } from './world.js';

export interface CoordinatorOptions extends Omit<SetupOptions, 'log' | 'localBackend'> {
  token?: string;
  tls: { cert?: string; key?: string; ca?: string };
  joinTimeoutMs: number;
  heartbeatTimeoutMs: number;
  /** An upload or heartbeat stream that sends nothing this long is closed (DEADLINE_EXCEEDED). */
  streamIdleTimeoutMs: number;
  progress: 'auto' | 'bar' | 'lines';
  /** Prometheus endpoint; undefined turns metrics off. */
  metrics?: { host: string; port: number; lingerSeconds: number };
  /** The NATS control plane; undefined: none. */
  nats?: NatsSettings;
  /** --advertise: the addresses workers should use (default: advertised-addresses.ts). */
  advertise?: string[];
  /** What a lost worker does to the run (SPEC §8); defaults: DEFAULT_FAULT_OPTIONS. */
  faults?: FaultOptions;
}

/** --elastic, --min-workers, --rejoin-timeout, --max-restarts, --worker-start-timeout. */
export interface FaultOptions {
  elastic: boolean;
  minWorkers: number;
  rejoinTimeoutMs: number;
  maxRestarts: number;
  workerStartTimeoutMs: number;
}

export const DEFAULT_FAULT_OPTIONS: FaultOptions = { elastic: false, minWorkers: 1, rejoinTimeoutMs: 300_000, maxRestarts: 3, workerStartTimeoutMs: 120_000 };

/** The coordinator's own flags, checked before anything is read or written (a run directory included). */
function checkCoordinatorOptions(options: CoordinatorOptions, faults: FaultOptions, worldSize: number): void {
  if (!Number.isInteger(faults.minWorkers) || faults.minWorkers < 1 || faults.minWorkers > worldSize) {
    throw new ConfigError('CONFIG_INVALID', `--min-workers must be an integer in [1, ${worldSize}] (the world has ${counted(worldSize, 'worker')}), got ${faults.minWorkers}`);
  }
  if (!Number.isInteger(faults.maxRestarts) || faults.maxRestarts < 0) throw new ConfigError('CONFIG_INVALID', `--max-restarts must be an integer >= 0, got ${faults.maxRestarts}`);
  const timeouts = [
    ['--rejoin-timeout', faults.rejoinTimeoutMs],
    ['--worker-start-timeout', faults.workerStartTimeoutMs],
    ['--join-timeout', options.joinTimeoutMs],
    ['--heartbeat-timeout', options.heartbeatTimeoutMs],
    ['--stream-idle-timeout', options.streamIdleTimeoutMs],
  ] as const;
  for (const [flag, ms] of timeouts) {
    if (!Number.isFinite(ms) || ms <= 0) throw new ConfigError('CONFIG_INVALID', `${flag} must be a number of seconds > 0, got ${ms / 1000}`);
  }
  if (options.metrics) {
    const { port, lingerSeconds } = options.metrics;
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError('CONFIG_INVALID', `--metrics-port must be an integer in [0, 65535] (0: any free port), got ${port}`);
    if (!Number.isFinite(lingerSeconds) || lingerSeconds < 0) throw new ConfigError('CONFIG_INVALID', `--metrics-linger must be a number of seconds >= 0, got ${lingerSeconds}`);
  }
}

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_INTERRUPTED = 130;

export async function runCoordinator(options: CoordinatorOptions): Promise<number> {
  const reporter = new ConsoleReporter(process.stdout, options.progress);
  // Before the dataset is read: wrong NATS credentials are a mistake to say at once. A server
  // that is down is not: it is reported and retried while the run goes on.
  const control = options.nats ? await ControlPlaneLink.connect(options.nats, (line) => reporter.info(line)) : undefined;
  try {
    return await runWith(options, reporter, control);
  } finally {
    // Also when set-up fails: an open NATS connection would keep the process from exiting.
    await control?.close();
  }
}

async function runWith(options: CoordinatorOptions, reporter: ConsoleReporter, control: ControlPlaneLink | undefined): Promise<number> {
  const token = resolveToken(options.config.listen, options.token);
  const tlsCert = readOptionalFile('--tls-cert', options.tls.cert);
  const tlsKey = readOptionalFile('--tls-key', options.tls.key);
  const tlsCa = readOptionalFile('--tls-ca', options.tls.ca);
  if (Boolean(tlsCert) !== Boolean(tlsKey)) throw new ConfigError('CONFIG_INVALID', '--tls-cert and --tls-key go together');

  const log = (line: string) => reporter.info(line);
  const resumed = options.resumeDir ? openResumedRun({ ...options, log }) : undefined;
  if (resumed?.epochsCompleted !== undefined && resumed.epochsCompleted >= resumed.config.epochs) {
    // Nothing to train: no dataset read, no worker started, nothing appended to the run record.
    const done = resumed.epochsCompleted;
    reporter.info(`${resumed.runDir.path} already finished its ${counted(done, 'epoch')}; nothing to train (--epochs N with N > ${done} trains it longer)`);
    return EXIT_OK;
  }
  if (resumed?.stoppedEarlyAt !== undefined) {
    reporter.info(
      `${resumed.runDir.path} was stopped by early stopping after epoch ${resumed.stoppedEarlyAt}; nothing to train (a larger --early-stopping-patience, or --epochs, trains it on)`,
    );
    return EXIT_OK;
  }
  // A resumed run's world is its own unless --gpus, --workers or --backend said otherwise.
  const planned = (resumed ?? options).config;
  const faults = options.faults ?? DEFAULT_FAULT_OPTIONS;
  checkCoordinatorOptions(options, faults, planned.gpus + planned.remoteWorkers);
  const localBackend: ResolvedBackend = planned.backend === 'auto' ? resolveAuto() : planned.backend;
  const { config, dataset, runDir, shadow, resume, weights, warnings } = await prepareRun({ ...options, localBackend, log }, resumed);
  const events = new RunEvents((name, error) => reporter.info(`${name} could not take an event: ${describeError(error)}`));
  events.subscribe('events.jsonl', runRecordWriter(runDir));
  events.subscribe('console', reporter.onEvent);
  let stopRequested = false;
  control?.attach({
    runId: config.runId, events, token, tls: Boolean(tlsCert), worldSize: config.gpus + config.remoteWorkers, epochs: config.epochs, clock: systemClock,
    requestStop: (reason) => {
      stopRequested = true;
      reporter.info(`${reason}: stopping after the current step; checkpoints stay as of the last epoch`);
      trainer.requestStop(reason);
    },
  });
  // Once per run: a resumed run's events.jsonl already lists them.
  if (!resume) for (const file of dataset.index.skipped) events.emit({ event: 'dataset_file_skipped', path: file.path, reason: file.reason, kind: file.kind });
  if (weights) events.emit({ event: 'weights_loaded', ...weightsEventFields(weights.record, weights.plan) });
  for (const warning of warnings) events.emit({ event: 'warning', ...warning });

  const metrics = options.metrics ? new RunMetrics(config.runId) : undefined;
  if (metrics) events.subscribe('prometheus', metrics.onEvent);
  const metricsServer = metrics ? new MetricsServer(metrics) : undefined;
  let metricsAddress: string | undefined;
  if (metricsServer && options.metrics) {
    metricsAddress = `${options.metrics.host}:${await metricsServer.listen(options.metrics.host, options.metrics.port)}`;
    reporter.info(`metrics on http://${metricsAddress}/metrics`);
  }

  const clock = systemClock;
  const world = new World(config.gpus + config.remoteWorkers, clock);
  const precisionScale = config.precision === 'fp32' ? { initialScale: 1, growthInterval: Number.MAX_SAFE_INTEGER, maxScale: 1 } : {};
  const scaler = new LossScaler({ growthInterval: config.lossScaleGrowthInterval, initialScale: config.initialLossScale, ...precisionScale }, resume?.lossScaler);
  const engine = new StepEngine(shadow, scaler, config.precision, { allreduce: config.allreduce ?? 'star' });
  const replies = new PendingReplies();
  const plateau = new ReduceLROnPlateau(config.learningRate, { mode: 'min', ...config.plateau }, resume?.plateau);
  const trainer = new Trainer({
    config,
    split: dataset.split,
    world,
    engine,
    shadow,
    samples: new SampleStore(dataset.index),
    replies,
    checkpoints: checkpointWriter(new CheckpointStore(runDir.checkpointsDir), shadow),
    events,
    clock,
    plateau,
    checkpoint: new ModelCheckpoint(resume?.bestValAccuracy),
    ...(config.earlyStopping ? { earlyStopping: new EarlyStopping(config.earlyStopping, resume?.earlyStopping) } : {}),
    ...(resume ? { start: { step: resume.step, epochsCompleted: resume.epochsCompleted } } : {}),
    lossScalerState: () => scaler.snapshot(),
    policy: { elastic: faults.elastic, minWorkers: faults.minWorkers, rejoinTimeoutMs: faults.rejoinTimeoutMs, admitTimeoutMs: DEFAULT_WORLD_POLICY.admitTimeoutMs },
  });
  const session = new ProtocolSession({
    runId: config.runId, workerConfig: { ...workerConfigOf(config), streamIdleTimeoutMs: options.streamIdleTimeoutMs }, world, engine, replies, shadow, position: () => trainer.position(),
    admit: (member) => trainer.admit(member),
    stepFailed: (member, step, generation, message) => trainer.stepFailed(member, step, generation, message),
  });
  const server = new TrainerServer(session, token, { idleStreamMs: options.streamIdleTimeoutMs });
  const { host } = parseListenAddress(config.listen);
  const port = await server.listen(config.listen, tlsCert && tlsKey ? { cert: tlsCert, key: tlsKey, ca: tlsCa } : undefined);
  const address = `${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${port}`;
  const start = {
    run_id: config.runId,
    listen: `${host}:${port}`,
    metrics: metricsAddress ?? null,
    world: world.size,
    step: trainer.currentStep,
    epochs: config.epochs,
    epochs_completed: resume?.epochsCompleted ?? 0,
    learning_rate: plateau.learningRate,
    loss_scale: scaler.scale,
    best_val_accuracy: resume && Number.isFinite(resume.bestValAccuracy) ? resume.bestValAccuracy : null,
  };
  events.emit(resume ? { event: 'run_resumed', changed_settings: resumed?.changes ?? [], ...start } : { event: 'run_started', ...start });
  reporter.info(`run ${config.runId}: ${runDir.path}`);
  reporter.info(`listening on ${host}:${port}`);
  if (!isLoopbackHost(host) && !tlsCert) {
    events.emit({
      event: 'warning', code: 'TOKEN_IN_CLEAR',
      message: `listening on ${host}:${port} without TLS: the worker token and all training data travel in clear; give --tls-cert and --tls-key on a network you do not trust`,
    });
  }
  const workerAddresses = advertisedAddresses(host, port, os.networkInterfaces(), os.hostname(), options.advertise);
  control?.start(workerAddresses);
  events.subscribe('replacement-help', (event) => {
    if (event.event !== 'waiting_for_workers' || event.free_ranks.length === 0) return;
    for (const line of replacementInstructions({ freeRanks: event.free_ranks, addresses: workerAddresses, tls: Boolean(tlsCert), ring: config.allreduce === 'ring' })) reporter.info(line);
  });

  if (config.gpus > 0 && localBackend !== 'tfjs-node-gpu') {
    const why = config.backend === 'auto' ? 'no GPU backend is installed (@tensorflow/tfjs-node-gpu)' : `--backend ${config.backend} was asked for`;
    reporter.info(`${why}: the ${counted(config.gpus, 'local worker')} run${config.gpus === 1 ? 's' : ''} on the CPU with the ${localBackend} backend`);
  }
  // Why each local worker was let go, by pid: a worker that reported its own failure is not restarted.
  const losses = new Map<number, { who: string; reason: string }>();
  const reportedFailure = (pid: number) => isReportedFailure(losses.get(pid)?.reason ?? '');
  const launcher = new LocalWorkers({
    count: config.gpus,
    address,
    token,
    backend: localBackend,
    // The local workers share this host's cores for their data threads.
    dataThreads: Math.max(1, Math.floor(os.availableParallelism() / Math.max(1, config.gpus))),
    // Local workers verify the server with its CA (or its own self-signed certificate) and hold the
    // server's certificate pair as theirs: presented under mutual TLS, and served by their Peer
    // service (--allreduce ring), which their peers verify the same way.
    tls: tlsCert ? { ca: options.tls.ca ?? options.tls.cert!, cert: options.tls.cert!, key: options.tls.key! } : undefined,
    maxRestarts: faults.maxRestarts,
    startTimeoutMs: faults.workerStartTimeoutMs,
    clock,
    output: (line) => reporter.info(line),
    onStarted: (rank, pid, restart, reason) => events.emit({ event: 'worker_started', rank, pid, restart, max_restarts: faults.maxRestarts, reason: reason ?? null }),
    onStalled: (rank, pid, reason) => events.emit({ event: 'worker_stalled', rank, pid, reason }),
    mayRestart: (_rank, pid) => !reportedFailure(pid),
    onUnexpectedExit: (rank, pid, description, restarting, killedByUs) => {
      const member = world.list().find((m) => m.pid === pid && m.rank === rank);
      if (member) world.lose(member, description);
      if (restarting) return;
      // What the run saw first (a cancelled stream, missing heartbeats, the worker's own report), then how the process ended.
      const loss = losses.get(pid);
      const who = loss?.who ?? `local worker ${rank} (pid ${pid})`;
      const cause = loss && loss.reason !== description ? `${loss.reason}${killedByUs || reportedFailure(pid) ? '' : `; ${description}`}` : description;
      const spent = faults.maxRestarts > 0 && !reportedFailure(pid) ? `; it was started again ${faults.maxRestarts} times already (--max-restarts ${faults.maxRestarts})` : '';
      const lost = new WorldError('WORKER_LOST', `${who} was lost at step ${trainer.currentStep}: ${cause}${spent}`);
      if (!faults.elastic) trainer.fail(lost);
      else events.emit({ event: 'warning', code: 'WORKER_LOST', message: `${describeError(lost)}; the run goes on with the others (--elastic)` });
    },
  });
  world.on('joined', (member) => launcher.joined(member.pid));
  world.on('lost', (member, reason) => {
    if (!launcher.owns(member.pid)) return;
    if (!losses.has(member.pid)) losses.set(member.pid, { who: describeMember(member), reason });
    launcher.lost(member.pid, reason);
  });

  let interrupted = false;
  const removeInterrupts = onInterrupts({
    first: (signal) => {
      interrupted = true;
      control?.stopping(`${signal} received`);
      reporter.info(`${signal}: stopping after the current step (again to stop at once); checkpoints stay as of the last epoch`);
      trainer.requestStop(`${signal} received`);
    },
    again: (signal) => {
      reporter.info(`${signal} again: stopping now`);
      launcher.killAll();
      trainer.fail(new TrainingError('RUN_STOPPED', `stopped at once by a second ${signal}`));
    },
  });
  const stopWatchdog = new StallWatchdog(world, options.heartbeatTimeoutMs, clock, (gapMs) => events.emit({ event: 'coordinator_stalled', seconds: gapMs / 1000 })).start();

  try {
    launcher.start();
    if (config.remoteWorkers > 0) {
      const nats = control ? { servers: control.settings.servers.join(','), runId: config.runId, auth: control.settings.auth.kind } : undefined;
      for (const line of joinInstructions({ remoteWorkers: config.remoteWorkers, addresses: workerAddresses, tls: Boolean(tlsCert), ring: config.allreduce === 'ring', ...(nats ? { nats } : {}) })) reporter.info(line);
    }
    await trainer.waitForWorld(options.joinTimeoutMs);
    const outcome = await trainer.train();
    trainer.stopWorkers(outcome.status === 'finished' ? 'the run finished' : 'the run was stopped');
    await launcher.stop(10_000);
    const bestText = Number.isFinite(outcome.bestValAccuracy) ? outcome.bestValAccuracy.toFixed(4) : 'n/a';
    if (outcome.status === 'finished') {
      events.emit({ event: 'run_finished', epochs: outcome.epochsCompleted, best_val_accuracy: outcome.bestValAccuracy, step: trainer.currentStep, early_stopped: outcome.earlyStopped });
      reporter.info(`finished ${counted(outcome.epochsCompleted, 'epoch')}; best val_accuracy ${bestText}; checkpoints in ${runDir.checkpointsDir}`);
      return EXIT_OK;
    }
    events.emit({ event: 'run_stopped', epochs: outcome.epochsCompleted, step: trainer.currentStep, reason: interrupted || !stopRequested ? 'interrupted' : 'stop requested over NATS' });
    reporter.info(`stopped after ${counted(outcome.epochsCompleted, 'epoch')}; continue with: coordinator --resume ${runDir.path}`);
    // A stop asked for over the control plane is the run ending as its owner wanted.
    return interrupted || !stopRequested ? EXIT_INTERRUPTED : EXIT_OK;
  } catch (error) {
    const message = describeError(error);
    const code = (error as { code?: string }).code ?? 'UNKNOWN';
    if (code === 'RUN_STOPPED') {
      events.emit({ event: 'run_stopped', epochs: trainer.epochsDone, step: trainer.currentStep, reason: message });
      reporter.info(`${message}; continue with: coordinator --resume ${runDir.path}`);
    } else {
      events.emit({ event: 'run_failed', step: trainer.currentStep, error: message, code });
      reporter.info(`run failed: ${message}`);
    }
    trainer.stopWorkers(`the run failed: ${message}`);
    await launcher.stop(3_000);
    return interrupted ? EXIT_INTERRUPTED : EXIT_FAILED;
  } finally {
    stopWatchdog();
    await shadow.close();
    removeInterrupts();
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
