// A worker's exchange of one step, either way the run reduces gradients (SPEC §3):
//   star: the whole gradient and the statistics go to the coordinator, the reduced ones stream back;
//   ring: the workers reduce the gradients among themselves (ring-allreduce.ts); each then uploads
//         the segment it owns (final values) and its statistics, and only the reduced statistics and
//         the verdict come back — while the all-gather still runs.
// Either way the verdict decides whether the replica applies the step.

import type { AllReduce } from '../shared/config.js';
import type { GradientHeader, ReducedHeader, StepTimings, TrainStep, WorkerRef } from '../shared/wire/index.js';
import type { CoordinatorClient } from './coordinator-client.js';
import type { StepStats } from './replica.js';
import type { RingAllReduce } from './ring-allreduce.js';

/** What the exchange needs of a replica (worker/replica.ts; the exchange benchmark has a flat one). */
export interface ExchangeReplica {
  readonly dtype: GradientHeader['dtype'];
  readonly trainableElements: number;
  readonly stateElements: number;
  ownGradients(): Uint16Array | Float32Array;
  reducedGradients(): Uint16Array | Float32Array;
  uploadPayload(segment?: { offset: number; count: number }): Uint8Array[];
  downloadTargets(ring?: boolean): Uint8Array[];
}

export interface StepExchangeContext {
  client: CoordinatorClient;
  replica: ExchangeReplica;
  member: WorkerRef;
  rank: number;
  allreduce: AllReduce;
  ring: RingAllReduce | undefined;
}

/**
 * The ring among the workers broke in this step (a peer died, a stream failed). `verdict`: the
 * coordinator's answer to this worker's upload when it went out before the ring broke — it
 * settles once the coordinator decided the step (abandoned, or decided without this replica
 * having the whole result).
 */
export class RingFailure extends Error {
  constructor(
    readonly failure: unknown,
    readonly verdict: Promise<ReducedHeader> | undefined,
  ) {
    super(failure instanceof Error ? failure.message : String(failure), { cause: failure });
    this.name = 'RingFailure';
  }
}

export async function exchangeStep(context: StepExchangeContext, order: TrainStep, stats: Pick<StepStats, 'lossSum' | 'correct' | 'regularizationLoss' | 'nonFinite'>, shardSize: number, lossScale: number, timings: StepTimings): Promise<ReducedHeader> {
  const { client, replica } = context;
  const header: GradientHeader = {
    ...context.member,
    step: order.step,
    generation: order.generation,
    lossScale,
    dtype: replica.dtype,
    gradientElements: replica.trainableElements,
    stateElements: replica.stateElements,
    shardSize,
    lossSum: stats.lossSum,
    correct: stats.correct,
    regularizationLoss: stats.regularizationLoss,
    timings,
    nonFinite: 0,
    segmentOffset: 0,
    segmentElements: 0,
  };
  if (context.allreduce !== 'ring') return client.exchange(header, replica.uploadPayload(), () => replica.downloadTargets());
  const ring = context.ring!.run({
    runId: context.member.runId,
    step: order.step,
    generation: order.generation,
    rank: context.rank,
    ring: order.ring,
    dtype: replica.dtype,
    own: replica.ownGradients(),
    weight: shardSize / order.globalBatch,
    result: replica.reducedGradients(),
  });
  ring.done.catch(() => undefined); // awaited below; it may fail before the owned segment is final
  let owned: { offset: number; count: number };
  try {
    owned = await ring.owned;
  } catch (error) {
    throw new RingFailure(error, undefined);
  }
  const verdict = client.exchange(
    { ...header, nonFinite: stats.nonFinite, segmentOffset: owned.offset, segmentElements: owned.count },
    replica.uploadPayload(owned),
    () => replica.downloadTargets(true),
  );
  verdict.catch(() => undefined); // awaited below, or handed on with a ring failure
  // Both must finish: every segment of the all-gather in this replica's result, and the verdict.
  try {
    await ring.done;
  } catch (error) {
    throw new RingFailure(error, verdict);
  }
  return verdict;
}
