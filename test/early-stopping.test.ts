// EarlyStopping against Keras 3's semantics (keras/src/callbacks/early_stopping.py), edge by edge.

import { describe, expect, it } from 'vitest';
import type { Decision, EpochLogs } from '../coordinator/callbacks/callback.js';
import { EarlyStopping } from '../coordinator/callbacks/early-stopping.js';

const logs = (epoch: number, values: Partial<EpochLogs>): EpochLogs => ({ epoch, loss: 1, accuracy: 0.5, val_loss: 1, val_accuracy: 0.5, lr: 1e-3, ...values });

/** Feeds val_loss values (or another monitor's); returns the 1-based epoch it stopped at, or undefined. */
function stopEpoch(callback: EarlyStopping, values: number[], monitor: keyof EpochLogs = 'val_loss'): number | undefined {
  for (let i = 0; i < values.length; i++) {
    const decisions = callback.onEpochEnd(logs(i + 1, { [monitor]: values[i]! }));
    if (decisions.some((d) => d.kind === 'stop_training')) return i + 1;
  }
  return undefined;
}

const kinds = (decisions: Decision[]) => decisions.map((d) => d.kind);

describe('EarlyStopping (Keras semantics)', () => {
  it('stops after `patience` epochs without improvement', () => {
    expect(stopEpoch(new EarlyStopping({ patience: 2 }), [1, 0.9, 0.95, 0.92, 0.8])).toBe(4);
    expect(stopEpoch(new EarlyStopping({ patience: 3 }), [1, 0.9, 0.95, 0.92, 0.8])).toBeUndefined();
  });

  it('with patience 0 stops at the first epoch without improvement, but never after the first epoch', () => {
    // epoch 1 always improves on Infinity; Keras also refuses to stop at epoch index 0
    expect(stopEpoch(new EarlyStopping({ patience: 0 }), [1, 1.5])).toBe(2);
    expect(stopEpoch(new EarlyStopping({ patience: 0, baseline: 0.5 }), [1])).toBeUndefined();
  });

  it('counts a change smaller than |min_delta| as no improvement (and a negative min_delta as its absolute value)', () => {
    expect(stopEpoch(new EarlyStopping({ patience: 1, minDelta: 0.1 }), [1, 0.95])).toBe(2);
    expect(stopEpoch(new EarlyStopping({ patience: 1, minDelta: -0.1 }), [1, 0.95])).toBe(2);
    // an improvement of exactly min_delta is not enough: the comparison is strict
    expect(stopEpoch(new EarlyStopping({ patience: 1, minDelta: 0.25 }), [1, 0.75])).toBe(2);
    expect(stopEpoch(new EarlyStopping({ patience: 1, minDelta: 0.25 }), [1, 0.74])).toBeUndefined();
  });

  it("maximises accuracies in 'auto' mode and minimises losses; 'min'/'max' override", () => {
    expect(stopEpoch(new EarlyStopping({ monitor: 'val_accuracy', patience: 1 }), [0.5, 0.6, 0.7], 'val_accuracy')).toBeUndefined();
    expect(stopEpoch(new EarlyStopping({ monitor: 'val_accuracy', patience: 1 }), [0.5, 0.4], 'val_accuracy')).toBe(2);
    expect(stopEpoch(new EarlyStopping({ monitor: 'val_loss', mode: 'max', patience: 1 }), [0.5, 0.4])).toBe(2);
    expect(stopEpoch(new EarlyStopping({ monitor: 'loss', patience: 1 }), [1, 1.1], 'loss')).toBe(2);
  });

  it('with a baseline: a new best that does not beat the baseline does not restart the patience', () => {
    // without a baseline, 0.9 restarts the wait and 1.0 is only the first epoch without improvement
    expect(stopEpoch(new EarlyStopping({ patience: 2 }), [1, 0.9, 1.0])).toBeUndefined();
    // with baseline 0.5, the wait goes on counting through the improvements
    const callback = new EarlyStopping({ patience: 2, baseline: 0.5 });
    expect(stopEpoch(callback, [1, 0.9, 1.0])).toBe(3);
    expect(callback.snapshot()).toMatchObject({ best: 0.9, bestEpoch: 1, stoppedEpoch: 2 });
    // an epoch that improves never stops training, whatever the wait (Keras returns early)
    expect(stopEpoch(new EarlyStopping({ patience: 1, baseline: 0.5 }), [1, 0.9, 0.8, 0.7])).toBeUndefined();
    // once the baseline is beaten, the wait restarts
    expect(stopEpoch(new EarlyStopping({ patience: 2, baseline: 0.95 }), [1, 0.9, 0.91, 0.92])).toBe(4);
  });

  it('does nothing before start_from_epoch', () => {
    expect(stopEpoch(new EarlyStopping({ patience: 1, startFromEpoch: 3 }), [1, 2, 3, 4])).toBeUndefined();
    expect(stopEpoch(new EarlyStopping({ patience: 1, startFromEpoch: 2 }), [1, 2, 3, 4])).toBe(4);
  });

  it('never treats NaN as an improvement', () => {
    expect(stopEpoch(new EarlyStopping({ patience: 1 }), [1, NaN])).toBe(2);
    const fromNaN = new EarlyStopping({ patience: 5 });
    fromNaN.onEpochEnd(logs(1, { val_loss: NaN }));
    expect(fromNaN.snapshot().best).toBe(Infinity);
  });

  it('with restore_best_weights: remembers the first counted epoch and every improvement, and restores the best at the end', () => {
    const callback = new EarlyStopping({ patience: 2, restoreBestWeights: true, startFromEpoch: 1 });
    expect(kinds(callback.onEpochEnd(logs(1, { val_loss: 0.1 })))).toEqual([]); // before start_from_epoch
    expect(kinds(callback.onEpochEnd(logs(2, { val_loss: 1 })))).toEqual(['remember_weights']);
    expect(kinds(callback.onEpochEnd(logs(3, { val_loss: 0.5 })))).toEqual(['remember_weights']);
    expect(kinds(callback.onEpochEnd(logs(4, { val_loss: 0.6 })))).toEqual([]);
    expect(kinds(callback.onEpochEnd(logs(5, { val_loss: 0.7 })))).toEqual(['stop_training']);
    expect(callback.onTrainEnd()).toEqual([{ kind: 'restore_weights', epoch: 3, monitor: 'val_loss', best: 0.5 }]);
  });

  it('restores at the end of training even when it never stopped (Keras 3), and not at all without restore_best_weights', () => {
    const restoring = new EarlyStopping({ patience: 10, restoreBestWeights: true });
    stopEpoch(restoring, [1, 0.5, 0.7]);
    expect(restoring.onTrainEnd()).toMatchObject([{ kind: 'restore_weights', epoch: 2 }]);
    const plain = new EarlyStopping({ patience: 10 });
    stopEpoch(plain, [1, 0.5, 0.7]);
    expect(plain.onTrainEnd()).toEqual([]);
  });

  it('resumes from its snapshot exactly; weights remembered before a resume are reported as lost, not silently replaced', () => {
    const straight = new EarlyStopping({ patience: 2 });
    const first = new EarlyStopping({ patience: 2 });
    const values = [1, 0.8, 0.9, 0.85, 0.95];
    stopEpoch(first, values.slice(0, 3));
    const resumed = new EarlyStopping({ patience: 2 }, first.snapshot());
    const remaining = values.slice(3).map((v, i) => resumed.onEpochEnd(logs(4 + i, { val_loss: v })));
    expect(stopEpoch(straight, values)).toBe(4);
    expect(kinds(remaining[0]!)).toEqual(['stop_training']);

    const before = new EarlyStopping({ patience: 5, restoreBestWeights: true });
    stopEpoch(before, [1, 0.5]);
    const after = new EarlyStopping({ patience: 5, restoreBestWeights: true }, before.snapshot());
    expect(kinds(after.onEpochEnd(logs(3, { val_loss: 0.7 })))).toEqual([]);
    expect(after.onTrainEnd()).toMatchObject([{ kind: 'warn', code: 'RESTORE_UNAVAILABLE' }]);
  });
});
