// One synchronous step at a time (SPEC §3): a round per step collects every member's upload into
// its reducer, decides with the loss scaler (apply, or skip everywhere and halve the scale), updates
// the shadow copy, and releases the reduced result to the uploads waiting for it.
//
// Two reducers serve alternate steps: the next step's round opens (its command went out a step
// early) while the current one may still be streaming its result back. `finish(current, next)`
// does the whole hand-over in order: reduce `current` → decide → open `next` → release `current`.
// Opening `next` before releasing `current` means no worker can upload for a step that is not
// open yet, because no worker can start the next step before it has the current result.

import type { Precision } from '../shared/config.js';
import { Deferred } from '../shared/deferred.js';
import { ProtocolError } from '../shared/errors.js';
import type { LossScaler, StepVerdict } from '../shared/loss-scaler.js';
import { PayloadReceiver, type GradientHeader, type ReducedHeader, type StepTimings } from '../shared/wire/index.js';
import type { GradientHeader__Output } from '../shared/wire/generated/emotrain/v1/GradientHeader.js';
import type { ShadowState } from './engine-ports.js';
import { checkFiniteState, checkUploadHeader } from './message-checks.js';
import { GradientReducer } from './reducer.js';
import type { Shard } from './sharding.js';
import { describeMember, type Member } from './world.js';

/** The plan of one step: which samples each member computes. Fixed before the step is sent. */
export interface StepPlan {
  step: number;
  epoch: number;
  batch: number[];
  members: Member[];
  shards: Shard[];
}

/** An accepted gradient upload, being received. */
export interface UploadSession {
  readonly receiver: PayloadReceiver;
  /** Called once every byte arrived; resolves with what to send back when the step is reduced. */
  complete(): Promise<{ header: ReducedHeader; payload: readonly Uint8Array[] }>;
  /** The upload failed or its caller went away; forget what it staged. */
  abort(reason: string): void;
  /** The reduced result was streamed back (or could not be): its buffers may be reused. */
  downloaded(): void;
}

/** What a step did. */
export interface StepOutcome {
  plan: StepPlan;
  verdict: StepVerdict;
  header: ReducedHeader;
  /** Mean loss over the global batch (cross-entropy + the L2 penalty). */
  loss: number;
  correct: number;
  /** Phase timings each member sent with its upload, by rank. */
  timings: ReadonlyMap<number, StepTimings>;
  bytesUp: number;
  bytesDown: number;
}

interface Round {
  plan: StepPlan;
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

export class StepEngine {
  private readonly reducers: [GradientReducer, GradientReducer];
  private readonly rounds = new Map<number, Round>();
  private readonly lastRoundOf: [Round | undefined, Round | undefined] = [undefined, undefined];
  private readonly failure = new Deferred<never>();

  constructor(
    private readonly shadow: ShadowState,
    private readonly scaler: LossScaler,
    precision: Precision,
  ) {
    const reducer = () => new GradientReducer(shadow.trainableElements, shadow.stateElements, precision);
    this.reducers = [reducer(), reducer()];
  }

  /** The loss scale the next round opens at. */
  get lossScale(): number {
    return this.scaler.scale;
  }

  get skippedSteps(): number {
    return this.scaler.skippedSteps;
  }

  /** Steps open for uploads (for error messages). */
  get openSteps(): number[] {
    return [...this.rounds.keys()];
  }

  /** Fails every wait in progress, now and later, with `error`. */
  abort(error: Error): void {
    if (this.failure.settled) return;
    this.failure.reject(error);
    for (const round of this.rounds.values()) round.outcome.reject(error);
  }

  private guard<T>(promise: Promise<T>): Promise<T> {
    return Promise.race([promise, this.failure.promise]);
  }

  /**
   * Opens `plan`'s step for uploads at the current loss scale. Its reducer is the one step - 2
   * used, whose result must have been streamed to every worker first (it has, in practice: no
   * worker could upload step - 1 without it).
   */
  async open(plan: StepPlan): Promise<void> {
    const index = plan.step % 2;
    await this.guard(this.lastRoundOf[index]?.downloadsDone.promise ?? Promise.resolve());
    const reducer = this.reducers[index]!;
    const round: Round = {
      plan,
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

  /** Accepts `member`'s upload for its step after checking the header against the round. */
  beginUpload(member: Member, received: GradientHeader__Output): UploadSession {
    const who = describeMember(member);
    const round = this.rounds.get(received.step);
    if (!round) {
      const open = this.openSteps;
      throw new ProtocolError(
        'PROTOCOL_WRONG_STEP',
        `${who} uploaded gradients for step ${received.step}, but the current step is ${open.length > 0 ? open.join(' or ') : 'not open for uploads'}`,
      );
    }
    const { reducer } = round;
    const step = round.plan.step;
    const shardSize = reducer.shardSizeOf(member.rank);
    if (shardSize === undefined) throw new ProtocolError('PROTOCOL_INVALID', `${who} has no shard in step ${step}`);
    const header: GradientHeader = checkUploadHeader(
      received,
      { step, dtype: reducer.dtype, gradientElements: reducer.gradientElements, stateElements: reducer.stateElements, lossScale: round.lossScale, shardSize },
      who,
    );
    if (reducer.hasCompleted(member.rank) || round.uploading.has(member.rank)) {
      throw new ProtocolError('PROTOCOL_INVALID', `${who} uploaded step ${step} twice`);
    }
    round.uploading.add(member.rank);
    const staging = reducer.stagingFor(member.rank);
    const receiver = new PayloadReceiver(staging, `${who}'s gradients for step ${step}`);
    let finished = false;
    return {
      receiver,
      complete: async () => {
        const state = staging[1]!;
        checkFiniteState(new Float32Array(state.buffer, state.byteOffset, state.byteLength / 4), step, who);
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

  /**
   * Waits for every upload of `plan`'s step, decides (apply or skip), updates the shadow copy,
   * opens `next` (when there is one) and releases the reduced result to the workers.
   */
  async finish(plan: StepPlan, learningRate: number, next: StepPlan | undefined): Promise<StepOutcome> {
    const round = this.rounds.get(plan.step);
    if (!round) throw new RangeError(`step ${plan.step} is not open`);
    await this.guard(round.reduced.promise);
    const result = round.reducer.finish();
    const reason =
      result.nonFinite.length > 0
        ? result.nonFinite.map((n) => `worker ${n.rank} sent ${n.count} non-finite or fp16-overflowing gradient values`).join('; ')
        : undefined;
    const verdict = this.scaler.update(reason);
    if (verdict.applied) this.shadow.applyUpdate(result.gradients, round.lossScale, learningRate);
    this.shadow.setTrainingState(result.state);
    const header: ReducedHeader = {
      step: plan.step,
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
    this.rounds.delete(plan.step);
    if (next) await this.open(next);
    round.outcome.resolve({ header, payload: result.payload });
    if (round.pendingDownloads === 0) round.downloadsDone.resolve();
    return {
      plan,
      verdict,
      header,
      loss: round.lossSum / plan.batch.length + round.regularizationLoss,
      correct: round.correct,
      timings: round.timings,
      bytesUp: round.bytesUp,
      bytesDown: result.payload.reduce((sum, part) => sum + part.byteLength, 0) * plan.members.length,
    };
  }
}
