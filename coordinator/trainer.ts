// The run's loop (SPEC §1, §3): epochs of synchronous steps over the world's members, then the
// sharded validation, the replica check and the callbacks (LR schedule, early stopping, best and
// last checkpoints), whose decisions it carries out. It tells what happens on RunEvents and takes
// its collaborators as interfaces (engine-ports.ts), so it runs in-process against fakes in tests.
//
// The world may change under it (SPEC §8): world-keeper.ts decides when it may plan work, and
// every step, evaluation and replica check runs through `withWorld`, which runs it again in the
// new world when a change voided it.

import { EMOTION_CLASSES } from '../shared/classes.js';
import type { RunConfig } from '../shared/config.js';
import { Deferred } from '../shared/deferred.js';
import { WorldChanged, describeError } from '../shared/errors.js';
import { deriveSeed } from '../shared/random.js';
import type { StatePosition } from '../shared/state-layout.js';
import type { Decision, EpochLogs, TrainingCallback } from './callbacks/callback.js';
import type { EarlyStopping } from './callbacks/early-stopping.js';
import type { ModelCheckpoint } from './callbacks/model-checkpoint.js';
import type { ReduceLROnPlateau } from './callbacks/reduce-lr-on-plateau.js';
import type { CheckpointMeta, TrainingState } from './checkpoint-store.js';
import type { Clock } from './clock.js';
import type { CheckpointWriter, SampleSource, ShadowState } from './engine-ports.js';
import type { PendingReplies } from './pending-replies.js';
import type { EpochMetrics } from '../shared/run-directory.js';
import type { RunEvents } from './run-events.js';
import { evaluateOnMembers, verifyReplicas, type EvaluationSummary, type MemberRequests } from './sharded-requests.js';
import { EpochProgress } from './epoch-progress.js';
import { EpochPlan, shardBatch } from './sharding.js';
import type { StepEngine, StepOutcome, StepPlan } from './step-engine.js';
import { describeMember, type Member, type World } from './world.js';
import { DEFAULT_WORLD_POLICY, StopRequested, WorldKeeper, type WorldPolicy } from './world-keeper.js';

export interface SplitIds {
  train: number[];
  val: number[];
  test: number[];
}

export interface RunOutcome {
  status: 'finished' | 'stopped';
  epochsCompleted: number;
  bestValAccuracy: number;
  earlyStopped: boolean;
}

export interface TrainerOptions {
  config: Pick<RunConfig, 'runId' | 'epochs' | 'stepsPerEpoch' | 'globalBatch' | 'seed' | 'model' | 'imageSize' | 'preprocessing' | 'allreduce'>;
  split: SplitIds;
  world: World;
  engine: StepEngine;
  shadow: ShadowState;
  samples: SampleSource;
  replies: PendingReplies;
  checkpoints: CheckpointWriter;
  events: RunEvents;
  clock: Clock;
  plateau: ReduceLROnPlateau;
  checkpoint: ModelCheckpoint;
  earlyStopping?: EarlyStopping;
  /** Where a resumed run continues from. */
  start?: { step: number; epochsCompleted: number };
  /** The loss scaler's state, for checkpoints/last. */
  lossScalerState: () => TrainingState['lossScaler'];
  policy?: WorldPolicy;
}

export class Trainer {
  private readonly options: TrainerOptions;
  private readonly callbacks: TrainingCallback[];
  private readonly failure = new Deferred<never>();
  /** What `failure` rejected with. */
  private failedWith: Error | undefined;
  private readonly requests: MemberRequests;
  private readonly keeper: WorldKeeper;
  private step: number;
  private epochsCompleted: number;
  private learningRate: number;
  private evaluationCounter = 0;
  private checksumCounter = 0;
  private stopReason: string | undefined;
  /** Set once the workers were told to stop: from then on they are expected to leave. */
  private workersStopped = false;
  private earlyStopped = false;

  constructor(options: TrainerOptions) {
    this.options = options;
    this.step = options.start?.step ?? 0;
    this.epochsCompleted = options.start?.epochsCompleted ?? 0;
    this.learningRate = options.plateau.learningRate;
    // Keras calls callbacks in list order; ModelCheckpoint goes last so checkpoints/last holds the
    // state every other callback has reached.
    this.callbacks = [options.plateau, ...(options.earlyStopping ? [options.earlyStopping] : []), options.checkpoint];
    this.requests = { world: options.world, samples: options.samples, replies: options.replies, guard: (p) => this.guard(p) };
    this.keeper = new WorldKeeper(
      { world: options.world, engine: options.engine, samples: options.samples, replies: options.replies, events: options.events, policy: options.policy ?? DEFAULT_WORLD_POLICY },
      {
        step: () => this.step,
        stopReason: () => this.stopReason,
        workersStopped: () => this.workersStopped,
        failure: () => this.failedWith,
        fail: (error) => this.fail(error),
        guard: (promise) => this.guard(promise),
      },
    );
  }

