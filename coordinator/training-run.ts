// The coordinator's run loop (SPEC §2, §3): forms the world, drives every synchronous step
// (shard assignment → uploads → reduction → loss-scale verdict → reduced gradients back), validates
// and aggregates each epoch, checks the replicas' checksums, runs the plateau schedule and keeps the
// best and last checkpoints. It is also the TrainerHost behind the gRPC service: every message a
// worker sends is checked here against the run's state before it can touch anything.

import { EMOTION_CLASSES, NUM_CLASSES } from '../shared/classes.js';
import { workerConfigOf, type RunConfig } from '../shared/config.js';
import { Deferred } from '../shared/deferred.js';
import { ProtocolError, WorldError, describeError } from '../shared/errors.js';
import { meanLoss } from '../shared/evaluation.js';
import { LossScaler } from '../shared/loss-scaler.js';
import { deriveSeed } from '../shared/random.js';
import {
  PROTOCOL_VERSION,
  PayloadReceiver,
  type ChecksumResult,
  type EvaluationResult,
  type GradientHeader,
  type JoinReply,
  type JoinRequest,
  type ReducedHeader,
  type ReportRequest,
  type StateManifest,
  type StepTimings,
  type WorkerRef,
} from '../shared/wire.js';
import { CheckpointStore, type CheckpointMeta, type TrainingState } from './checkpoint-store.js';
import type { ConsoleReporter } from './console-reporter.js';
import { PlateauSchedule } from './plateau.js';
import { GradientReducer } from './reducer.js';
import type { EpochMetrics, RunDirectory } from './run-directory.js';
import type { SampleStore } from '../shared/data/sample-store.js';
import type { ShadowModel } from './shadow-model.js';
import { EpochPlan, shardBatch, type Shard } from './sharding.js';
import type { TrainerHost, UploadSession } from './trainer-service.js';
import { World, describeMember, type CommandSink, type Member } from './world.js';

export interface SplitIds {
  train: number[];
  val: number[];
  test: number[];
}

export interface EvaluationSummary {
  split: string;
  count: number;
  loss: number;
  accuracy: number;
  /** Row-major NUM_CLASSES x NUM_CLASSES counts, true by predicted. */
  confusion: number[];
  sampleIds: number[];
  probabilities: number[];
}

/** The plan of one step: which samples each member computes. Fixed before the step is sent. */
interface StepPlan {
  step: number;
  epoch: number;
  batch: number[];
  members: Member[];
  shards: Shard[];
}

interface StepRound {
  plan: StepPlan;
  step: number;
  lossScale: number;
  reducer: GradientReducer;
  reduced: Deferred<void>;
  outcome: Deferred<{ header: ReducedHeader; payload: readonly Uint8Array[] }>;
  uploading: Set<number>;
  pendingDownloads: number;
  downloadsDone: Deferred<void>;
  lossSum: number;
  correct: number;
  regularizationLoss: number;
  timings: Map<number, StepTimings>;
  bytesUp: number;
}

export interface RunOutcome {
  status: 'finished' | 'stopped';
  epochsCompleted: number;
  bestValAccuracy: number;
  lastValAccuracy: number;
}

/** What a step did, for observers (metrics). */
export interface StepReport {
  step: number;
  epoch: number;
  applied: boolean;
  batch: number;
  seconds: number;
  /** Samples each member computed, with its phase timings (exchange/apply/total are of its previous step). */
  workers: Array<{ member: Member; samples: number; timings: StepTimings | undefined }>;
  bytesUp: number;
  bytesDown: number;
  lossScale: number;
  nextLossScale: number;
  learningRate: number;
  /** Running mean loss and accuracy of the epoch so far. */
  epochLoss: number;
  epochAccuracy: number;
  etaSeconds: number;
}

export interface EpochReport {
  epoch: number;
  epochs: number;
  row: EpochMetrics;
  validation: EvaluationSummary;
  bestValAccuracy: number;
  nextLearningRate: number;
}

