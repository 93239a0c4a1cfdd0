// Issue 10, point 3: serve's bounded queue (pure). At most `capacity` requests are admitted; the
// work runs one piece at a time, in order, whether earlier pieces failed or not, with a pause
// before each so the server can answer other requests between photos.

import { describe, expect, it } from 'vitest';
import { RequestQueue } from '../app/serve/request-queue.js';
import { sleep } from './helpers/processes.js';

describe('RequestQueue', () => {
  it('admits up to its capacity, then refuses until a place is given back', () => {
    const queue = new RequestQueue(2);
    expect([queue.tryEnter(), queue.tryEnter(), queue.tryEnter()]).toEqual([true, true, false]);
    queue.leave();
    expect(queue.tryEnter()).toBe(true);
    expect(queue.state).toEqual({ admitted: 2, running: 0, capacity: 2 });
  });

  it('refuses a leave() that no tryEnter() matched, and a capacity below 1', () => {
    expect(() => new RequestQueue(1).leave()).toThrow(/without a matching tryEnter/);
    expect(() => new RequestQueue(0)).toThrow(/positive integer/);
  });

  it('runs work one piece at a time, in order, going on after a failure, pausing before each', async () => {
    const log: string[] = [];
    const queue = new RequestQueue(3, async () => {
      log.push('pause');
    });
    const piece = (name: string, fail = false) => async () => {
      log.push(`start ${name} (running ${queue.state.running})`);
      await sleep(5);
      log.push(`end ${name}`);
      if (fail) throw new Error(`${name} failed`);
      return name;
    };
    const results = await Promise.allSettled([queue.run(piece('a')), queue.run(piece('b', true)), queue.run(piece('c'))]);
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message))).toEqual(['a', 'b failed', 'c']);
    expect(log).toEqual(['pause', 'start a (running 1)', 'end a', 'pause', 'start b (running 1)', 'end b', 'pause', 'start c (running 1)', 'end c']);
    expect(queue.state.running).toBe(0);
  });
});