  /** Lets `member` fetch the state (ProtocolSession waits on it); see WorldKeeper.admit. */
  admit(member: Member): Promise<void> {
    return this.keeper.admit(member);
  }

  /** A worker could not finish `step` (a StepFailure report); see WorldKeeper.stepFailed. */
  stepFailed(member: Member, step: number, generation: number, message: string): void {
    this.keeper.stepFailed(member, step, generation, message);
  }

  get currentStep(): number {
    return this.step;
  }

  get epochsDone(): number {
    return this.epochsCompleted;
  }

  /** Where training stands, for a worker fetching the state. */
  position(): StatePosition {
    return { step: this.step, learningRate: this.learningRate, lossScale: this.options.engine.lossScale };
  }

  /** Ends the run with an error: every wait in progress rejects with it. */
  fail(error: Error): void {
    if (this.failedWith) return;
    this.failedWith = error;
    this.failure.reject(error);
    this.options.engine.abort(error);
    this.options.replies.rejectAll(error);
  }

  /** Asks the run to stop at the next step boundary (Ctrl-C, a stop request); checkpoints stay as of the last epoch. */
  requestStop(reason: string): void {
    if (this.stopReason !== undefined) return;
    this.stopReason = reason;
    this.keeper.wake();
  }

  private guard<T>(promise: Promise<T>): Promise<T> {
    return Promise.race([promise, this.failure.promise]);
  }

  /** Resolves once every member has joined and opened its command stream (see awaitViableWorld). */
  async waitForWorld(timeoutMs: number): Promise<void> {
    try {
      await this.keeper.awaitViableWorld({ initial: true, timeoutMs });
    } catch (error) {
      if (!(error instanceof StopRequested)) throw error;
    }
  }

  async train(): Promise<RunOutcome> {
    try {
      await this.epochs();
    } catch (error) {
      if (!(error instanceof StopRequested)) throw error;
    }
    return this.finishTraining();
  }

  private async epochs(): Promise<void> {
    const { config, events, clock } = this.options;
    for (let epoch = this.epochsCompleted; epoch < config.epochs && !this.earlyStopped; epoch++) {
      if (this.stopReason !== undefined) break;
      const epochStart = clock.now();
      const learningRate = this.learningRate;
      const progress = await this.trainEpoch(epoch, learningRate);
      if (this.stopReason !== undefined) break;

      const validation = await this.keeper.withWorld(() => evaluateOnMembers(this.requests, ++this.evaluationCounter, 'val', this.options.split.val, false));
      events.emit({ event: 'validation_completed', epoch: epoch + 1, split: 'val', count: validation.count, loss: validation.loss, accuracy: validation.accuracy, confusion: validation.confusion });
      // The shadow's last update may still be running in its Adam thread.
      await this.guard(this.options.shadow.settled());
      const checksum = this.options.shadow.checksum();
      const checked = await this.keeper.withWorld(() => verifyReplicas(this.requests, ++this.checksumCounter, this.step, checksum));
      events.emit({ event: 'replicas_verified', step: this.step, sha256: checksum, workers: checked.length });
      this.epochsCompleted = epoch + 1;
      const row: EpochMetrics = {
        epoch: epoch + 1,
        loss: progress.loss,
        accuracy: progress.accuracy,
        val_loss: validation.loss,
        val_accuracy: validation.accuracy,
        lr: learningRate,
        loss_scale: this.options.engine.lossScale,
        images_per_second: progress.imagesPerSecond,
        skipped_steps: progress.skipped,
      };
      events.emit({
        event: 'epoch_end', ...row, epochs: config.epochs, steps: progress.steps, step: this.step,
        seconds: (clock.now() - epochStart) / 1000, samples_per_worker: progress.samplesPerRank, phase_seconds: progress.phaseSeconds,
      });
      if (progress.skipped * 2 > progress.steps) {
        events.emit({
          event: 'warning',
          code: 'STEPS_MOSTLY_SKIPPED',
          message: `epoch ${epoch + 1}: ${progress.skipped} of ${progress.steps} steps were skipped (non-finite or fp16-overflowing gradients); the loss scale is now ${this.options.engine.lossScale}`,
        });
      }
      const logs: EpochLogs = { epoch: row.epoch, loss: row.loss, accuracy: row.accuracy, val_loss: row.val_loss, val_accuracy: row.val_accuracy, lr: row.lr };
      for (const callback of this.callbacks) {
        for (const decision of callback.onEpochEnd?.(logs) ?? []) await this.carryOut(decision, validation);
      }
    }
  }