/** Listens to a run without being able to change it (the Prometheus exporter is one). */
export interface RunObserver {
  workersChanged(count: number): void;
  stepCompleted(report: StepReport): void;
  epochCompleted(report: EpochReport): void;
}

export interface TrainingRunOptions {
  config: RunConfig;
  split: SplitIds;
  samples: SampleStore;
  runDir: RunDirectory;
  shadow: ShadowModel;
  reporter: ConsoleReporter;
  /** Set when continuing a stopped run from checkpoints/last. */
  resume?: TrainingState;
  observer?: RunObserver;
}

export class TrainingRun implements TrainerHost {
  readonly world: World;
  private readonly config: RunConfig;
  private readonly split: SplitIds;
  private readonly samples: SampleStore;
  private readonly runDir: RunDirectory;
  private readonly shadow: ShadowModel;
  private readonly reporter: ConsoleReporter;
  private readonly checkpoints: CheckpointStore;
  /** Two reducers used by alternate steps: one can still be streaming its result back while the next step's round is open. */
  private readonly reducers: [GradientReducer, GradientReducer];
  private readonly scaler: LossScaler;
  private readonly plateau: PlateauSchedule;

  private step = 0;
  private epochsCompleted = 0;
  private bestValAccuracy = -Infinity;
  private lastValAccuracy = NaN;
  /** Open rounds by step: the one being reduced and, briefly, the next one. */
  private readonly rounds = new Map<number, StepRound>();
  private readonly lastRoundOf: [StepRound | undefined, StepRound | undefined] = [undefined, undefined];
  private evaluationCounter = 0;
  private readonly pendingEvaluations = new Map<string, Deferred<EvaluationResult>>();
  private readonly pendingChecksums = new Map<string, Deferred<ChecksumResult>>();
  private readonly failure = new Deferred<never>();
  private stopRequested: string | undefined;
  private worldFormed = new Deferred<void>();
  private readonly observer: RunObserver | undefined;

  constructor(options: TrainingRunOptions) {
    this.config = options.config;
    this.split = options.split;
    this.samples = options.samples;
    this.runDir = options.runDir;
    this.shadow = options.shadow;
    this.reporter = options.reporter;
    this.observer = options.observer;
    this.checkpoints = new CheckpointStore(options.runDir.checkpointsDir);
    this.world = new World(options.config.gpus + options.config.remoteWorkers);
    const newReducer = () => new GradientReducer(this.shadow.state.trainable.length, this.shadow.state.state.length, options.config.precision);
    this.reducers = [newReducer(), newReducer()];
    const resume = options.resume;
    const precisionScale = options.config.precision === 'fp32' ? { initialScale: 1, growthInterval: Number.MAX_SAFE_INTEGER, maxScale: 1 } : {};
    this.scaler = new LossScaler({ growthInterval: options.config.lossScaleGrowthInterval, initialScale: options.config.initialLossScale, ...precisionScale }, resume?.lossScaler);
    this.plateau = new PlateauSchedule(options.config.learningRate, { mode: 'min', ...options.config.plateau }, resume?.plateau);
    if (resume) {
      this.step = resume.step;
      this.epochsCompleted = resume.epochsCompleted;
      this.bestValAccuracy = resume.bestValAccuracy;
      this.shadow.iteration = resume.optimizerIteration;
    }
    this.world.on('joined', (member) => {
      this.runDir.event({ event: 'worker_joined', rank: member.rank, host: member.host, gpu: member.gpu, pid: member.pid, backend: member.backend, local_data: member.localData });
      this.reporter.info(`${describeMember(member)} joined (${member.backend} backend${member.localData ? ', reads its own copy of the dataset' : ''}) — ${this.world.memberCount}/${this.world.size}`);
      if (this.world.full) this.worldFormed.resolve();
      this.observer?.workersChanged(this.world.memberCount);
    });
    this.world.on('lost', (member, reason) => {
      this.samples.forgetWorker(member.workerId);
      // `expected`: it left because the run was stopping, not because something went wrong
      this.runDir.event({ event: 'worker_left', rank: member.rank, host: member.host, gpu: member.gpu, pid: member.pid, reason, expected: this.stopRequested !== undefined });
      this.observer?.workersChanged(this.world.memberCount);
      if (this.stopRequested === undefined) {
        this.fail(new WorldError('WORKER_LOST', `${describeMember(member)} was lost at step ${this.step}: ${reason}`));
      }
    });
  }

