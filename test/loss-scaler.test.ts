import { describe, expect, it } from 'vitest';
import { TrainingError } from '../shared/errors.js';
import { LossScaler } from '../shared/loss-scaler.js';

describe('loss scaler', () => {
  it('starts at 2^15 as Keras does', () => {
    expect(new LossScaler().scale).toBe(32768);
  });

  it('skips the step and halves the scale when a worker reports inf', () => {
    const scaler = new LossScaler();
    const verdict = scaler.update('worker 1 sent 3 non-finite gradient values');
    expect(verdict.applied).toBe(false);
    expect(verdict.scaleBefore).toBe(32768);
    expect(verdict.scaleAfter).toBe(16384);
    expect(scaler.skippedSteps).toBe(1);
  });

  it('doubles the scale after 2000 good steps in a row, and an overflow restarts the count', () => {
    const scaler = new LossScaler();
    for (let i = 0; i < 1999; i++) expect(scaler.update(undefined).applied).toBe(true);
    expect(scaler.scale).toBe(32768);
    scaler.update('overflow'); // resets the run of good steps
    for (let i = 0; i < 1999; i++) scaler.update(undefined);
    expect(scaler.scale).toBe(16384);
    const verdict = scaler.update(undefined);
    expect(verdict).toEqual({ applied: true, scaleBefore: 16384, scaleAfter: 32768, grew: true });
    expect(scaler.snapshot().goodSteps).toBe(0);
  });

  it('never goes below the minimum scale, and declares divergence after persistent overflow there', () => {
    const scaler = new LossScaler({ initialScale: 4, maxConsecutiveSkips: 5 });
    scaler.update('x');
    scaler.update('x');
    scaler.update('x');
    expect(scaler.scale).toBe(1);
    scaler.update('x');
    expect(() => scaler.update('worker 0 NaN')).toThrow(TrainingError);
  });

  it('restores from a snapshot', () => {
    const a = new LossScaler({ growthInterval: 3 });
    a.update(undefined);
    a.update('x');
    a.update(undefined);
    const b = new LossScaler({ growthInterval: 3 }, a.snapshot());
    expect(b.snapshot()).toEqual(a.snapshot());
    expect(b.update(undefined)).toEqual(a.update(undefined));
  });
});
