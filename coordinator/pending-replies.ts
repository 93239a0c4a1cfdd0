// Replies the run waits for from its workers (evaluation shards, checksums), keyed by request and
// rank. A reply nobody asked for is refused; when the run fails, every wait rejects with the reason.
// When the world changes under a request, its waits are abandoned: the request is made again under
// a new id, and a late reply to the old one is dropped as what it is (the worker could not know).

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

export class PendingReplies {
  private readonly waiting = new Map<string, Deferred<unknown>>();
  private readonly abandoned = new Set<string>();

  expect<K extends keyof ReplyKinds>(kind: K, requestId: number, rank: number): Promise<ReplyKinds[K]> {
    const pending = new Deferred<ReplyKinds[K]>();
    this.waiting.set(`${kind}/${requestId}/${rank}`, pending as Deferred<unknown>);
    return pending.promise;
  }

  /** Delivers a reply; `what` describes it for the error when it was not asked for. */
  deliver<K extends keyof ReplyKinds>(kind: K, requestId: number, rank: number, reply: ReplyKinds[K], what: string): Delivery {
    const key = `${kind}/${requestId}/${rank}`;
    const pending = this.waiting.get(key);
    if (!pending) {
      if (this.abandoned.delete(key)) return 'dropped';
      throw new ProtocolError('PROTOCOL_INVALID', `${what}, which it was not asked for`);
    }
    this.waiting.delete(key);
    pending.resolve(reply);
    return 'delivered';
  }

  rejectAll(error: Error): void {
    for (const pending of this.waiting.values()) pending.reject(error);
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
