// A limit on how long a stream may send nothing while it is expected to send (issue 14, point 2):
// an authenticated client that opens an upload or a heartbeat stream and then goes quiet would
// otherwise hold its stream, and whatever the server keeps for it, for ever. Time the server
// itself holds the stream paused (flow control) does not count, and neither does time in which the
// server's own process did not run (stopped, suspended, its event loop blocked): a timer that fires
// that late proves no silence, since what the client sent meanwhile still waits unread in the
// socket. It waits a moment more, for the reads that come after the timers, before it closes.

import { performance } from 'node:perf_hooks';

/** A timer this late (ms) fired after a stop of the process itself, not on time. */
export const LATE_TIMER_MS = 1000;

export class IdleLimit {
  private timer: NodeJS.Timeout | undefined;
  private running = true;
  /** When the armed timer is due (performance.now()). */
  private due = 0;

  constructor(
    private readonly limitMs: number,
    private readonly onIdle: () => void,
  ) {
    this.arm();
  }

  /** Something arrived: the wait starts again. */
  touch(): void {
    if (this.timer) this.arm();
  }

  /** The server paused the stream: its silence is not the client's. */
  pause(): void {
    this.clear();
  }

  resume(): void {
    if (this.running) this.arm();
  }

  /** Nothing more is expected (the client ended its side, or the call is over). */
  stop(): void {
    this.running = false;
    this.clear();
  }

  private arm(delayMs = this.limitMs): void {
    this.clear();
    this.due = performance.now() + delayMs;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (!this.running) return;
      if (performance.now() - this.due > LATE_TIMER_MS) {
        this.arm(Math.min(this.limitMs, LATE_TIMER_MS));
        return;
      }
      this.running = false;
      this.onIdle();
    }, delayMs);
    this.timer.unref();
  }

  private clear(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
