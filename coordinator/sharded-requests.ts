// The two requests the coordinator makes of every member at once, outside the step loop: evaluate
// a split sharded across them (SPEC §3, last point), and report a checksum of its weights (SPEC §2).
// Each sends one command per member and waits for every reply.

import { NUM_CLASSES } from '../shared/classes.js';
import { WorldError } from '../shared/errors.js';
import { meanLoss } from '../shared/evaluation.js';
import type { SampleSource } from './engine-ports.js';
import { checkEvaluationResult } from './message-checks.js';
import type { PendingReplies } from './pending-replies.js';
import { shardBatch } from './sharding.js';
import { describeMember, type Member, type World } from './world.js';

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

export interface MemberRequests {
  world: World;
  samples: SampleSource;
  replies: PendingReplies;
  /** Races a wait against the run's failure. */
  guard<T>(promise: Promise<T>): Promise<T>;
}

/** Sharded evaluation of `ids` on every member, aggregated. */
export async function evaluateOnMembers(
  context: MemberRequests,
  evaluationId: number,
  split: string,
  ids: readonly number[],
  returnProbabilities: boolean,
): Promise<EvaluationSummary> {
  const members = context.world.ready();
  const shards = shardBatch([...ids], members.length);
  // Each reply is checked as it arrives, so a bad one is refused to its sender (who is then lost)
  // instead of failing the run here.
  const waits = members.map((member, i) => {
    const expected = { split, count: shards[i]!.sampleIds.length, probabilities: returnProbabilities };
    return context.replies.expect('evaluation', evaluationId, member.rank, (result) => checkEvaluationResult(result, expected, describeMember(member)));
  });
  for (let i = 0; i < members.length; i++) {
    const member = members[i]!;
    const samples = await context.samples.samplesFor(member, shards[i]!.sampleIds);
    context.world.send(member.rank, { kind: 'evaluate', evaluate: { evaluationId, split, samples, returnProbabilities } });
  }
  const results = await context.guard(Promise.all(waits));
  const confusion = new Array<number>(NUM_CLASSES * NUM_CLASSES).fill(0);
  let count = 0;
  let correct = 0;
  const sampleLosses: number[] = [];
  const sampleIds: number[] = [];
  const probabilities: number[] = [];
  results.forEach((result) => {
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

/**
 * Asks every member for the sha256 of its weights after `step` and compares each with `expected`
 * (the shadow's): replicas must stay bit-identical. Returns the members checked.
 */
export async function verifyReplicas(context: MemberRequests, requestId: number, step: number, expected: string): Promise<Member[]> {
  const members = context.world.ready();
  const waits = members.map((member) => {
    // Its fields are checked where every checksum report arrives (ProtocolSession), answered or late.
    const reply = context.replies.expect('checksum', requestId, member.rank);
    context.world.send(member.rank, { kind: 'checksum', checksum: { step, requestId } });
    return reply;
  });
  const results = await context.guard(Promise.all(waits));
  results.forEach((result, i) => {
    if (result.sha256 !== expected) {
      throw new WorldError(
        'REPLICAS_DIVERGED',
        `${describeMember(members[i]!)} holds different weights from the coordinator after step ${step} (sha256 ${result.sha256.slice(0, 12)}… vs ${expected.slice(0, 12)}…): replicas are no longer identical`,
      );
    }
  });
  return members;
}
