// What the coordinator prints: a subscriber of the run's events. On a TTY, a progress bar per
// epoch redrawn in place by cli-progress (like Keras' verbose=1), laid out to the terminal's width:
// fields drop out, least useful first, rather than the line being cut or wrapped; the epoch's
// summary takes two lines when one would wrap. Otherwise exactly one line per epoch (like
// verbose=2), so logs stay readable. Messages (workers joining, LR reductions, checkpoints saved, skipped steps) are
// printed as lines of their own; the process shell prints its own set-up lines with info().

import cliProgress from 'cli-progress';
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
  /** The whole run's ETA (validation excluded). */
  runEtaSeconds?: number;
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
  private bar: { progress: cliProgress.SingleBar; epoch: number; size: number } | undefined;
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
          runEtaSeconds: event.eta_seconds,
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
      case 'coordinator_stalled':
        this.info(`the coordinator itself did not run for ${event.seconds.toFixed(1)} s (stopped, suspended or blocked): that time is not counted as the workers' silence`);
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
    // On a terminal a long message is wrapped at word boundaries (indented), never by the terminal.
    const text = this.tty ? wrapToWidth(message, (this.out.columns ?? 80) - 1) : message;
    this.out.write(`${text}\n`);
  }

  step(progress: StepProgress): void {
    if (!this.tty) return;
    const columns = this.out.columns ?? 80;
    const line = fitBarLine(progress, columns);
    const payload = { head: line.head, tail: line.tail };
    if (!this.bar || this.bar.epoch !== progress.epoch || this.bar.size !== line.barSize) {
      this.clearBar();
      const bar = new cliProgress.SingleBar({
        stream: this.out as NodeJS.WritableStream,
        format: '{head} {bar} {tail}',
        barsize: line.barSize,
        barCompleteChar: '━',
        barIncompleteChar: '─',
        clearOnComplete: true,
        linewrap: false,
        hideCursor: false,
        // Drawn when asked; a non-TTY stream only gets it under --progress bar.
        noTTYOutput: this.out.isTTY !== true,
        fps: 10,
      });
      bar.start(progress.stepsInEpoch, progress.stepInEpoch, payload);
      this.bar = { progress: bar, epoch: progress.epoch, size: line.barSize };
    } else {
      this.bar.progress.update(progress.stepInEpoch, payload);
    }
  }

  epoch(summary: EpochSummary): void {
    this.clearBar();
    const skipped = summary.skippedSteps > 0 ? `  skipped ${summary.skippedSteps}` : '';
    const train = `Epoch ${summary.epoch}/${summary.epochs}  ${counted(summary.steps, 'step')}  ${formatDuration(summary.seconds)}` +
      `  loss ${summary.loss.toFixed(4)}  accuracy ${summary.accuracy.toFixed(4)}`;
    const rest = `val_loss ${summary.valLoss.toFixed(4)}  val_accuracy ${summary.valAccuracy.toFixed(4)}` +
      `  lr ${formatLearningRate(summary.learningRate)}  loss_scale ${summary.lossScale}` +
      `  ${summary.imagesPerSecond.toFixed(1)} img/s${skipped}`;
    const one = `${train}  ${rest}`;
    // A log keeps one line per epoch; a terminal too narrow for it gets two rather than a wrap.
    const width = (this.out.columns ?? 80) - 1;
    if (!this.tty || one.length <= width) this.out.write(`${one}\n`);
    else this.out.write(`${wrapToWidth(train, width)}\n${wrapToWidth(`  ${rest}`, width)}\n`);
  }

  private clearBar(): void {
    if (this.bar) {
      this.bar.progress.stop();
      this.bar = undefined;
    }
  }
}

/**
 * The bar's line for `columns`: the epoch, the bar, then as many of steps, epoch ETA (or
 * "validating" after the last step), img/s, loss and accuracy, and the run's ETA as fit, in that
 * order of importance, with a bar of 10 to 30 characters.
 */
export function fitBarLine(progress: StepProgress, columns: number): { head: string; tail: string; barSize: number } {
  const head = `Epoch ${progress.epoch}/${progress.epochs}`;
  const last = progress.stepInEpoch >= progress.stepsInEpoch;
  const fields = [
    `${progress.stepInEpoch}/${progress.stepsInEpoch}`,
    last ? 'validating' : `ETA ${formatDuration(progress.etaSeconds)}`,
    `${progress.imagesPerSecond.toFixed(0)} img/s`,
    `loss ${progress.loss.toFixed(4)} acc ${progress.accuracy.toFixed(4)}`,
    ...(progress.runEtaSeconds !== undefined && progress.epoch < progress.epochs ? [`run ETA ${formatDuration(progress.runEtaSeconds)}`] : []),
  ];
  const room = Math.max(0, columns - 1); // the last column would wrap on some terminals
  for (let n = fields.length; n >= 0; n--) {
    const tail = fields.slice(0, n).join('  ');
    const fixed = head.length + 1 + 1 + tail.length; // "head bar tail"
    const barSize = Math.min(30, room - fixed);
    if (barSize >= 10 || n === 0) return { head, tail, barSize: Math.max(1, Math.min(barSize, room - head.length - 2)) };
  }
  return { head, tail: '', barSize: 10 };
}

/** `text` in lines of at most `width` characters, broken at spaces, continuation lines indented by 2. */
export function wrapToWidth(text: string, width: number): string {
  if (width < 20) return text;
  return text
    .split('\n')
    .map((paragraph) => {
      const indent = /^ */.exec(paragraph)![0];
      const lines: string[] = [];
      let line = indent;
      for (const word of paragraph.slice(indent.length).split(' ')) {
        const candidate = line.trim() === '' ? `${line}${word}` : `${line} ${word}`;
        if (candidate.length <= width || line.trim() === '') {
          line = candidate;
          continue;
        }
        lines.push(line.trimEnd());
        line = `${indent}  ${word}`;
      }
      lines.push(line);
      // A single word longer than the width (a path) is cut into pieces rather than left to wrap.
      return lines.flatMap((l) => (l.length <= width ? [l] : (l.match(new RegExp(`.{1,${width}}`, 'g')) ?? [l]))).join('\n');
    })
    .join('\n');
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
