// One synchronous step at a time (SPEC §3), streamed: a round per step feeds every member's upload
// chunks into its reducer as they arrive; each chunk that every member has sent is reduced and
// streamed back to every member at once, while later chunks still upload. When the last chunk is
// in, the loss scaler decides (apply, or skip everywhere and halve the scale), the verdict goes to
// every member after its chunks, and the shadow copy applies the update off the event loop.
//
// Two reducers serve alternate steps: the next step's round opens (its command went out a step
// early) while the current one may still be streaming its result back. `finish(current, next)`
// does the hand-over in order: wait for the reduction → decide → open `next` → send the verdict.
// Opening `next` before the verdict means no worker can upload for a step that is not open yet,
// because no worker starts the next step before it has the current verdict.
//
// When a member is lost, `abandon` voids every round not yet decided: each member's exchange fails
// with STEP_ABANDONED (the worker applies nothing of it), and the world generation goes up, so that
// uploads and plans of the old world are told from those of the new one, in which the trainer plans
// the same steps again. A round already decided is never undone: its verdict goes to every member
// still there.

import type { AllReduce, Precision } from '../shared/config.js';
import { Deferred } from '../shared/deferred.js';
import { ProtocolError, WorldChanged } from '../shared/errors.js';
import type { LossScaler, StepVerdict } from '../shared/loss-scaler.js';
import { CHUNK_BYTES, type GradientHeader, type ReducedHeader, type StepTimings, type TensorChunk } from '../shared/wire/index.js';
import type { GradientHeader__Output } from '../shared/wire/generated/emotrain/v1/GradientHeader.js';
import type { ShadowState } from './engine-ports.js';
import { checkGradientHeaderFields, checkUploadHeader } from './message-checks.js';
import { GradientReducer, ReductionScratch, type FinalRange, type RoundReducer } from './reducer.js';
import { RingReducer } from './ring-reducer.js';
import type { Shard } from './sharding.js';
import { describeMember, type Member } from './world.js';

/** The plan of one step: which samples each member computes. Fixed before the step is sent. */
export interface StepPlan {
  step: number;
  /** The world generation it was planned in (see `StepEngine.abandon`). */
  generation: number;
  epoch: number;
  batch: number[];
  members: Member[];
  shards: Shard[];
}

/** Where a member's exchange call takes what the coordinator streams back. */
export interface DownloadSink {
  /** Queues a chunk of the reduced payload (a view of a buffer kept intact until `done`). */
  chunk(chunk: TensorChunk): void;
  /** Queues the verdict after the chunks, then ends the call; `done` runs once all is flushed (or failed). */
  verdict(header: ReducedHeader, done: () => void): void;
  /** Ends the call with this error (the step restarted, or the run failed). */
  fail(error: Error): void;
  /**
   * Stops reading the member's upload at once, before another chunk is handed over: the reducer
   * keeps the last one by reference, so the transport must leave its bytes intact until resume().
   */
  pause(): void;
  resume(): void;
}

/** An accepted gradient upload, being received. */
export interface UploadSession {
  /**
   * One chunk of the upload, in order. The reducer reads it in place; if it must wait for slower
   * members it is kept by reference and the upload is paused (DownloadSink.pause) until it is reduced.
   */
  write(chunk: TensorChunk): void;
  /** The upload stream ended: every declared byte must have arrived. */
  end(): void;
  /** The upload failed or its caller went away. */
  abort(reason: string): void;
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

/**
 * Times one member's upload of a step may break off (cancelled, cut short, gone quiet) and be
 * sent again; once more and the member is expelled as misbehaving, and the step is planned again
 * without it. The run itself never fails for it.
 */
const MAX_BREAKS_PER_MEMBER = 3;

interface Upload {
  member: Member;
  header: GradientHeader;
  sink: DownloadSink;
  paused: boolean;
  ended: boolean;
}

interface Round {
  plan: StepPlan;
  lossScale: number;
  reducer: RoundReducer;
  uploads: Map<number, Upload>;
  /** Per rank: how often its upload of this step broke off. */
  breaks: Map<number, number>;
  /** Resolves when every chunk is reduced and every member's upload ended whole. */
  reduced: Deferred<void>;
  /** Resolves when the reduced payload may be overwritten: every member has it and the shadow applied it. */
  released: Deferred<void>;
  bytesUp: number;
}

export class StepEngine {
  private readonly reducers: [RoundReducer, RoundReducer];
  private readonly rounds = new Map<number, Round>();
  private readonly lastRoundOf: [Round | undefined, Round | undefined] = [undefined, undefined];
  private readonly failure = new Deferred<never>();
  private currentGeneration = 0;

