// Issue 15: the console reads as Keras' does: counts in the right number, learning rates as
// 1.00e-3, and one line for each checkpoint saved.

import { describe, expect, it } from 'vitest';
import { ConsoleReporter } from '../coordinator/console-reporter.js';
import { resolveToken } from '../coordinator/run-setup.js';
import { counted, formatLearningRate } from '../shared/wording.js';

function printed(events: Parameters<ConsoleReporter['onEvent']>[0][]): string {
  let text = '';
  const reporter = new ConsoleReporter({ write: (t: string) => (text += t) }, 'lines');
  for (const event of events) reporter.onEvent(event);
  return text;
}

describe('console wording', () => {
  it('counts in the right number', () => {
    expect(counted(1, 'epoch')).toBe('1 epoch');
    expect(counted(2, 'epoch')).toBe('2 epochs');
    expect(counted(0, 'local worker')).toBe('0 local workers');
  });

  it('prints learning rates as 1.00e-3, not as float32 round trips', () => {
    expect(formatLearningRate(0.0010000000474974513)).toBe('1.00e-3');
    expect(formatLearningRate(1e-4)).toBe('1.00e-4');
    expect(formatLearningRate(0.5)).toBe('5.00e-1');
    expect(formatLearningRate(0)).toBe('0');
  });

  it('says each checkpoint saved in one line', () => {
    const text = printed([
      { event: 'checkpoint_saved', kind: 'best', epoch: 1, step: 2, val_accuracy: 0.35714, previous_best: null },
      { event: 'checkpoint_saved', kind: 'last', epoch: 1, step: 2 },
      { event: 'checkpoint_saved', kind: 'best', epoch: 2, step: 4, val_accuracy: 0.5, previous_best: 0.35714 },
      { event: 'checkpoint_saved', kind: 'last', epoch: 3, step: 6, restored_from_epoch: 2 },
    ]);
    expect(text).toBe(
      'Epoch 1: val_accuracy improved from -inf to 0.3571, saved checkpoints/best\n' +
        'Epoch 1: saved checkpoints/last (step 2)\n' +
        'Epoch 2: val_accuracy improved from 0.3571 to 0.5000, saved checkpoints/best\n' +
        'Epoch 3: saved checkpoints/last (step 6) with the weights of epoch 2\n',
    );
  });

  it('says one epoch of patience in the singular', () => {
    expect(printed([{ event: 'early_stopped', epoch: 4, monitor: 'val_loss', best: 0.5, best_epoch: 3, patience: 1 }])).toContain('did not improve for 1 epoch;');
  });

  it('asks for a token without citing a spec users do not have', () => {
    expect(() => resolveToken('0.0.0.0:50051', undefined)).toThrow(/^refusing to listen on 0\.0\.0\.0:50051 without a token: give --token or set EMOTRAIN_TOKEN \(workers on other hosts must present it\)$/);
  });
});

describe('wrapping a message to the terminal', () => {
  it('breaks at spaces, indents what follows, keeps a leading indent, and cuts a word longer than the width', async () => {
    const { wrapToWidth } = await import('../coordinator/console-reporter.js');
    expect(wrapToWidth('aaaa bbbb cccc dddd eeee ffff gggg', 20)).toBe('aaaa bbbb cccc dddd\n  eeee ffff gggg');
    expect(wrapToWidth('  val_loss 1.0000  val_accuracy 0.5000', 24)).toBe('  val_loss 1.0000\n    val_accuracy 0.5000');
    expect(wrapToWidth(`see ${'x'.repeat(45)}`, 20).split('\n').every((line) => line.length <= 20)).toBe(true);
  });
});
