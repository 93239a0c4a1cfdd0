// A member whose heartbeats stopped (frozen, overloaded or cut off) is lost after the timeout
// (SPEC §8: detected within seconds, never a hang). The check is a pure function of the clock, so
// tests drive it with a fake one; start() runs it every second.

import type { Clock } from './clock.js';
import type { World } from './world.js';

export class StallWatchdog {
  constructor(
    private readonly world: World,
    private readonly timeoutMs: number,
    private readonly clock: Clock,
  ) {}

  /** Loses every member silent for longer than the timeout. */
  check(): void {
    const now = this.clock.now();
    for (const member of this.world.stalled(this.timeoutMs, now)) {
      this.world.lose(member, `no heartbeat for ${Math.round((now - member.lastHeartbeatMs) / 1000)} s (frozen, overloaded or unreachable)`);
    }
  }

  /** Checks every `intervalMs` until the returned function is called. */
  start(intervalMs = 1000): () => void {
    const timer = setInterval(() => this.check(), intervalMs);
    timer.unref();
    return () => clearInterval(timer);
  }
}
