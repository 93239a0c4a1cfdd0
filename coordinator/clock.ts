// Time as the run sees it, injected so that the engine's tests run against a fake clock.

export interface Clock {
  /** Milliseconds since the epoch (Date.now()); differences are durations. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
