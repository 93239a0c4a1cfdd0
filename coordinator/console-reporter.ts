// What the coordinator prints: a subscriber of the run's events. On a TTY, a progress bar per
// epoch redrawn in place (like Keras' verbose=1); otherwise exactly one line per epoch (like
// verbose=2), so logs stay readable. Messages (workers joining, LR reductions, checkpoints saved, skipped steps) are
// printed as lines of their own; the process shell prints its own set-up lines with info().

import type { RunEvent } from './run-events.js';
import { counted, formatLearningRate } from '../shared/wording.js';
import { describeMember } from './world.js';

export interface StepProgress {
  epoch: number;
  epochs: number;
  stepInEpoch: number;
  stepsInEpoch: number;
  loss: number;
  accuracy: number;
  imagesPerSecond: number;
  etaSeconds: number;
}

export interface EpochSummary {
  epoch: number;
  epochs: number;
  steps: number;
  loss: number;
  accuracy: number;
  valLoss: number;
  valAccuracy: number;
  learningRate: number;
  lossScale: number;
  imagesPerSecond: number;
  seconds: number;
  skippedSteps: number;
}

export interface OutputStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export class ConsoleReporter {
  private barShown = false;
  private readonly tty: boolean;

  constructor(
    private readonly out: OutputStream = process.stdout,
    mode: 'auto' | 'bar' | 'lines' = 'auto',
  ) {
    this.tty = mode === 'bar' || (mode === 'auto' && out.isTTY === true);
  }

  /** Prints what a person wants to see of an event (most events are for files and metrics). */
  readonly onEvent = (event: RunEvent): void => {
    switch (event.event) {
      case 'worker_joined':
        this.info(`${describeMember(event)} joined from ${event.peer} (${event.backend} backend${event.local_data ? ', reads its own copy of the dataset' : ''}) — ${event.workers}/${event.world}`);
        return;
      case 'step_completed':
        this.step({
          epoch: event.epoch,
          epochs: event.epochs,
          stepInEpoch: event.step_in_epoch,
          stepsInEpoch: event.steps_in_epoch,
          loss: event.epoch_loss,
          accuracy: event.epoch_accuracy,
          imagesPerSecond: event.images_per_second,
          etaSeconds: event.epoch_eta_seconds,
        });
        return;
      case 'step_skipped':
        this.info(`step ${event.step} skipped: ${event.reason}; loss scale ${event.loss_scale_before} → ${event.loss_scale_after}`);
        return;
      case 'epoch_end':
        this.epoch({
          epoch: event.epoch,
          epochs: event.epochs,
          steps: event.steps,
          loss: event.loss,
          accuracy: event.accuracy,
          valLoss: event.val_loss,
          valAccuracy: event.val_accuracy,
          learningRate: event.lr,
          lossScale: event.loss_scale,
          imagesPerSecond: event.images_per_second,
          seconds: event.seconds,
          skippedSteps: event.skipped_steps,
        });
        return;
      case 'lr_reduced':
        this.info(`Epoch ${event.epoch}: ReduceLROnPlateau reducing learning rate to ${formatLearningRate(event.to)}`);
        return;
      case 'early_stopped':
        this.info(`Epoch ${event.epoch}: early stopping (${event.monitor} did not improve for ${counted(event.patience, 'epoch')}; best ${event.best.toFixed(4)} at epoch ${event.best_epoch})`);
        return;
      case 'checkpoint_saved':
        this.info(describeCheckpoint(event));
        return;
      case 'weights_restored':
        this.info(`restoring model weights from the end of the best epoch: ${event.from_epoch}`);
        return;
      case 'control_plane':
        this.info(event.state === 'connected' ? `NATS: connected to ${event.server}` : `NATS: reconnected to ${event.server} after ${event.outage_seconds?.toFixed(1)} s`);
        return;
      case 'warning':
        this.info(`warning: ${event.message}`);
        return;
      case 'worker_left':
        if (!event.expected) this.info(`${describeMember(event)} left: ${event.reason} — ${event.workers} left`);
        return;
      case 'worker_started':
        if (event.restart > 0) this.info(`started local worker ${event.rank} again (pid ${event.pid}, restart ${event.restart} of ${event.max_restarts}): ${event.reason ?? 'it was lost'}`);
        else this.info(`started local worker ${event.rank} (pid ${event.pid})`);
        return;
      case 'worker_stalled':
        this.info(`local worker ${event.rank} (pid ${event.pid}) is stalled: ${event.reason}; killing it`);
        return;
      case 'step_abandoned':
        this.info(`abandoned step${event.steps.length > 1 ? 's' : ''} ${event.steps.join(', ')} on every replica (${event.reason}); planning again`);
        return;
      case 'waiting_for_workers':
        this.info(`waiting up to ${event.timeout_seconds} s for workers at step ${event.step}: ${event.workers} of ${event.needed} needed${event.free_ranks.length > 0 ? `; free ranks ${event.free_ranks.join(', ')}` : ''}`);
        return;
      case 'world_changed':
        this.info(`world ${event.to < event.from ? 'shrinks' : 'grows'} from ${event.from} to ${counted(event.to, 'worker')} at step ${event.step} (ranks ${event.ranks.join(', ')}): ${event.reason}`);
        return;
      default:
        return;
    }
  };

