// Replies the run waits for from its workers (evaluation shards, checksums), keyed by request and
// rank. A reply nobody asked for is refused; when the run fails, every wait rejects with the reason.
// When the world changes under a request, its waits are abandoned: the request is made again under
// a new id, and a late reply to the old one is dropped as what it is (the worker could not know).
// A wait may name a check: a reply that fails it is refused when it arrives (its sender is told at
// once, issue 14) and the wait goes on.

import { Deferred } from '../shared/deferred.js';
import { ProtocolError } from '../shared/errors.js';
import type { ChecksumResult, EvaluationResult } from '../shared/wire/index.js';

interface ReplyKinds {
  evaluation: EvaluationResult;
  checksum: ChecksumResult;
}

/** Abandoned keys remembered, so that late replies to them are dropped rather than refused. */
const MAX_ABANDONED = 4096;

export type Delivery = 'delivered' | 'dropped';

interface Waiting {
  reply: Deferred<unknown>;
  check: ((reply: never) => void) | undefined;
}

export class PendingReplies {
  private readonly waiting = new Map<string, Waiting>();
  private readonly abandoned = new Set<string>();

  /** Waits for the reply of `rank` to `requestId`; `check` throws for a reply that is not what was asked for. */
  expect<K extends keyof ReplyKinds>(kind: K, requestId: number, rank: number, check?: (reply: ReplyKinds[K]) => void): Promise<ReplyKinds[K]> {
    const pending = new Deferred<ReplyKinds[K]>();
    this.waiting.set(`${kind}/${requestId}/${rank}`, { reply: pending as Deferred<unknown>, check });
    return pending.promise;
  }

  /**
   * Delivers a reply; `what` describes it for the error when it was not asked for. A reply that
   * fails its wait's check throws that check's error and leaves the wait as it was.
   */
  deliver<K extends keyof ReplyKinds>(kind: K, requestId: number, rank: number, reply: ReplyKinds[K], what: string): Delivery {
    const key = `${kind}/${requestId}/${rank}`;
    const pending = this.waiting.get(key);
    if (!pending) {
      if (this.abandoned.delete(key)) return 'dropped';
      throw new ProtocolError('PROTOCOL_INVALID', `${what}, which it was not asked for`);
    }
    (pending.check as ((reply: ReplyKinds[K]) => void) | undefined)?.(reply);
    this.waiting.delete(key);
    pending.reply.resolve(reply);
    return 'delivered';
  }

  /** Whether a reply to `requestId` from `rank` would be dropped: its wait was abandoned. */
  isAbandoned(kind: keyof ReplyKinds, requestId: number, rank: number): boolean {
    const key = `${kind}/${requestId}/${rank}`;
    return !this.waiting.has(key) && this.abandoned.has(key);
  }

  rejectAll(error: Error): void {
    for (const pending of this.waiting.values()) pending.reply.reject(error);
    this.waiting.clear();
  }

  /** Rejects every wait with `error` (a world change) and drops the replies that still come for them. */
  abandonAll(error: Error): void {
    for (const key of this.waiting.keys()) {
      this.abandoned.add(key);
      if (this.abandoned.size > MAX_ABANDONED) this.abandoned.delete(this.abandoned.values().next().value!);
    }
    this.rejectAll(error);
  }
}
