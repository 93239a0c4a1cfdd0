// A member whose heartbeats stopped (frozen, overloaded or cut off) is lost after the timeout
// (SPEC §8: detected within seconds, never a hang). The check is a pure function of the clock, so
// tests drive it with a fake one; start() runs it every second.
//
// Heartbeats are read by the coordinator's own event loop. When that loop did not run for a while
// (the coordinator was stopped with SIGSTOP, its VM suspended, or its loop blocked), the checks
// did not run either, and the heartbeats sent meanwhile still wait unread in the sockets: silence
// measured across that gap is the coordinator's, not the members'. So a check that comes more than
// half a timeout after the one before starts every member's deadline again from that moment.

import type { Clock } from './clock.js';
import type { World } from './world.js';

export class StallWatchdog {
  private lastCheckMs: number | undefined;
  /** When the coordinator last came back from a gap in its checks: silence before it does not count. */
  private resumedAtMs = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly world: World,
    private readonly timeoutMs: number,
    private readonly clock: Clock,
    /** Told once per gap, with its length in ms. */
    private readonly onGap: (gapMs: number) => void = () => {},
  ) {}

  /** Loses every member silent for longer than the timeout (silence during a gap of the coordinator's own excepted). */
  check(): void {
    const now = this.clock.now();
    if (this.lastCheckMs !== undefined && now - this.lastCheckMs > this.timeoutMs / 2) {
      this.resumedAtMs = now;
      this.onGap(now - this.lastCheckMs);
    }
    this.lastCheckMs = now;
    if (now - this.resumedAtMs <= this.timeoutMs) return;
    for (const member of this.world.stalled(this.timeoutMs, now)) {
      this.world.lose(member, `no heartbeat for ${Math.round((now - member.lastHeartbeatMs) / 1000)} s (frozen, overloaded or unreachable)`);
    }
  }

  /** Checks every `intervalMs` until the returned function is called. */
  start(intervalMs = 1000): () => void {
    this.check();
    const timer = setInterval(() => this.check(), intervalMs);
    timer.unref();
    return () => clearInterval(timer);
  }
}
