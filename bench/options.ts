// What every benchmark script reads and prints the same way: its --flags, the machine's load
// average (quoted with every figure) and the median of repeated timings.

import os from 'node:os';

/** The value after --name on the command line, or `fallback`. */
export function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

/** The 1, 5 and 15 minute load averages, two decimals each. */
export const loadAverage = (): string => os.loadavg().map((l) => l.toFixed(2)).join(' ');

/** The middle value (the upper one of an even count). */
export const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