  info(message: string): void {
    this.clearBar();
    this.out.write(`${message}\n`);
  }

  step(progress: StepProgress): void {
    if (!this.tty) return;
    const width = 24;
    const done = Math.round((progress.stepInEpoch / progress.stepsInEpoch) * width);
    const bar = `${'━'.repeat(done)}${'─'.repeat(width - done)}`;
    const line =
      `Epoch ${progress.epoch}/${progress.epochs} ${bar} ${progress.stepInEpoch}/${progress.stepsInEpoch}` +
      `  loss ${progress.loss.toFixed(4)}  acc ${progress.accuracy.toFixed(4)}` +
      `  ${progress.imagesPerSecond.toFixed(0)} img/s  ETA ${formatDuration(progress.etaSeconds)}`;
    const columns = this.out.columns ?? 120;
    this.out.write(`\r\x1b[K${line.slice(0, Math.max(20, columns - 1))}`);
    this.barShown = true;
  }

  epoch(summary: EpochSummary): void {
    this.clearBar();
    const skipped = summary.skippedSteps > 0 ? `  skipped ${summary.skippedSteps}` : '';
    this.out.write(
      `Epoch ${summary.epoch}/${summary.epochs}  ${counted(summary.steps, 'step')}  ${formatDuration(summary.seconds)}` +
        `  loss ${summary.loss.toFixed(4)}  accuracy ${summary.accuracy.toFixed(4)}` +
        `  val_loss ${summary.valLoss.toFixed(4)}  val_accuracy ${summary.valAccuracy.toFixed(4)}` +
        `  lr ${formatLearningRate(summary.learningRate)}  loss_scale ${summary.lossScale}` +
        `  ${summary.imagesPerSecond.toFixed(1)} img/s${skipped}\n`,
    );
  }

  private clearBar(): void {
    if (this.barShown) {
      this.out.write('\r\x1b[K');
      this.barShown = false;
    }
  }
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = s % 60;
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${String(rest).padStart(2, '0')}` : `${m}:${String(rest).padStart(2, '0')}`;
}

/** One line per checkpoint written, as Keras' ModelCheckpoint(verbose=1) says it. */
function describeCheckpoint(event: Extract<RunEvent, { event: 'checkpoint_saved' }>): string {
  if (event.kind === 'best') {
    const from = event.previous_best === null || event.previous_best === undefined || !Number.isFinite(event.previous_best) ? '-inf' : event.previous_best.toFixed(4);
    const to = event.val_accuracy === undefined ? '' : ` improved from ${from} to ${event.val_accuracy.toFixed(4)}`;
    return `Epoch ${event.epoch}: val_accuracy${to}, saved checkpoints/best`;
  }
  const restored = event.restored_from_epoch !== undefined ? ` with the weights of epoch ${event.restored_from_epoch}` : '';
  return `Epoch ${event.epoch}: saved checkpoints/last (step ${event.step})${restored}`;
}