  private async finishTraining(): Promise<RunOutcome> {
    const { events } = this.options;
    await this.guard(this.options.shadow.settled());
    if (this.stopReason === undefined) {
      for (const callback of this.callbacks) {
        for (const decision of callback.onTrainEnd?.() ?? []) await this.carryOut(decision, undefined);
      }
    }
    if (this.step > 0 && this.options.shadow.iteration === 0) {
      events.emit({
        event: 'warning',
        code: 'NO_UPDATE_APPLIED',
        message: `no update was applied: all ${this.step} steps were skipped (non-finite or fp16-overflowing gradients, loss scale now ${this.options.engine.lossScale}); the weights are the initial ones — try --precision fp32 or a lower --initial-loss-scale`,
      });
    }
    return {
      status: this.stopReason === undefined ? 'finished' : 'stopped',
      epochsCompleted: this.epochsCompleted,
      bestValAccuracy: this.options.checkpoint.bestValAccuracy,
      earlyStopped: this.earlyStopped,
    };
  }

  /** Runs the steps of one epoch: from wherever it got, again after every world change. */
  private async trainEpoch(epoch: number, learningRate: number): Promise<EpochProgress> {
    const { config } = this.options;
    const plan = new EpochPlan(this.options.split.train, config.globalBatch, config.seed, epoch);
    const steps = config.stepsPerEpoch > 0 ? Math.min(config.stepsPerEpoch, plan.steps) : plan.steps;
    const progress = new EpochProgress(epoch, config.epochs, steps);
    const firstStep = this.step;
    while (this.step - firstStep < steps && this.stopReason === undefined) {
      await this.keeper.withWorld(() => this.runSteps(plan, epoch, firstStep, steps, progress, learningRate));
    }
    return progress;
  }

  /**
   * Runs steps from the current one, each step's command going out one step ahead, until the
   * epoch ends, a stop is asked for, or a joiner waits to be admitted (the steps in flight finish
   * first). A world change under it rejects with WORLD_CHANGED.
   */
  private async runSteps(plan: EpochPlan, epoch: number, firstStep: number, steps: number, progress: EpochProgress, learningRate: number): Promise<void> {
    const { engine, events, clock } = this.options;
    this.keeper.inFlight = true;
    try {
      let current: StepPlan | undefined = this.planStep(plan, this.step - firstStep, epoch, this.step);
      // Open before sending: the first step's uploads must find their round.
      await engine.open(current);
      await this.sendStep(current);
      while (current !== undefined) {
        const stepStart = clock.now();
        const s: number = current.step - firstStep;
        // Plans of the new world go out only after the old world's steps are planned again.
        if (current.generation !== engine.generation) throw new WorldChanged(`step ${current.step} was abandoned`);
        const more: boolean = s + 1 < steps && this.stopReason === undefined && !this.keeper.joinersWaiting;
        const next: StepPlan | undefined = more ? this.planStep(plan, s + 1, epoch, current.step + 1) : undefined;
        if (next) await this.sendStep(next);
        const outcome = await engine.finish(current, learningRate, next);
        this.step = current.step + 1;
        this.keeper.stepDecided(current.step);
        this.reportVerdict(outcome, epoch);
        events.emit(progress.add(outcome, (clock.now() - stepStart) / 1000));
        current = next;
      }
    } finally {
      this.keeper.inFlight = false;
    }
  }

  private reportVerdict(outcome: StepOutcome, epoch: number): void {
    const { verdict } = outcome;
    const step = outcome.header.step;
    if (!verdict.applied) {
      this.options.events.emit({
        event: 'step_skipped', step, epoch: epoch + 1, reason: verdict.reason, loss_scale_before: verdict.scaleBefore,
        loss_scale_after: verdict.scaleAfter, skipped_total: this.options.engine.skippedSteps,
      });
    } else if (verdict.grew) {
      this.options.events.emit({ event: 'loss_scale_increased', step, from: verdict.scaleBefore, to: verdict.scaleAfter });
    }
  }

  /** The step's batch, re-sharded over the members ready now. */
  private planStep(plan: EpochPlan, stepInEpoch: number, epoch: number, step: number): StepPlan {
    const { world, engine } = this.options;
    const members = world.ready();
    if (members.length === 0) throw new WorldChanged(`step ${step} has no worker to run on`);
    const batch = plan.batch(stepInEpoch);
    return { step, generation: engine.generation, epoch, batch, members, shards: shardBatch(batch, members.length) };
  }

