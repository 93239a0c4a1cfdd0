// What the coordinator prints. On a TTY, a progress bar per epoch redrawn in place (like Keras'
// verbose=1); otherwise exactly one line per epoch (like verbose=2), so logs stay readable.
// Messages (workers joining, LR reductions, skipped steps) are printed as lines of their own.

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
      `Epoch ${summary.epoch}/${summary.epochs}  ${summary.steps} steps  ${formatDuration(summary.seconds)}` +
        `  loss ${summary.loss.toFixed(4)}  accuracy ${summary.accuracy.toFixed(4)}` +
        `  val_loss ${summary.valLoss.toFixed(4)}  val_accuracy ${summary.valAccuracy.toFixed(4)}` +
        `  lr ${summary.learningRate.toExponential(2)}  loss_scale ${summary.lossScale}` +
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
