// How numbers read in console lines (issue 15): counts with their noun in the right number, and
// learning rates as Keras users read them (1.00e-3), not as float32 round trips print them.

/** "1 epoch", "2 epochs"; `plural` for nouns that do not just take an s. */
export function counted(count: number, noun: string, plural = `${noun}s`): string {
  return `${count} ${count === 1 ? noun : plural}`;
}

/** A learning rate for people: 1.00e-3 (0 stays 0). */
export function formatLearningRate(lr: number): string {
  if (lr === 0 || !Number.isFinite(lr)) return String(lr);
  return lr.toExponential(2).replace('e+', 'e');
}
