// A limit on how long a stream may send nothing while it is expected to send (issue 14, point 2):
// an authenticated client that opens an upload or a heartbeat stream and then goes quiet would
// otherwise hold its stream, and whatever the server keeps for it, for ever. Time the server
// itself holds the stream paused (flow control) does not count.

export class IdleLimit {
  private timer: NodeJS.Timeout | undefined;
  private running = true;

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

  private arm(): void {
    this.clear();
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (!this.running) return;
      this.running = false;
      this.onIdle();
    }, this.limitMs);
    this.timer.unref();
  }

  private clear(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