  get runId(): string {
    return this.config.runId;
  }

  get currentStep(): number {
    return this.step;
  }

  /** Ends the run with an error: every wait in progress rejects with it. */
  fail(error: Error): void {
    if (!this.failure.settled) this.failure.reject(error);
    for (const round of this.rounds.values()) round.outcome.reject(error);
    for (const pending of [...this.pendingEvaluations.values(), ...this.pendingChecksums.values()]) pending.reject(error);
  }

  /** Asks the run to stop at the next step boundary (Ctrl-C); the last checkpoint stays intact. */
  requestStop(reason: string): void {
    if (this.stopRequested !== undefined) return;
    this.stopRequested = reason;
    if (!this.worldFormed.settled) this.worldFormed.resolve();
  }

  private async guard<T>(promise: Promise<T>): Promise<T> {
    return Promise.race([promise, this.failure.promise]);
  }

  // ---- TrainerHost --------------------------------------------------------------------------

  join(request: JoinRequest, peer: string): JoinReply {
    if (request.protocolVersion !== PROTOCOL_VERSION) {
      throw new ProtocolError('PROTOCOL_INVALID', `${peer} speaks protocol ${request.protocolVersion}; this coordinator speaks ${PROTOCOL_VERSION} (upgrade the older side)`);
    }
    const member = this.world.join(request, peer);
    return { runId: this.runId, workerId: member.workerId, rank: member.rank, configJson: JSON.stringify(workerConfigOf(this.config)) };
  }

  private memberOf(ref: WorkerRef, what: string): Member {
    if (ref.runId !== this.runId) {
      throw new ProtocolError('PROTOCOL_WRONG_RUN', `${what} names run ${JSON.stringify(ref.runId)}, this coordinator runs ${this.runId}`);
    }
    const member = this.world.byWorkerId(ref.workerId);
    if (!member) throw new ProtocolError('PROTOCOL_INVALID', `${what} comes from unknown worker id ${JSON.stringify(ref.workerId)} (join first)`);
    return member;
  }

  openCommands(ref: WorkerRef, sink: CommandSink): void {
    const member = this.memberOf(ref, 'command stream request');
    if (member.commands) throw new ProtocolError('PROTOCOL_INVALID', `${describeMember(member)} already has a command stream`);
    this.world.attachCommands(member, sink);
  }

  commandsClosed(ref: WorkerRef, reason: string): void {
    const member = this.world.byWorkerId(ref.workerId);
    if (member) this.world.lose(member, reason);
  }

  heartbeat(ref: WorkerRef): void {
    this.world.heartbeat(this.memberOf(ref, 'heartbeat'));
  }

  state(ref: WorkerRef): { manifest: StateManifest; payload: readonly Uint8Array[] } {
    this.memberOf(ref, 'state request');
    return this.shadow.statePayload(this.step, this.plateau.learningRate, this.scaler.scale, true);
  }