  /** Sends every member its shard of the step (image bytes only where it lacks them). */
  private async sendStep(plan: StepPlan): Promise<void> {
    // With --allreduce ring, every member also learns the ring: the members in rank order.
    const ring = this.options.config.allreduce === 'ring' ? plan.members.map((m) => ({ rank: m.rank, address: m.peerAddress })) : [];
    for (let i = 0; i < plan.members.length; i++) {
      const member = plan.members[i]!;
      const samples = await this.options.samples.samplesFor(member, plan.shards[i]!.sampleIds);
      // The world may have changed while the samples were read: then this plan is void.
      if (plan.generation !== this.options.engine.generation) throw new WorldChanged(`step ${plan.step} was abandoned while it was being sent`);
      this.options.world.send(member.rank, {
        kind: 'trainStep',
        trainStep: {
          step: plan.step,
          generation: plan.generation,
          epoch: plan.epoch,
          worldSize: plan.members.length,
          globalBatch: plan.batch.length,
          samples,
          stepSeed: deriveSeed(this.options.config.seed, 0xd50, plan.step, member.rank),
          ring,
        },
      });
    }
  }

  private async carryOut(decision: Decision, validation: EvaluationSummary | undefined): Promise<void> {
    const { events, shadow, checkpoints } = this.options;
    const epoch = this.epochsCompleted;
    switch (decision.kind) {
      case 'set_learning_rate':
        this.learningRate = decision.learningRate;
        events.emit({ event: 'lr_reduced', epoch, from: decision.previous, to: decision.learningRate, monitor: decision.monitor });
        return;
      case 'save_checkpoint':
        if (decision.checkpoint === 'best') {
          await checkpoints.saveBest(this.checkpointMeta(validation));
          events.emit({ event: 'checkpoint_saved', kind: 'best', epoch, step: this.step, val_accuracy: decision.value, previous_best: decision.previousBest });
        } else {
          await checkpoints.saveLast(this.checkpointMeta(validation), this.trainingState());
          events.emit({ event: 'checkpoint_saved', kind: 'last', epoch, step: this.step });
        }
        return;
      case 'remember_weights':
        shadow.rememberWeights();
        return;
      case 'restore_weights':
        if (!shadow.restoreRememberedWeights()) {
          events.emit({ event: 'warning', code: 'RESTORE_UNAVAILABLE', message: `no weights were remembered to restore from epoch ${decision.epoch}` });
          return;
        }
        events.emit({ event: 'weights_restored', epoch, from_epoch: decision.epoch, monitor: decision.monitor, best: decision.best });
        // The run's final state is now the restored weights (with the optimiser as it is, as Keras
        // leaves it after fit): that is what checkpoints/last must hold.
        await checkpoints.saveLast(this.checkpointMeta(validation), this.trainingState());
        events.emit({ event: 'checkpoint_saved', kind: 'last', epoch, step: this.step, restored_from_epoch: decision.epoch });
        return;
      case 'stop_training':
        this.earlyStopped = true;
        events.emit({ event: 'early_stopped', epoch, monitor: decision.monitor, best: decision.best, best_epoch: decision.bestEpoch, patience: decision.patience });
        return;
      case 'warn':
        events.emit({ event: 'warning', code: decision.code, message: decision.message });
        return;
    }
  }

  private checkpointMeta(validation: EvaluationSummary | undefined): CheckpointMeta {
    const { config, clock } = this.options;
    return {
      runId: config.runId,
      epoch: this.epochsCompleted,
      step: this.step,
      valAccuracy: validation?.accuracy ?? NaN,
      valLoss: validation?.loss ?? NaN,
      model: config.model,
      imageSize: config.imageSize,
      preprocessing: config.preprocessing,
      classes: EMOTION_CLASSES,
      savedAt: new Date(clock.now()).toISOString(),
    };
  }

  private trainingState(): TrainingState {
    const { shadow } = this.options;
    return {
      version: 1,
      epochsCompleted: this.epochsCompleted,
      step: this.step,
      optimizerIteration: shadow.iteration,
      plateau: this.options.plateau.snapshot(),
      lossScaler: this.options.lossScalerState(),
      bestValAccuracy: this.options.checkpoint.bestValAccuracy,
      trainableElements: shadow.trainableElements,
      stateElements: shadow.stateElements,
      ...(this.options.earlyStopping ? { earlyStopping: this.options.earlyStopping.snapshot() } : {}),
    };
  }

  /** Tells every member to stop and closes the command streams. */
  stopWorkers(reason: string): void {
    this.stopReason ??= reason;
    this.workersStopped = true;
    const { world } = this.options;
    for (const member of world.list()) {
      if (!member.commands) continue; // never got as far as listening; the launcher reaps it
      try {
        world.send(member.rank, { kind: 'stop', stop: { reason } });
      } catch (error) {
        this.options.events.emit({ event: 'warning', code: 'STOP_NOT_SENT', message: `could not send stop to ${describeMember(member)}: ${describeError(error)}` });
      }
    }
    world.close();
  }
}