  constructor(
    private readonly shadow: ShadowState,
    private readonly scaler: LossScaler,
    precision: Precision,
    options: { allreduce?: AllReduce; chunkBytes?: number } = {},
  ) {
    const Reducer = options.allreduce === 'ring' ? RingReducer : GradientReducer;
    const chunkBytes = options.chunkBytes ?? CHUNK_BYTES;
    const scratch = new ReductionScratch(chunkBytes);
    const reducer = () => new Reducer(shadow.trainableElements, shadow.stateElements, precision, chunkBytes, scratch);
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

  /** The world generation: plans and uploads of an older one belong to abandoned steps. */
  get generation(): number {
    return this.currentGeneration;
  }

  /**
   * Voids every round not yet decided (a member was lost): each member's exchange of it fails with
   * STEP_ABANDONED and the trainer's wait for it with WORLD_CHANGED. The generation goes up.
   * Returns the steps abandoned.
   */
  abandon(reason: string): number[] {
    this.currentGeneration++;
    const steps = [...this.rounds.keys()].sort((a, b) => a - b);
    const toWorkers = new ProtocolError('STEP_ABANDONED', `step${steps.length === 1 ? '' : 's'} ${steps.join(', ')} abandoned: ${reason}`);
    const toTrainer = new WorldChanged(`the world changed: ${reason}`);
    for (const round of this.rounds.values()) {
      for (const upload of round.uploads.values()) upload.sink.fail(toWorkers);
      round.uploads.clear();
      round.reduced.promise.catch(() => undefined);
      round.reduced.reject(toTrainer);
      // Nothing of it will be streamed or applied: its reducer is free at once.
      round.released.resolve();
    }
    this.rounds.clear();
    return steps;
  }

  private requireCurrent(plan: StepPlan): void {
    if (plan.generation !== this.currentGeneration) {
      throw new WorldChanged(`step ${plan.step} was planned in world generation ${plan.generation}; the world is at generation ${this.currentGeneration}`);
    }
  }

  /** Fails every wait and every member's exchange in progress, now and later, with `error`. */
  abort(error: Error): void {
    if (this.failure.settled) return;
    this.failure.reject(error);
    for (const round of this.rounds.values()) for (const upload of round.uploads.values()) upload.sink.fail(error);
  }

  private guard<T>(promise: Promise<T>): Promise<T> {
    return Promise.race([promise, this.failure.promise]);
  }

  /**
   * Opens `plan`'s step for uploads at the current loss scale. Its reducer is the one step - 2
   * used, whose result must have been streamed to every member and applied by the shadow first.
   */
  async open(plan: StepPlan): Promise<void> {
    this.requireCurrent(plan);
    const index = plan.step % 2;
    await this.guard(this.lastRoundOf[index]?.released.promise ?? Promise.resolve());
    this.requireCurrent(plan);
    const reducer = this.reducers[index]!;
    const round: Round = {
      plan,
      lossScale: this.scaler.scale,
      reducer,
      uploads: new Map(),
      breaks: new Map(),
      reduced: new Deferred(),
      released: new Deferred(),
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
  beginUpload(member: Member, received: GradientHeader__Output, sink: DownloadSink): UploadSession {
    const who = describeMember(member);
    checkGradientHeaderFields(received, who);
    if (received.generation < this.currentGeneration) {
      throw new ProtocolError('STEP_ABANDONED', `${who} uploaded step ${received.step} of world generation ${received.generation}, which was abandoned (the world is at generation ${this.currentGeneration})`);
    }
    if (received.generation > this.currentGeneration) {
      throw new ProtocolError('PROTOCOL_INVALID', `${who} uploaded step ${received.step} of world generation ${received.generation}; the world is at generation ${this.currentGeneration}`);
    }
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
    const header = checkUploadHeader(
      received,
      { step, dtype: reducer.dtype, gradientElements: reducer.gradientElements, stateElements: reducer.stateElements, lossScale: round.lossScale, shardSize },
      who,
    );
    if (round.uploads.has(member.rank)) throw new ProtocolError('PROTOCOL_INVALID', `${who} uploaded step ${step} twice`);
    reducer.declare(member.rank, received, who);
    const upload: Upload = { member, header, sink, paused: false, ended: false };
    round.uploads.set(member.rank, upload);
    const what = `${who}'s gradients for step ${step}`;
    const live = () => round.uploads.get(member.rank) === upload;
    return {
      write: (chunk) => {
        if (!live()) return;
        const final = reducer.accept(member.rank, chunk.offset, chunk.data, what);
        round.bytesUp += chunk.data.byteLength;
        this.stream(round, final);
        this.balance(round);
        this.checkReduced(round);
      },
      end: () => {
        if (!live()) return;
        if (!reducer.hasCompleted(member.rank)) {
          // Cut off (a cancelled call, a dropped connection): what it sent is dropped and the
          // member may send the step again, as after an abort.
          const cut = `ended after ${reducer.receivedBytes(member.rank)} of ${reducer.expectedBytesOf(member.rank)} bytes`;
          this.dropUpload(round, upload, `${who}'s upload ${cut}`);
          throw new ProtocolError('UPLOAD_INCOMPLETE', `${what}: stream ${cut}; send the step again`);
        }
        upload.ended = true;
        this.checkReduced(round);
      },
      abort: (reason) => {
        if (live()) this.dropUpload(round, upload, `${who}'s upload ${reason}`);
      },
    };
  }

  private checkReduced(round: Round): void {
    if (round.reduced.settled || !round.reducer.ready) return;
    if (round.plan.members.every((m) => round.uploads.get(m.rank)?.ended)) round.reduced.resolve();
  }

  /**
   * An upload broke off before the verdict. If nothing of the round was reduced yet, only its data
   * is dropped and the member may send again; otherwise the sums hold part of it, so the step
   * restarts: every other member's exchange fails with STEP_RESTARTED and they upload again. A
   * member whose upload breaks off more than MAX_BREAKS_PER_MEMBER times is refused as invalid
   * (the session expels it; losing it abandons the step for everyone).
   */
  private dropUpload(round: Round, upload: Upload, why: string): void {
    if (round.reduced.settled) return;
    const { rank } = upload.member;
    round.uploads.delete(rank);
    const breaks = (round.breaks.get(rank) ?? 0) + 1;
    round.breaks.set(rank, breaks);
    if (!round.reducer.started) round.reducer.discard(rank);
    if (breaks > MAX_BREAKS_PER_MEMBER) {
      throw new ProtocolError('PROTOCOL_INVALID', `${why}: its upload of step ${round.plan.step} broke off ${breaks} times, more than the ${MAX_BREAKS_PER_MEMBER} a member may`);
    }
    if (!round.reducer.started) return;
    const restart = new ProtocolError('STEP_RESTARTED', `step ${round.plan.step} restarted: ${why}; upload it again`);
    for (const other of round.uploads.values()) other.sink.fail(restart);
    round.uploads.clear();
    round.bytesUp = 0;
    round.reducer.begin(round.plan.step, round.plan.members.map((m, i) => ({ rank: m.rank, shardSize: round.plan.shards[i]!.sampleIds.length })), round.plan.batch.length);
  }

  /** Streams newly final ranges of the reduced payload to every member. */
  private stream(round: Round, final: readonly FinalRange[]): void {
    if (final.length === 0) return;
    const payload = round.reducer.payload();
    for (const range of final) {
      const data = sliceOfPayload(payload, range);
      for (const upload of round.uploads.values()) upload.sink.chunk({ offset: range.offset, data: Buffer.from(data.buffer, data.byteOffset, data.byteLength) });
    }
  }

  /**
   * Pauses the members whose last chunk waits for slower ones (the reducer holds it where the
   * transport put it) and resumes those whose chunks are all reduced. A member is at most one
   * chunk ahead in the coordinator's memory; flow control keeps the rest in the network.
   */
  private balance(round: Round): void {
    for (const upload of round.uploads.values()) {
      const backlog = round.reducer.backlog(upload.member.rank);
      if (!upload.paused && backlog > 0) {
        upload.paused = true;
        upload.sink.pause();
      } else if (upload.paused && backlog === 0) {
        upload.paused = false;
        upload.sink.resume();
      }
    }
  }

  /**
   * Waits for every chunk of `plan`'s step, decides (apply or skip), starts the shadow's update,
   * opens `next` (when there is one) and sends the verdict to every member.
   */
  async finish(plan: StepPlan, learningRate: number, next: StepPlan | undefined): Promise<StepOutcome> {
    this.requireCurrent(plan);
    const round = this.rounds.get(plan.step);
    if (!round) throw new RangeError(`step ${plan.step} is not open`);
    await this.guard(round.reduced.promise);
    const { reducer } = round;
    const nonFinite = reducer.nonFinite;
    const reason = nonFinite.length > 0 ? nonFinite.map((n) => `worker ${n.rank} sent ${n.count} non-finite or fp16-overflowing gradient values`).join('; ') : undefined;
    const verdict = this.scaler.update(reason);
    if (verdict.applied) this.shadow.applyUpdate(reducer.gradientWire, round.lossScale, learningRate);
    this.shadow.setTrainingState(reducer.state);
    const header: ReducedHeader = {
      step: plan.step,
      applied: verdict.applied,
      skipReason: verdict.applied ? '' : verdict.reason,
      lossScale: round.lossScale,
      dtype: reducer.dtype,
      gradientElements: reducer.gradientElements,
      stateElements: reducer.stateElements,
      learningRate,
      optimizerIteration: this.shadow.iteration,
      nextLossScale: this.scaler.scale,
    };
    this.rounds.delete(plan.step);
    // The verdict goes out even when the world changed while `next` waited to open: this step is
    // decided and applied by the shadow, so every member still there must apply it too.
    if (next) {
      await this.open(next).catch((error: unknown) => {
        if (!(error instanceof WorldChanged)) throw error;
      });
    }
    const applied = this.shadow.settled();
    const delivered = new Deferred<void>();
    let pendingDownloads = round.uploads.size;
    for (const upload of round.uploads.values()) {
      upload.sink.verdict(header, () => {
        if (--pendingDownloads === 0) delivered.resolve();
      });
    }
    if (pendingDownloads === 0) delivered.resolve();
    Promise.all([applied, delivered.promise]).then(
      () => round.released.resolve(),
      (error: unknown) => round.released.reject(error),
    );
    // Totals in rank order, so the doubles are the same in every run.
    const timings = new Map<number, StepTimings>();
    let lossSum = 0;
    let correct = 0;
    let regularizationLoss = 0;
    for (const member of plan.members) {
      const upload = round.uploads.get(member.rank)!;
      timings.set(member.rank, upload.header.timings);
      lossSum += upload.header.lossSum;
      correct += upload.header.correct;
      regularizationLoss = upload.header.regularizationLoss;
    }
    return {
      plan,
      verdict,
      header,
      loss: lossSum / plan.batch.length + regularizationLoss,
      correct,
      timings,
      bytesUp: round.bytesUp,
      bytesDown: reducer.payload().reduce((sum, part) => sum + part.byteLength, 0) * round.uploads.size,
    };
  }
}

/** The bytes of `range` within the reduced payload's segments (a chunk never spans two). */
function sliceOfPayload(payload: readonly Uint8Array[], range: FinalRange): Uint8Array {
  let start = range.offset;
  for (const segment of payload) {
    if (start < segment.byteLength) return segment.subarray(start, start + range.length);
    start -= segment.byteLength;
  }
  throw new RangeError(`range at byte ${range.offset} is beyond the payload`);
}
