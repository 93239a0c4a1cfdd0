// The small pieces a world change relies on: waits voided and late replies dropped (not refused),
// and a worker's queued steps of an old generation taken out of its queue with nothing else.

import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { PendingReplies } from '../coordinator/pending-replies.js';
import { WorldChanged } from '../shared/errors.js';
import type { Command } from '../shared/wire/index.js';
import { CommandQueue } from '../worker/command-queue.js';

const checksum = (step: number) => ({ step, requestId: 1, sha256: 'ab'.repeat(32) });

describe('pending replies across a world change', () => {
  it('rejects the waits with the change, drops a late reply to them once, and still refuses one nobody asked for', async () => {
    const replies = new PendingReplies();
    const waits = [replies.expect('checksum', 1, 0), replies.expect('checksum', 1, 1)];
    replies.abandonAll(new WorldChanged('worker 1 was lost'));
    for (const wait of waits) await expect(wait).rejects.toThrow(/worker 1 was lost/);
    expect(replies.deliver('checksum', 1, 0, checksum(3), 'worker 0 sent a checksum')).toBe('dropped');
    // the same late reply twice, or one for a request never made, is a protocol error
    expect(() => replies.deliver('checksum', 1, 0, checksum(3), 'worker 0 sent a checksum')).toThrow(/worker 0 sent a checksum, which it was not asked for/);
    expect(() => replies.deliver('checksum', 2, 0, checksum(3), 'worker 0 sent a checksum')).toThrow(/not asked for/);
    const again = replies.expect('checksum', 2, 0);
    expect(replies.deliver('checksum', 2, 0, checksum(3), 'worker 0 sent a checksum')).toBe('delivered');
    await expect(again).resolves.toMatchObject({ step: 3 });
  });
});

describe("a worker's command queue after an Abandon", () => {
  it('drops only the steps of older generations, keeping the order of the rest', async () => {
    const stream = new EventEmitter();
    const queue = new CommandQueue<number>(stream, () => undefined);
    const step = (n: number, generation: number): Command => ({
      kind: 'trainStep', trainStep: { step: n, generation, epoch: 0, worldSize: 2, globalBatch: 2, samples: [], stepSeed: 1, ring: [] },
    });
    stream.emit('data', step(4, 0));
    stream.emit('data', step(5, 0));
    stream.emit('data', { kind: 'checksum', checksum: { step: 4, requestId: 9 } } satisfies Command);
    stream.emit('data', step(4, 1));
    const dropped = queue.drop((c) => c.kind === 'trainStep' && c.trainStep.generation < 1);
    expect(dropped.map((d) => d.command.kind === 'trainStep' && d.command.trainStep.step)).toEqual([4, 5]);
    stream.emit('end');
    const left: string[] = [];
    for await (const { command } of queue) left.push(command.kind === 'trainStep' ? `step ${command.trainStep.step}/${command.trainStep.generation}` : command.kind);
    expect(left).toEqual(['checksum', 'step 4/1']);
  });
});
