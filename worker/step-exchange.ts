// A worker's exchange of one step, either way the run reduces gradients (SPEC §3):
//   star: the whole gradient and the statistics go to the coordinator, the reduced ones stream back;
//   ring: the workers reduce the gradients among themselves (ring-allreduce.ts); each uploads the
//         segment it owns (final values), chunk by chunk as the reduce-scatter makes them final,
//         and its statistics, and only the reduced statistics and the verdict come back — while
//         the all-gather still runs.
// Either way the verdict decides whether the replica applies the step.

import type { AllReduce } from '../shared/config.js';
import { bytesPerElement, type GradientHeader, type ReducedHeader, type StepTimings, type TrainStep, type WorkerRef } from '../shared/wire/index.js';
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
  ring.done.catch(() => undefined); // awaited below
  ring.owned.catch(() => undefined);
  // The owned segment goes up chunk by chunk as it becomes final, from its first chunk on (not
  // before: the coordinator would count the wait for slower peers as the upload's silence).
  const { segment } = ring;
  const elementBytes = bytesPerElement(replica.dtype);
  try {
    await ring.finalUpTo(Math.min(segment.count, 1));
  } catch (error) {
    throw new RingFailure(error, undefined);
  }
  const verdict = client.exchange(
    { ...header, nonFinite: stats.nonFinite, segmentOffset: segment.offset, segmentElements: segment.count },
    replica.uploadPayload(segment),
    () => replica.downloadTargets(true),
    (end) => ring.finalUpTo(Math.ceil(Math.min(end, segment.count * elementBytes) / elementBytes)),
  );
  verdict.catch(() => undefined); // awaited below, or handed on with a ring failure
  try {
    await ring.owned;
  } catch (error) {
    // Broken before the segment was final: the upload was cancelled and nothing of it counts.
    throw new RingFailure(error, undefined);
  }
  // Both must finish: every segment of the all-gather in this replica's result, and the verdict.
  try {
    await ring.done;
  } catch (error) {
    throw new RingFailure(error, verdict);
  }
  return verdict;
}