  beginUpload(header: GradientHeader, peer: string): UploadSession {
    const what = `gradient upload from ${peer} for step ${header.step}`;
    const member = this.memberOf(header, what);
    const round = this.rounds.get(header.step);
    const who = describeMember(member);
    if (!round) {
      const open = [...this.rounds.keys()];
      throw new ProtocolError(
        'PROTOCOL_WRONG_STEP',
        `${who} uploaded gradients for step ${header.step}, but the current step is ${open.length > 0 ? open.join(' or ') : `${this.step} (not open for uploads)`}`,
      );
    }
    const { reducer } = round;
    if (!reducer.isMember(member.rank)) throw new ProtocolError('PROTOCOL_INVALID', `${who} has no shard in step ${round.step}`);
    if (header.dtype !== reducer.dtype) {
      throw new ProtocolError('PROTOCOL_INVALID', `${who} sent ${header.dtype} gradients for step ${round.step}; this run exchanges ${reducer.dtype}`);
    }
    if (header.gradientElements !== reducer.gradientElements || header.stateElements !== reducer.stateElements) {
      throw new ProtocolError(
        'PROTOCOL_WRONG_SIZE',
        `${who} declared ${header.gradientElements} gradient and ${header.stateElements} state values for step ${round.step}; the model has ${reducer.gradientElements} and ${reducer.stateElements}`,
      );
    }
    if (header.lossScale !== round.lossScale) {
      throw new ProtocolError('PROTOCOL_INVALID', `${who} used loss scale ${header.lossScale} in step ${round.step}; the step's scale is ${round.lossScale}`);
    }
    const shardSize = reducer.shardSizeOf(member.rank)!;
    if (header.shardSize !== shardSize || !(header.correct <= shardSize)) {
      throw new ProtocolError('PROTOCOL_WRONG_SIZE', `${who} reported ${header.shardSize} samples (${header.correct} correct) for step ${round.step}; its shard has ${shardSize}`);
    }
    if (reducer.hasCompleted(member.rank) || round.uploading.has(member.rank)) {
      throw new ProtocolError('PROTOCOL_INVALID', `${who} uploaded step ${round.step} twice`);
    }
    round.uploading.add(member.rank);
    const receiver = new PayloadReceiver(reducer.stagingFor(member.rank), `${who}'s gradients for step ${round.step}`);
    let finished = false;
    return {
      receiver,
      complete: async () => {
        const staged = reducer.stagingFor(member.rank)[1]!;
        const stateValues = new Float32Array(staged.buffer, staged.byteOffset, staged.byteLength / 4);
        for (let i = 0; i < stateValues.length; i++) {
          if (!Number.isFinite(stateValues[i]!)) {
            throw new ProtocolError('PROTOCOL_NON_FINITE', `${who} sent a non-finite BatchNorm statistic (value ${i}) in step ${round.step}`);
          }
        }
        finished = true;
        round.uploading.delete(member.rank);
        round.pendingDownloads++;
        round.lossSum += header.lossSum;
        round.correct += header.correct;
        round.regularizationLoss = header.regularizationLoss;
        round.timings.set(member.rank, header.timings);
        round.bytesUp += receiver.expectedBytes;
        reducer.markComplete(member.rank);
        if (reducer.ready) round.reduced.resolve();
        return round.outcome.promise;
      },
      abort: () => {
        if (!finished) round.uploading.delete(member.rank);
      },
      downloaded: () => {
        round.pendingDownloads--;
        if (round.pendingDownloads === 0 && round.outcome.settled) round.downloadsDone.resolve();
      },
    };
  }

  report(request: ReportRequest): void {
    const member = this.memberOf(request, `${request.kind} report`);
    if (request.kind === 'evaluation') {
      const key = `${request.evaluation.evaluationId}/${member.rank}`;
      const pending = this.pendingEvaluations.get(key);
      if (!pending) throw new ProtocolError('PROTOCOL_INVALID', `${describeMember(member)} reported evaluation ${request.evaluation.evaluationId}, which it was not asked for`);
      this.pendingEvaluations.delete(key);
      pending.resolve(request.evaluation);
    } else {
      const key = `${request.checksum.step}/${member.rank}`;
      const pending = this.pendingChecksums.get(key);
      if (!pending) throw new ProtocolError('PROTOCOL_INVALID', `${describeMember(member)} reported a checksum for step ${request.checksum.step}, which it was not asked for`);
      this.pendingChecksums.delete(key);
      pending.resolve(request.checksum);
    }
  }

  // ---- the run ------------------------------------------------------------------------------

