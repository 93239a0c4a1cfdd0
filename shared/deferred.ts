// A promise with its resolve and reject at hand, for waiting on events that other callbacks
// deliver (a step's uploads, a worker's report).
export class Deferred<T> {
  readonly promise: Promise<T>;
  resolve!: (value: T) => void;
  reject!: (reason: unknown) => void;
  settled = false;

  constructor() {
    this.promise = new Promise<T>((resolve, reject) => {
      this.resolve = (value) => {
        this.settled = true;
        resolve(value);
      };
      this.reject = (reason) => {
        this.settled = true;
        reject(reason);
      };
    });
    // A rejection nobody awaits yet must not crash the process; awaiting still sees it.
    this.promise.catch(() => undefined);
  }
}
