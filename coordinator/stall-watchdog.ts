// A member whose heartbeats stopped (frozen, overloaded or cut off) is lost after the timeout
// (SPEC §8: detected within seconds, never a hang). The check is a pure function of the clock, so
// tests drive it with a fake one; start() runs it every second.
//
// Heartbeats are read by the coordinator's own event loop. When that loop did not run for a while
// (the coordinator was stopped with SIGSTOP, its VM suspended, or its loop blocked), the checks
// did not run either, and the heartbeats sent meanwhile still wait unread in the sockets: that
// time is the coordinator's silence, not the members'. So a check that comes late (more than two
// intervals after the one before) records the time the checks missed as a gap, and a member's
// silence is counted without the gaps in it. Only the gaps are excused, so a dead member is still
// found, however often the coordinator stalls; it is found later by the length of the gaps.

import type { Clock } from './clock.js';
import type { World } from './world.js';

interface Gap {
  from: number;
  to: number;
}

/** Gaps kept at most (older ones matter only to members silent for that long). */
const MAX_GAPS = 256;

export class StallWatchdog {
  private lastCheckMs: number | undefined;
  private readonly gaps: Gap[] = [];

  constructor(
    private readonly world: World,
    private readonly timeoutMs: number,
    private readonly clock: Clock,
    /** Told of a gap longer than half the timeout, with its length in ms (shorter ones are only excused). */
    private readonly onGap: (gapMs: number) => void = () => {},
    private readonly intervalMs = 1000,
  ) {}

  /** Loses every member silent, gaps of the coordinator's own not counted, for longer than the timeout. */
  check(): void {
    const now = this.clock.now();
    if (this.lastCheckMs !== undefined && now - this.lastCheckMs > 2 * this.intervalMs) {
      // the next check was due one interval after the last: from then on, the coordinator was not running
      this.gaps.push({ from: this.lastCheckMs + this.intervalMs, to: now });
      if (this.gaps.length > MAX_GAPS) this.gaps.shift();
      if (now - this.lastCheckMs > this.timeoutMs / 2) this.onGap(now - this.lastCheckMs);
    }
    this.lastCheckMs = now;
    for (const member of this.world.stalled(this.timeoutMs, now)) {
      const excused = this.excused(member.lastHeartbeatMs, now);
      const silence = now - member.lastHeartbeatMs - excused;
      if (silence <= this.timeoutMs) continue;
      const besides = excused >= 1000 ? ` (besides ${Math.round(excused / 1000)} s in which the coordinator itself did not run)` : '';
      this.world.lose(member, `no heartbeat for ${Math.round(silence / 1000)} s${besides} (frozen, overloaded or unreachable)`);
    }
  }

  /** Milliseconds of gaps within (from, to]. */
  private excused(from: number, to: number): number {
    let total = 0;
    for (const gap of this.gaps) total += Math.max(0, Math.min(gap.to, to) - Math.max(gap.from, from));
    return total;
  }

  /** Checks every interval until the returned function is called. */
  start(): () => void {
    this.check();
    const timer = setInterval(() => this.check(), this.intervalMs);
    timer.unref();
    return () => clearInterval(timer);
  }
}
