// Admission and order for `emotrain serve`'s predictions (pure: no I/O). The model runs one photo
// at a time (tfjs' wasm backend and onnxruntime's session are used from one thread), so requests
// wait their turn; at most `capacity` are admitted at once — the one running and those waiting —
// and a request beyond that is refused before its body is read (503), which bounds memory by
// capacity x --max-bytes whatever the load.

export class RequestQueue {
  private admitted = 0;
  private running = 0;
  private tail: Promise<unknown> = Promise.resolve();

  /**
   * `pause` runs before each piece of work. The predictions are synchronous CPU work chained on
   * promises, so without a pause the next one would start before Node looks at its sockets again:
   * new requests would be neither admitted nor refused, and /healthz not answered, until the whole
   * queue had drained. The default lets Node's event loop turn once (setImmediate).
   */
  constructor(
    readonly capacity: number,
    private readonly pause: () => Promise<void> = () => new Promise((resolve) => setImmediate(resolve)),
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`queue capacity must be a positive integer, got ${capacity}`);
  }

  /** Takes a place if there is one; every `true` must be matched by one leave(). */
  tryEnter(): boolean {
    if (this.admitted >= this.capacity) return false;
    this.admitted++;
    return true;
  }

  leave(): void {
    if (this.admitted === 0) throw new RangeError('RequestQueue.leave() without a matching tryEnter()');
    this.admitted--;
  }

  /** Runs `work` after every earlier one has finished (failed or not). */
  run<T>(work: () => Promise<T>): Promise<T> {
    const result = this.tail.then(async () => {
      await this.pause();
      this.running++;
      try {
        return await work();
      } finally {
        this.running--;
      }
    });
    this.tail = result.catch(() => undefined);
    return result;
  }

  get state(): { admitted: number; running: number; capacity: number } {
    return { admitted: this.admitted, running: this.running, capacity: this.capacity };
  }
}
