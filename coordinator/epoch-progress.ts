// One epoch's running totals as its steps complete, and the progress event of each step: what
// the console bar, Prometheus and (later) NATS show while an epoch runs.

import type { RunEventOf } from './run-events.js';
import type { StepOutcome } from './step-engine.js';

export class EpochProgress {
  trainSeconds = 0;
  lossWeighted = 0;
  correct = 0;
  seen = 0;
  skipped = 0;
  stepsDone = 0;
  readonly samplesPerRank: number[] = [];
  /** Sums over steps and members of the phase timings the members sent, and how many were summed. */
  private readonly phaseSums = { data: 0, compute: 0, exchange: 0, apply: 0, total: 0 };
  private phaseCount = 0;
  private previousStepCount = 0;

  constructor(
    readonly epoch: number,
    readonly epochs: number,
    readonly steps: number,
  ) {}

  get loss(): number {
    return this.lossWeighted / this.seen;
  }

  get accuracy(): number {
    return this.correct / this.seen;
  }

  get imagesPerSecond(): number {
    return this.seen / this.trainSeconds;
  }

  /**
   * Mean seconds per step of each phase over the epoch, averaged over members. Exchange, apply and
   * total describe a member's previous step (they travel with its next upload), so they average
   * over the steps that had one.
   */
  get phaseSeconds(): { data: number; compute: number; exchange: number; apply: number; total: number } {
    const mean = (sum: number, count: number) => (count > 0 ? sum / count : 0);
    const s = this.phaseSums;
    return {
      data: mean(s.data, this.phaseCount),
      compute: mean(s.compute, this.phaseCount),
      exchange: mean(s.exchange, this.previousStepCount),
      apply: mean(s.apply, this.previousStepCount),
      total: mean(s.total, this.previousStepCount),
    };
  }

  /** Adds a completed step (`seconds`: its wall time) and returns its progress event. */
  add(outcome: StepOutcome, seconds: number): RunEventOf<'step_completed'> {
    const { plan } = outcome;
    for (const t of outcome.timings.values()) {
      this.phaseSums.data += t.dataSeconds;
      this.phaseSums.compute += t.computeSeconds;
      this.phaseCount++;
      if (t.totalSeconds > 0) {
        this.phaseSums.exchange += t.exchangeSeconds;
        this.phaseSums.apply += t.applySeconds;
        this.phaseSums.total += t.totalSeconds;
        this.previousStepCount++;
      }
    }
    const batch = plan.batch.length;
    this.stepsDone++;
    this.trainSeconds += seconds;
    plan.shards.forEach((shard, rank) => (this.samplesPerRank[rank] = (this.samplesPerRank[rank] ?? 0) + shard.sampleIds.length));
    this.lossWeighted += outcome.loss * batch;
    this.correct += outcome.correct;
    this.seen += batch;
    if (!outcome.verdict.applied) this.skipped++;
    const secondsPerStep = this.trainSeconds / this.stepsDone;
    const epochEta = (this.steps - this.stepsDone) * secondsPerStep;
    return {
      event: 'step_completed',
      step: plan.step,
      epoch: this.epoch + 1,
      epochs: this.epochs,
      step_in_epoch: this.stepsDone,
      steps_in_epoch: this.steps,
      applied: outcome.verdict.applied,
      batch,
      seconds,
      workers: plan.members.map((member, i) => {
        const t = outcome.timings.get(member.rank);
        return {
          rank: member.rank,
          host: member.host,
          gpu: member.gpu,
          samples: plan.shards[i]!.sampleIds.length,
          timings: t
            ? { data_seconds: t.dataSeconds, compute_seconds: t.computeSeconds, exchange_seconds: t.exchangeSeconds, apply_seconds: t.applySeconds, total_seconds: t.totalSeconds }
            : null,
        };
      }),
      bytes_up: outcome.bytesUp,
      bytes_down: outcome.bytesDown,
      loss_scale: outcome.header.lossScale,
      next_loss_scale: outcome.header.nextLossScale,
      learning_rate: outcome.header.learningRate,
      epoch_loss: this.loss,
      epoch_accuracy: this.accuracy,
      images_per_second: this.imagesPerSecond,
      epoch_eta_seconds: epochEta,
      eta_seconds: epochEta + (this.epochs - this.epoch - 1) * secondsPerStep * this.steps,
    };
  }
}
