// The heartbeat watchdog against a fake clock: a silent member is lost after the timeout, but not
// for silence across a gap in the coordinator's own checks (it was stopped, suspended or blocked,
// and the members' heartbeats were waiting unread in its sockets).

import { describe, expect, it } from 'vitest';
import { StallWatchdog } from '../coordinator/stall-watchdog.js';
import { World } from '../coordinator/world.js';
import type { JoinRequest } from '../shared/wire/index.js';

const TIMEOUT_MS = 10_000;

function setup() {
  const clock = { t: 0, now() { return this.t; } };
  const world = new World(2, clock);
  const request = (rank: number): JoinRequest => ({ protocolVersion: 3, host: `h${rank}`, gpu: 0, pid: 100 + rank, backend: 'cpu', requestedRank: rank, localData: false, peerAddress: '' }) as JoinRequest;
  const a = world.join(request(0), 'ipv4:127.0.0.1:1');
  const b = world.join(request(1), 'ipv4:127.0.0.1:2');
  const lost: string[] = [];
  world.on('lost', (member, reason) => { lost.push(`${member.rank}: ${reason}`); });
  const gaps: number[] = [];
  const watchdog = new StallWatchdog(world, TIMEOUT_MS, clock, (gap) => gaps.push(gap));
  /** Checks once a second from the clock's time to `until` (ms), `beat` heartbeating as it goes. */
  const run = (until: number, beat: Array<typeof a>) => {
    while (clock.t < until) {
      clock.t += 1000;
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

  it('does not blame the members for a gap of its own, and starts their deadlines again after it', () => {
    const { clock, a, b, world, lost, gaps, watchdog, run } = setup();
    watchdog.check();
    run(3000, [a, b]);
    // the coordinator stopped for 30 s: no checks, no heartbeat read
    clock.t += 30_000;
    watchdog.check();
    expect(gaps).toEqual([30_000]);
    expect(lost).toEqual([]);
    // the queued heartbeats of a are read now; b stays silent: lost a timeout after the gap, not before
    world.heartbeat(a);
    run(clock.t + TIMEOUT_MS, [a]);
    expect(lost).toEqual([]);
    run(clock.t + 1000, [a]);
    expect(lost).toEqual([`1: no heartbeat for 41 s (frozen, overloaded or unreachable)`]);
    expect(world.byRank(0)).toBeDefined();
  });

  it('counts a gap only above half the timeout', () => {
    const { clock, b, a, lost, gaps, watchdog, run } = setup();
    watchdog.check();
    run(4000, [a, b]);
    clock.t += 4900; // late, but within half the timeout: the deadlines hold
    watchdog.check();
    run(clock.t + 5000, [a]); // b last heard at 4 s: 9.9 s of silence at the last check
    expect(lost).toEqual([]);
    run(clock.t + 1000, [a]);
    expect(gaps).toEqual([]);
    expect(lost).toEqual(['1: no heartbeat for 11 s (frozen, overloaded or unreachable)']);
  });
});
