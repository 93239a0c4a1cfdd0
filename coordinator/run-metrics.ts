// The run's Prometheus metrics (SPEC §7): a subscriber of the run's events, kept by the coordinator,
// which is the one scrape target (the workers' phase timings reach it with every step). Every label
// takes values from a small fixed set (phase, split, class, direction, the ranks of the world, their
// hosts and GPUs); the run id is a default label, one value per coordinator process.

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { EMOTION_CLASSES, NUM_CLASSES } from '../shared/classes.js';
import type { RunEvent, RunEventOf, WorkerStepReport } from './run-events.js';

export const METRIC_PREFIX = 'emotrain_';

/** Step-phase buckets: from a few ms (small CNN on a GPU) to minutes (ResNet50 on a CPU). */
const STEP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

const WORKER_LABELS = ['worker', 'host', 'gpu'] as const;

function workerLabels(member: Pick<WorkerStepReport, 'rank' | 'host' | 'gpu'>): Record<(typeof WORKER_LABELS)[number], string> {
  return { worker: String(member.rank), host: member.host, gpu: member.gpu >= 0 ? String(member.gpu) : 'cpu' };
}

export class RunMetrics {
  readonly registry = new Registry();
  private readonly samples: Counter<(typeof WORKER_LABELS)[number]>;
  private readonly samplesPerSecond: Gauge;
  private readonly stepDuration: Histogram<'phase' | (typeof WORKER_LABELS)[number]>;
  private readonly loss: Gauge<'split'>;
  private readonly accuracy: Gauge<'split'>;
  private readonly learningRate: Gauge;
  private readonly lossScale: Gauge;
  private readonly skippedSteps: Counter;
  private readonly steps: Counter;
  private readonly worldChanges: Counter<'change'>;
  private readonly abandonedSteps: Counter;
  private readonly workerRestarts: Counter;
  private readonly gradientBytes: Counter<'direction'>;
  private readonly workers: Gauge;
  private readonly epoch: Gauge;
  private readonly epochs: Gauge;
  private readonly eta: Gauge;
  private readonly bestValAccuracy: Gauge;
  private readonly classRecall: Gauge<'class'>;
  private readonly classPrecision: Gauge<'class'>;

  constructor(runId: string) {
    this.registry.setDefaultLabels({ run: runId });
    collectDefaultMetrics({ register: this.registry });
    const registers = [this.registry];
    const name = (suffix: string) => `${METRIC_PREFIX}${suffix}`;
    this.samples = new Counter({ name: name('train_samples_total'), help: 'Training samples computed, by worker.', labelNames: WORKER_LABELS, registers });
    this.samplesPerSecond = new Gauge({ name: name('train_samples_per_second'), help: 'Training throughput of the last step (global batch / step wall time).', registers });
    this.stepDuration = new Histogram({
      name: name('step_duration_seconds'),
      help: 'Duration of a training step by phase (data, compute, exchange, apply, total) on each worker.',
      labelNames: ['phase', ...WORKER_LABELS],
      buckets: STEP_BUCKETS,
      registers,
    });
    this.loss = new Gauge({ name: name('loss'), help: 'Loss (cross-entropy + L2 penalty): train is the running mean of the epoch, val the last validation.', labelNames: ['split'], registers });
    this.accuracy = new Gauge({ name: name('accuracy_ratio'), help: 'Accuracy: train is the running mean of the epoch, val the last validation.', labelNames: ['split'], registers });
    this.learningRate = new Gauge({ name: name('learning_rate'), help: 'Adam learning rate in use.', registers });
    this.lossScale = new Gauge({ name: name('loss_scale'), help: 'Dynamic loss scale of the next step (1 with --precision fp32).', registers });
    this.skippedSteps = new Counter({ name: name('skipped_steps_total'), help: 'Steps skipped because a gradient was non-finite or overflowed fp16.', registers });
    this.steps = new Counter({ name: name('steps_total'), help: 'Synchronous steps completed (applied or skipped).', registers });
    this.gradientBytes = new Counter({ name: name('gradient_bytes_total'), help: 'Gradient payload bytes through the coordinator: up = from workers, down = reduced, to workers.', labelNames: ['direction'], registers });
    this.worldChanges = new Counter({ name: name('world_changes_total'), help: 'Times the set of members steps are planned over changed: shrink (a worker lost, --elastic) or grow (a worker joined a running world).', labelNames: ['change'], registers });
    this.abandonedSteps = new Counter({ name: name('abandoned_steps_total'), help: 'Steps voided on every replica by a world change and planned again.', registers });
    this.workerRestarts = new Counter({ name: name('worker_restarts_total'), help: 'Local worker processes started again after they were lost (--max-restarts).', registers });
    this.workers = new Gauge({ name: name('workers'), help: 'Workers connected.', registers });
    this.epoch = new Gauge({ name: name('epoch'), help: 'Epochs completed.', registers });
    this.epochs = new Gauge({ name: name('epochs'), help: 'Epochs the run is configured for.', registers });
    this.eta = new Gauge({ name: name('eta_seconds'), help: 'Estimated training time left (validation excluded).', registers });
    this.bestValAccuracy = new Gauge({ name: name('best_val_accuracy_ratio'), help: 'Best validation accuracy so far (the best checkpoint).', registers });
    this.classRecall = new Gauge({ name: name('class_recall_ratio'), help: 'Per-class recall at the last validation.', labelNames: ['class'], registers });
    this.classPrecision = new Gauge({ name: name('class_precision_ratio'), help: 'Per-class precision at the last validation.', labelNames: ['class'], registers });

    // Every series exists from the start, so dashboards show 0 rather than "no data".
    this.workers.set(0);
    this.skippedSteps.inc(0);
    this.steps.inc(0);
    this.gradientBytes.inc({ direction: 'up' }, 0);
    this.gradientBytes.inc({ direction: 'down' }, 0);
    this.worldChanges.inc({ change: 'shrink' }, 0);
    this.worldChanges.inc({ change: 'grow' }, 0);
    this.abandonedSteps.inc(0);
    this.workerRestarts.inc(0);
  }

