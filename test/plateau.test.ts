import { describe, expect, it } from 'vitest';
import { PlateauSchedule } from '../coordinator/plateau.js';

/** Feeds a val_loss sequence; returns the LR after each epoch. */
function lrs(schedule: PlateauSchedule, losses: number[]): number[] {
  return losses.map((loss) => schedule.onEpochEnd(loss).learningRate);
}

const f = Math.fround;
/** One Keras reduction of a float32 LR: lr * factor, stored as float32. */
const reduce = (lr: number, factor = 0.1) => f(lr * factor);

describe('ReduceLROnPlateau (Keras semantics)', () => {
  it('reduces by factor 0.1 after `patience` epochs without improvement', () => {
    const schedule = new PlateauSchedule(1e-4, { patience: 3 });
    expect(lrs(schedule, [1.0, 0.9, 0.95, 0.93, 0.91])).toEqual([f(1e-4), f(1e-4), f(1e-4), f(1e-4), reduce(f(1e-4))]);
  });

  it('counts an improvement smaller than min_delta as no improvement', () => {
    const schedule = new PlateauSchedule(1e-3, { patience: 2, minDelta: 0.01 });
    // 0.995 is better than 1.0 by only 0.005 < min_delta
    const out = lrs(schedule, [1.0, 0.995, 0.992]);
    expect(out[2]).toBe(reduce(f(1e-3)));
    // and an improvement of exactly min_delta is not enough either (strict <)
    const exact = new PlateauSchedule(1, { patience: 1, minDelta: 0.25 });
    exact.onEpochEnd(1.0);
    expect(exact.onEpochEnd(0.75).reduced).toBe(true);
  });

  it('resets the wait on an improvement', () => {
    const schedule = new PlateauSchedule(1, { patience: 2, minDelta: 0 });
    expect(lrs(schedule, [1.0, 1.1, 0.9, 1.0, 1.0])).toEqual([1, 1, 1, 1, reduce(1)]);
  });

  it('waits out the cooldown before counting again, as Keras does', () => {
    const schedule = new PlateauSchedule(1, { patience: 1, cooldown: 2, minDelta: 0 });
    // e0 sets best. e1: wait 1 >= patience, reduce, cooldown = 2.
    // e2: cooldown 2 -> 1, still cooling down: no count. e3: cooldown 1 -> 0 at the start of the
    // epoch, so the same epoch counts again and reduces (Keras decrements before it checks).
    const out = lrs(schedule, [1, 2, 2, 2, 2, 2]);
    const r1 = reduce(1);
    const r2 = reduce(r1);
    expect(out).toEqual([1, r1, r1, r2, r2, reduce(r2)]);
  });

  it('never goes below min_lr and stops reducing there', () => {
    const schedule = new PlateauSchedule(1e-3, { patience: 1, minLr: 5e-5, minDelta: 0 });
    const out = lrs(schedule, [1, 1, 1, 1, 1]);
    expect(out).toEqual([f(1e-3), reduce(f(1e-3)), f(5e-5), f(5e-5), f(5e-5)]);
    expect(schedule.snapshot().wait).toBe(2); // at min_lr, wait keeps counting (Keras does not reset it)
  });

  it('treats NaN as no improvement', () => {
    const schedule = new PlateauSchedule(1, { patience: 1, minDelta: 0 });
    schedule.onEpochEnd(1);
    expect(schedule.onEpochEnd(NaN).reduced).toBe(true);
  });

  it('supports max mode for accuracy-like monitors', () => {
    const schedule = new PlateauSchedule(1, { mode: 'max', patience: 1, minDelta: 0 });
    expect(lrs(schedule, [0.5, 0.6, 0.6])).toEqual([1, 1, reduce(1)]);
  });

  it('continues identically from a snapshot', () => {
    const a = new PlateauSchedule(1, { patience: 2 });
    lrs(a, [1, 1.2]);
    const b = new PlateauSchedule(1, { patience: 2 }, a.snapshot());
    expect(lrs(b, [1.3, 1.4, 1.5])).toEqual(lrs(a, [1.3, 1.4, 1.5]));
  });

  it('refuses a factor outside (0, 1)', () => {
    expect(() => new PlateauSchedule(1, { factor: 1 })).toThrow(/factor/);
  });
});
