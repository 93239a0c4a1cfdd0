// The idle limit of upload and heartbeat streams (shared/wire/idle-limit.ts) with real timers: it
// closes a silent stream after its limit, but a timer that fires late because the process itself
// did not run (here: its event loop blocked) proves no silence, so what waited in the socket, read
// after the timers, still counts.

import { describe, expect, it } from 'vitest';
import { IdleLimit, LATE_TIMER_MS } from '../shared/wire/idle-limit.js';
import { sleep } from './helpers/processes.js';

/** Blocks the event loop, as a stopped or suspended process would not run it. */
function block(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // nothing runs meanwhile
  }
}

describe('IdleLimit', () => {
  it('closes a stream silent for its limit, and something arriving starts the wait again', async () => {
    const fired: number[] = [];
    const start = performance.now();
    const idle = new IdleLimit(300, () => fired.push(performance.now() - start));
    await sleep(200);
    idle.touch();
    await sleep(200);
    expect(fired).toEqual([]);
    await sleep(400);
    expect(fired).toHaveLength(1);
    expect(fired[0]!).toBeGreaterThanOrEqual(490);
  });

  it('does not close after a stop of its own process when what was sent meanwhile is read next', async () => {
    let fired = 0;
    const idle = new IdleLimit(200, () => fired++);
    block(LATE_TIMER_MS + 500);
    // The data that waited in the socket is read after the timers of this turn of the loop.
    setImmediate(() => idle.touch());
    await sleep(150);
    expect(fired).toBe(0);
    idle.stop();
  });

  it('still closes a stream that stays silent after such a stop, a short grace later', async () => {
    let firedAt = 0;
    const idle = new IdleLimit(200, () => (firedAt = performance.now()));
    block(LATE_TIMER_MS + 500);
    const woke = performance.now();
    await sleep(600);
    expect(firedAt).toBeGreaterThan(0);
    expect(firedAt - woke).toBeGreaterThanOrEqual(150); // the grace: min(limit, LATE_TIMER_MS)
    idle.stop();
  });
});