  readonly onEvent = (event: RunEvent): void => {
    switch (event.event) {
      case 'run_started':
      case 'run_resumed':
        this.learningRate.set(event.learning_rate);
        this.lossScale.set(event.loss_scale);
        this.epochs.set(event.epochs);
        this.epoch.set(event.epochs_completed);
        if (event.best_val_accuracy !== null) this.bestValAccuracy.set(event.best_val_accuracy);
        return;
      case 'worker_joined':
      case 'worker_left':
        this.workers.set(event.workers);
        return;
      case 'step_completed':
        this.stepCompleted(event);
        return;
      case 'validation_completed':
        this.validationCompleted(event);
        return;
      case 'epoch_end':
        this.epoch.set(event.epoch);
        this.loss.set({ split: 'train' }, event.loss);
        this.accuracy.set({ split: 'train' }, event.accuracy);
        if (event.epoch === event.epochs) this.eta.set(0);
        return;
      case 'lr_reduced':
        this.learningRate.set(event.to);
        return;
      case 'world_changed':
        this.worldChanges.inc({ change: event.to < event.from ? 'shrink' : 'grow' });
        return;
      case 'step_abandoned':
        this.abandonedSteps.inc(event.steps.length);
        return;
      case 'worker_started':
        if (event.restart > 0) this.workerRestarts.inc();
        return;
      case 'checkpoint_saved':
        if (event.kind === 'best' && event.val_accuracy !== undefined) this.bestValAccuracy.set(event.val_accuracy);
        return;
      default:
        return;
    }
  };

  private stepCompleted(report: RunEventOf<'step_completed'>): void {
    this.steps.inc();
    if (!report.applied) this.skippedSteps.inc();
    this.samplesPerSecond.set(report.batch / report.seconds);
    this.gradientBytes.inc({ direction: 'up' }, report.bytes_up);
    this.gradientBytes.inc({ direction: 'down' }, report.bytes_down);
    this.learningRate.set(report.learning_rate);
    this.lossScale.set(report.next_loss_scale);
    this.loss.set({ split: 'train' }, report.epoch_loss);
    this.accuracy.set({ split: 'train' }, report.epoch_accuracy);
    this.eta.set(report.eta_seconds);
    for (const worker of report.workers) {
      const labels = workerLabels(worker);
      this.samples.inc(labels, worker.samples);
      const timings = worker.timings;
      if (!timings) continue;
      this.stepDuration.observe({ ...labels, phase: 'data' }, timings.data_seconds);
      this.stepDuration.observe({ ...labels, phase: 'compute' }, timings.compute_seconds);
      // exchange, apply and total describe the worker's previous step; its first step has none
      if (timings.total_seconds > 0) {
        this.stepDuration.observe({ ...labels, phase: 'exchange' }, timings.exchange_seconds);
        this.stepDuration.observe({ ...labels, phase: 'apply' }, timings.apply_seconds);
        this.stepDuration.observe({ ...labels, phase: 'total' }, timings.total_seconds);
      }
    }
  }

  private validationCompleted(report: RunEventOf<'validation_completed'>): void {
    this.loss.set({ split: report.split }, report.loss);
    this.accuracy.set({ split: report.split }, report.accuracy);
    const confusion = report.confusion;
    EMOTION_CLASSES.forEach((name, c) => {
      let actual = 0;
      let predicted = 0;
      for (let k = 0; k < NUM_CLASSES; k++) {
        actual += confusion[c * NUM_CLASSES + k]!;
        predicted += confusion[k * NUM_CLASSES + c]!;
      }
      const hits = confusion[c * NUM_CLASSES + c]!;
      // sklearn's zero_division=0: a class never present (or never predicted) scores 0, not NaN
      this.classRecall.set({ class: name }, actual > 0 ? hits / actual : 0);
      this.classPrecision.set({ class: name }, predicted > 0 ? hits / predicted : 0);
    });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
