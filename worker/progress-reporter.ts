// What a worker started by hand on another host prints while it trains (issue 13, point 4): its
// step, its own throughput and where its time goes, so the person at that host sees it working.
// One line every `intervalMs` (a log, not a redrawn bar: remote consoles are often files). A
// worker started by a local coordinator prints nothing: the coordinator's console says it all.

export interface StepTimes {
  step: number;
  epoch: number;
  samples: number;
  dataSeconds: number;
  computeSeconds: number;
  exchangeSeconds: number;
  applySeconds: number;
}

export class WorkerProgress {
  private samples = 0;
  private steps = 0;
  private seconds = 0;
  private lastLineMs: number;
  private totalSteps = 0;

  constructor(
    private readonly rank: () => number,
    private readonly write: (line: string) => void,
    private readonly now: () => number = () => Date.now(),
    private readonly intervalMs = 10_000,
  ) {
    this.lastLineMs = now();
  }

  /** After each step: prints a line when the interval is over, or on the very first step. */
  step(times: StepTimes): void {
    const stepSeconds = times.dataSeconds + times.computeSeconds + times.exchangeSeconds + times.applySeconds;
    this.samples += times.samples;
    this.seconds += stepSeconds;
    this.steps++;
    this.totalSteps++;
    const now = this.now();
    if (this.totalSteps > 1 && now - this.lastLineMs < this.intervalMs) return;
    const throughput = this.seconds > 0 ? this.samples / this.seconds : 0;
    this.write(
      `worker ${this.rank()}: step ${times.step} (epoch ${times.epoch + 1}), ${this.totalSteps} steps done; ` +
        `${throughput.toFixed(1)} img/s own over the last ${this.steps} steps; last step ${stepSeconds.toFixed(2)} s ` +
        `(data ${times.dataSeconds.toFixed(2)}, compute ${times.computeSeconds.toFixed(2)}, exchange ${times.exchangeSeconds.toFixed(2)}, apply ${times.applySeconds.toFixed(2)})`,
    );
    this.lastLineMs = now;
    this.samples = 0;
    this.seconds = 0;
    this.steps = 0;
  }
}