  async waitForWorld(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new WorldError('WORKER_LOST', `only ${this.world.memberCount} of ${this.world.size} workers joined within ${Math.round(timeoutMs / 1000)} s`),
          ),
        timeoutMs,
      );
    });
    try {
      await this.guard(Promise.race([this.worldFormed.promise, timeout]));
    } finally {
      clearTimeout(timer);
    }
    // A member is usable once its command stream is open; it opens it right after joining.
    while (this.stopRequested === undefined && this.world.list().some((m) => !m.commands)) {
      await this.guard(new Promise((resolve) => setTimeout(resolve, 20)));
    }
  }

  async train(): Promise<RunOutcome> {
    const { config } = this;
    const startEpoch = this.epochsCompleted;
    for (let epoch = startEpoch; epoch < config.epochs; epoch++) {
      if (this.stopRequested !== undefined) break;
      const plan = new EpochPlan(this.split.train, config.globalBatch, config.seed, epoch);
      const steps = config.stepsPerEpoch > 0 ? Math.min(config.stepsPerEpoch, plan.steps) : plan.steps;
      const epochStart = performance.now();
      let trainSeconds = 0;
      let lossWeighted = 0;
      let correct = 0;
      let seen = 0;
      let skipped = 0;
      const learningRate = this.plateau.learningRate;
      const samplesPerRank: number[] = [];
      // Each step's command goes out one step ahead, so workers prepare its data while they
      // compute the current one. A stop request is honoured where no command is outstanding.
      const firstStep = this.step;
      let current: StepPlan | undefined = this.planStep(plan, 0, epoch, firstStep);
      await this.sendStep(current);
      await this.openRound(current);
      for (let s = 0; current !== undefined; s++) {
        const stepStart = performance.now();
        const next: StepPlan | undefined = s + 1 < steps && this.stopRequested === undefined ? this.planStep(plan, s + 1, epoch, firstStep + s + 1) : undefined;
        if (next) await this.sendStep(next);
        const result = await this.completeStep(current, async () => {
          if (next) await this.openRound(next);
        });
        trainSeconds += (performance.now() - stepStart) / 1000;
        result.shardSizes.forEach((n, rank) => (samplesPerRank[rank] = (samplesPerRank[rank] ?? 0) + n));
        lossWeighted += result.loss * result.batch;
        correct += result.correct;
        seen += result.batch;
        if (!result.applied) skipped++;
        const imagesPerSecond = seen / trainSeconds;
        const etaSeconds = ((steps - s - 1) * trainSeconds) / (s + 1);
        this.observer?.stepCompleted({
          step: result.header.step,
          epoch: epoch + 1,
          applied: result.applied,
          batch: result.batch,
          seconds: (performance.now() - stepStart) / 1000,
          workers: current.members.map((member, i) => ({ member, samples: result.shardSizes[i]!, timings: result.round.timings.get(member.rank) })),
          bytesUp: result.round.bytesUp,
          bytesDown: result.bytesDown,
          lossScale: result.header.lossScale,
          nextLossScale: result.header.nextLossScale,
          learningRate: result.header.learningRate,
          epochLoss: lossWeighted / seen,
          epochAccuracy: correct / seen,
          etaSeconds: etaSeconds + (config.epochs - epoch - 1) * (trainSeconds / (s + 1)) * steps,
        });
        this.reporter.step({
          epoch: epoch + 1,
          epochs: config.epochs,
          stepInEpoch: s + 1,
          stepsInEpoch: steps,
          loss: lossWeighted / seen,
          accuracy: correct / seen,
          imagesPerSecond,
          etaSeconds,
        });
        current = next;
      }
      if (this.stopRequested !== undefined) break;

      const validation = await this.evaluate('val', this.split.val, false);
      await this.verifyReplicas();
      const decision = this.plateau.onEpochEnd(validation.loss);
      this.epochsCompleted = epoch + 1;
      this.lastValAccuracy = validation.accuracy;
      const row: EpochMetrics = {
        epoch: epoch + 1,
        loss: lossWeighted / seen,
        accuracy: correct / seen,
        val_loss: validation.loss,
        val_accuracy: validation.accuracy,
        lr: learningRate,
        loss_scale: this.scaler.scale,
        images_per_second: seen / trainSeconds,
        skipped_steps: skipped,
      };
      this.runDir.appendMetrics(row);
      this.runDir.event({ event: 'epoch_end', ...row, step: this.step, seconds: (performance.now() - epochStart) / 1000, samples_per_worker: samplesPerRank });
      this.reporter.epoch({
        epoch: epoch + 1,
        epochs: config.epochs,
        steps,
        loss: row.loss,
        accuracy: row.accuracy,
        valLoss: row.val_loss,
        valAccuracy: row.val_accuracy,
        learningRate,
        lossScale: row.loss_scale,
        imagesPerSecond: row.images_per_second,
        seconds: (performance.now() - epochStart) / 1000,
        skippedSteps: skipped,
      });
      if (decision.reduced) {
        this.runDir.event({ event: 'lr_reduced', epoch: epoch + 1, from: decision.previousLr, to: decision.learningRate, monitor: 'val_loss' });
        this.reporter.info(`Epoch ${epoch + 1}: ReduceLROnPlateau reducing learning rate to ${decision.learningRate.toExponential(2)}`);
      }
      await this.saveCheckpoints(epoch + 1, validation);
      this.observer?.epochCompleted({ epoch: epoch + 1, epochs: config.epochs, row, validation, bestValAccuracy: this.bestValAccuracy, nextLearningRate: this.plateau.learningRate });
    }
    const status = this.stopRequested === undefined ? 'finished' : 'stopped';
    return { status, epochsCompleted: this.epochsCompleted, bestValAccuracy: this.bestValAccuracy, lastValAccuracy: this.lastValAccuracy };
  }

  private planStep(plan: EpochPlan, stepInEpoch: number, epoch: number, step: number): StepPlan {
    const members = this.world.list();
    if (members.length !== this.world.size) {
      throw new WorldError('WORKER_LOST', `step ${step} needs ${this.world.size} workers, ${members.length} are connected`);
    }
    const batch = plan.batch(stepInEpoch);
    return { step, epoch, batch, members, shards: shardBatch(batch, members.length) };
  }

  /** Sends every member its shard of the step (image bytes only where it lacks them). */
  private async sendStep(plan: StepPlan): Promise<void> {
    for (let i = 0; i < plan.members.length; i++) {
      const member = plan.members[i]!;
      const samples = await this.samples.samplesFor(member, plan.shards[i]!.sampleIds);
      this.world.send(member.rank, {
        kind: 'trainStep',
        trainStep: {
          step: plan.step,
          epoch: plan.epoch,
          worldSize: plan.members.length,
          globalBatch: plan.batch.length,
          samples,
          stepSeed: deriveSeed(this.config.seed, 0xd50, plan.step, member.rank),
        },
      });
    }
  }

  /**
   * Opens the step for uploads, at the loss scale decided by the previous step. Its reducer is the
   * one step `step - 2` used, whose result must have been streamed to every worker first (it has,
   * in practice: no worker could upload `step - 1` without it).
   */
  private async openRound(plan: StepPlan): Promise<void> {
    const index = plan.step % 2;
    const reducer = this.reducers[index]!;
    await this.guard(this.lastRoundOf[index]?.downloadsDone.promise ?? Promise.resolve());
    const round: StepRound = {
      plan,
      step: plan.step,
      lossScale: this.scaler.scale,
      reducer,
      reduced: new Deferred(),
      outcome: new Deferred(),
      uploading: new Set(),
      pendingDownloads: 0,
      downloadsDone: new Deferred(),
      lossSum: 0,
      correct: 0,
      regularizationLoss: 0,
      timings: new Map(),
      bytesUp: 0,
    };
    reducer.begin(
      plan.step,
      plan.members.map((m, i) => ({ rank: m.rank, shardSize: plan.shards[i]!.sampleIds.length })),
      plan.batch.length,
    );
    this.rounds.set(plan.step, round);
    this.lastRoundOf[index] = round;
  }

  /**
   * Waits for every upload of the step, decides (apply or skip), updates the shadow copy and
   * releases the reduced result to the workers. `beforeRelease` opens the next step's round
   * first, so no worker can upload for a step that is not open yet.
   */
  private async completeStep(
    plan: StepPlan,
    beforeRelease: () => Promise<void>,
  ): Promise<{ applied: boolean; loss: number; correct: number; batch: number; shardSizes: number[]; round: StepRound; header: ReducedHeader; bytesDown: number }> {
    const round = this.rounds.get(plan.step)!;
    await this.guard(round.reduced.promise);
    const result = round.reducer.finish();
    const reason =
      result.nonFinite.length > 0
        ? result.nonFinite.map((n) => `worker ${n.rank} sent ${n.count} non-finite or fp16-overflowing gradient values`).join('; ')
        : undefined;
    const verdict = this.scaler.update(reason);
    const learningRate = this.plateau.learningRate;
    if (verdict.applied) this.shadow.applyUpdate(result.gradients, round.lossScale, learningRate);
    this.shadow.setTrainingState(result.state);
    const header: ReducedHeader = {
      step: round.step,
      applied: verdict.applied,
      skipReason: verdict.applied ? '' : verdict.reason,
      lossScale: round.lossScale,
      dtype: round.reducer.dtype,
      gradientElements: round.reducer.gradientElements,
      stateElements: round.reducer.stateElements,
      learningRate,
      optimizerIteration: this.shadow.iteration,
      nextLossScale: this.scaler.scale,
    };
    this.step = round.step + 1;
    this.rounds.delete(round.step);
    await beforeRelease();
    round.outcome.resolve({ header, payload: result.payload });
    if (round.pendingDownloads === 0) round.downloadsDone.resolve();

    if (!verdict.applied) {
      this.runDir.event({ event: 'step_skipped', step: round.step, epoch: plan.epoch + 1, reason: verdict.reason, loss_scale_before: verdict.scaleBefore, loss_scale_after: verdict.scaleAfter, skipped_total: this.scaler.skippedSteps });
      this.reporter.info(`step ${round.step} skipped: ${verdict.reason}; loss scale ${verdict.scaleBefore} → ${verdict.scaleAfter}`);
    } else if (verdict.grew) {
      this.runDir.event({ event: 'loss_scale_increased', step: round.step, from: verdict.scaleBefore, to: verdict.scaleAfter });
    }
    return {
      applied: verdict.applied,
      loss: round.lossSum / plan.batch.length + round.regularizationLoss,
      correct: round.correct,
      batch: plan.batch.length,
      shardSizes: plan.shards.map((shard) => shard.sampleIds.length),
      round,
      header,
      bytesDown: result.payload.reduce((sum, part) => sum + part.byteLength, 0) * plan.members.length,
    };
  }

  /** Sharded evaluation of `ids` on every worker, aggregated (SPEC §3, last point). */
  async evaluate(split: string, ids: readonly number[], returnProbabilities: boolean): Promise<EvaluationSummary> {
    const members = this.world.list();
    const evaluationId = ++this.evaluationCounter;
    const shards = shardBatch([...ids], members.length);
    const waits = members.map((member) => {
      const pending = new Deferred<EvaluationResult>();
      this.pendingEvaluations.set(`${evaluationId}/${member.rank}`, pending);
      return pending.promise;
    });
    for (let i = 0; i < members.length; i++) {
      const member = members[i]!;
      const samples = await this.samples.samplesFor(member, shards[i]!.sampleIds);
      this.world.send(member.rank, { kind: 'evaluate', evaluate: { evaluationId, split, samples, returnProbabilities } });
    }
    const results = await this.guard(Promise.all(waits));
    const confusion = new Array<number>(NUM_CLASSES * NUM_CLASSES).fill(0);
    let count = 0;
    let correct = 0;
    const sampleLosses: number[] = [];
    const sampleIds: number[] = [];
    const probabilities: number[] = [];
    results.forEach((result, i) => {
      const expected = shards[i]!.sampleIds.length;
      if (result.count !== expected || result.sampleLosses.length !== expected || result.confusion.length !== confusion.length) {
        throw new ProtocolError('PROTOCOL_WRONG_SIZE', `${describeMember(members[i]!)} evaluated ${result.count} samples of ${split}, its shard has ${expected}`);
      }
      count += result.count;
      sampleLosses.push(...result.sampleLosses);
      correct += result.correct;
      result.confusion.forEach((n, j) => (confusion[j]! += n));
      sampleIds.push(...result.sampleIds);
      probabilities.push(...result.probabilities);
    });
    // Shards are contiguous slices of `ids` in rank order, so this totals the losses in id order,
    // exactly as a single-process evaluation of the same ids does.
    const loss = meanLoss(sampleLosses, results[0]?.regularizationLoss ?? 0);
    return { split, count, loss, accuracy: correct / count, confusion, sampleIds, probabilities };
  }

  /** Every replica's weights must equal the coordinator's, bit for bit (SPEC §2). */
  private async verifyReplicas(): Promise<void> {
    const members = this.world.list();
    const step = this.step;
    const waits = members.map((member) => {
      const pending = new Deferred<ChecksumResult>();
      this.pendingChecksums.set(`${step}/${member.rank}`, pending);
      this.world.send(member.rank, { kind: 'checksum', checksum: { step } });
      return pending.promise;
    });
    const results = await this.guard(Promise.all(waits));
    const expected = this.shadow.state.checksum();
    results.forEach((result, i) => {
      if (result.sha256 !== expected) {
        const error = new WorldError(
          'REPLICAS_DIVERGED',
          `${describeMember(members[i]!)} holds different weights from the coordinator after step ${step} (sha256 ${result.sha256.slice(0, 12)}… vs ${expected.slice(0, 12)}…): replicas are no longer identical`,
        );
        this.fail(error);
        throw error;
      }
    });
    this.runDir.event({ event: 'replicas_verified', step, sha256: expected, workers: members.length });
  }

  private async saveCheckpoints(epoch: number, validation: EvaluationSummary): Promise<void> {
    this.shadow.syncToModel();
    const meta: CheckpointMeta = {
      runId: this.runId,
      epoch,
      step: this.step,
      valAccuracy: validation.accuracy,
      valLoss: validation.loss,
      model: this.config.model,
      imageSize: this.config.imageSize,
      preprocessing: this.config.preprocessing,
      classes: EMOTION_CLASSES,
      savedAt: new Date().toISOString(),
    };
    if (validation.accuracy > this.bestValAccuracy) {
      const previous = this.bestValAccuracy;
      this.bestValAccuracy = validation.accuracy;
      await this.checkpoints.saveBest(this.shadow.model, meta);
      this.runDir.event({ event: 'checkpoint_saved', kind: 'best', epoch, step: this.step, val_accuracy: validation.accuracy, previous_best: Number.isFinite(previous) ? previous : null });
    }
    const state: TrainingState = {
      version: 1,
      epochsCompleted: epoch,
      step: this.step,
      optimizerIteration: this.shadow.iteration,
      plateau: this.plateau.snapshot(),
      lossScaler: this.scaler.snapshot(),
      bestValAccuracy: this.bestValAccuracy,
      trainableElements: this.shadow.state.trainable.length,
      stateElements: this.shadow.state.state.length,
    };
    await this.checkpoints.saveLast(this.shadow.model, meta, state, this.shadow.slots);
    this.runDir.event({ event: 'checkpoint_saved', kind: 'last', epoch, step: this.step });
  }

  /** Tells every worker to stop and closes the command streams. */
  stopWorkers(reason: string): void {
    this.stopRequested ??= reason;
    for (const member of this.world.list()) {
      if (!member.commands) continue; // never got as far as listening; the launcher reaps it
      try {
        this.world.send(member.rank, { kind: 'stop', stop: { reason } });
      } catch (error) {
        this.reporter.info(`could not send stop to ${describeMember(member)}: ${describeError(error)}`);
      }
    }
    this.world.close();
  }
}
