// Replies the run waits for from its workers (evaluation shards, checksums), keyed by request and
// rank. A reply nobody asked for is refused; when the run fails, every wait rejects with the reason.

import { Deferred } from '../shared/deferred.js';
import { ProtocolError } from '../shared/errors.js';
import type { ChecksumResult, EvaluationResult } from '../shared/wire/index.js';

interface ReplyKinds {
  evaluation: EvaluationResult;
  checksum: ChecksumResult;
}

export class PendingReplies {
  private readonly waiting = new Map<string, Deferred<unknown>>();

  expect<K extends keyof ReplyKinds>(kind: K, requestId: number, rank: number): Promise<ReplyKinds[K]> {
    const pending = new Deferred<ReplyKinds[K]>();
    this.waiting.set(`${kind}/${requestId}/${rank}`, pending as Deferred<unknown>);
    return pending.promise;
  }

  /** Delivers a reply; `what` describes it for the error when it was not asked for. */
  deliver<K extends keyof ReplyKinds>(kind: K, requestId: number, rank: number, reply: ReplyKinds[K], what: string): void {
    const key = `${kind}/${requestId}/${rank}`;
    const pending = this.waiting.get(key);
    if (!pending) throw new ProtocolError('PROTOCOL_INVALID', `${what}, which it was not asked for`);
    this.waiting.delete(key);
    pending.resolve(reply);
  }

  rejectAll(error: Error): void {
    for (const pending of this.waiting.values()) pending.reject(error);
    this.waiting.clear();
  }
}
