// The heartbeat watchdog against a fake clock: a silent member is lost after the timeout, but not
// for silence across a gap in the coordinator's own checks (it was stopped, suspended or blocked,
// and the members' heartbeats were waiting unread in its sockets).

import { describe, expect, it } from 'vitest';
import { StallWatchdog } from '../coordinator/stall-watchdog.js';
import { World } from '../coordinator/world.js';
import { PROTOCOL_VERSION, type JoinRequest } from '../shared/wire/index.js';

const TIMEOUT_MS = 10_000;

function setup(timeoutMs = TIMEOUT_MS) {
  const clock = { t: 0, now() { return this.t; } };
  const world = new World(2, clock);
  const request = (rank: number): JoinRequest => ({ protocolVersion: PROTOCOL_VERSION, host: `h${rank}`, gpu: 0, pid: 100 + rank, backend: 'cpu', requestedRank: rank, localData: false, peerAddress: '' });
  const a = world.join(request(0), 'ipv4:127.0.0.1:1');
  const b = world.join(request(1), 'ipv4:127.0.0.1:2');
  const lost: string[] = [];
  world.on('lost', (member, reason) => { lost.push(`${member.rank}: ${reason}`); });
  const gaps: number[] = [];
  const watchdog = new StallWatchdog(world, timeoutMs, clock, (gap) => gaps.push(gap));
  /** Checks every `every` ms (1 s) from the clock's time to `until`, `beat` heartbeating as it goes. */
  const run = (until: number, beat: Array<typeof a>, every = 1000) => {
    while (clock.t < until) {
      clock.t += every;
      for (const m of beat) world.heartbeat(m);
      watchdog.check();
    }
  };
  return { clock, world, a, b, lost, gaps, watchdog, run };
}

describe('StallWatchdog', () => {
  it('loses a member silent for longer than the timeout, and only it', () => {
    const { a, lost, gaps, watchdog, run } = setup();
    watchdog.check();
    run(10_000, [a]);
    expect(lost).toEqual([]);
    run(12_000, [a]);
    expect(lost).toEqual(['1: no heartbeat for 11 s (frozen, overloaded or unreachable)']);
    expect(gaps).toEqual([]);
  });

  it('does not count a gap of its own as silence: a still-silent member is lost a timeout of its own silence later', () => {
    const { clock, a, b, world, lost, gaps, watchdog, run } = setup();
    watchdog.check();
    run(3000, [a, b]);
    // the coordinator stopped for 30 s: no checks, no heartbeat read
    clock.t += 30_000;
    watchdog.check();
    expect(gaps).toEqual([30_000]);
    expect(lost).toEqual([]);
    // a's queued heartbeats are read now; b stays silent. Excused: the 29 s from the missed check on.
    world.heartbeat(a);
    run(42_000, [a]);
    expect(lost).toEqual([]);
    run(43_000, [a]);
    expect(lost).toEqual(['1: no heartbeat for 11 s (besides 29 s in which the coordinator itself did not run) (frozen, overloaded or unreachable)']);
    expect(world.byRank(0)).toBeDefined();
  });

  it('still finds a dead member with a timeout of two check intervals, and tells of no gap', () => {
    const { a, lost, gaps, watchdog, run } = setup(2000);
    watchdog.check();
    run(3000, [a]);
    expect(lost).toEqual(['1: no heartbeat for 3 s (frozen, overloaded or unreachable)']);
    expect(gaps).toEqual([]);
  });

  it('finds a dead member even when every check comes late, later by the gaps only', () => {
    const { a, lost, gaps, watchdog, run } = setup();
    watchdog.check();
    // checks 3 s apart (the loop lags 2 s each time): 1 s of each counts as silence
    run(30_000, [a], 3000); // 30 s: 10 s of silence counted, 20 s excused
    expect(lost).toEqual([]);
    run(36_000, [a], 3000);
    expect(lost).toEqual(['1: no heartbeat for 11 s (besides 22 s in which the coordinator itself did not run) (frozen, overloaded or unreachable)']);
    expect(gaps).toEqual([]); // each under half the timeout: excused without a word
  });
});
