// The console in a real pseudo-terminal (util-linux `script`) at 80 and at 200 columns (issue 15,
// acceptance a): no line is longer than the terminal is wide, and the bar shows the steps, img/s
// and the ETA; at 200 columns also the whole run's ETA.

import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { COORDINATOR, TEST_CACHE, cleanUp, tempDir } from './helpers/processes.js';

afterEach(cleanUp);

/** What a terminal shows, as lines: a carriage return or a move to column 1 starts a line again. */
function screenLines(raw: string): string[] {
  return raw
    .split(/\r\n|\n|\r|\x1b\[[01]?G/)
    .map((segment) => segment.replace(/\x1b\[[0-9;?]*[A-Za-z]|\x1b[78]/g, ''))
    .filter((line) => line.trim() !== '');
}

describe('the console in a terminal', () => {
  for (const columns of [80, 200]) {
    it(`fits ${columns} columns: nothing cut or wrapped by the terminal, the bar with steps, img/s and ETA`, () => {
      const runs = tempDir('runs');
      const command = [
        process.execPath, COORDINATOR, '--gpus', '1', '--epochs', '2', '--dataset', 'synthetic', '--synthetic-count', '700', '--model', 'small-cnn',
        '--image-size', '32', '--steps-per-epoch', '6', '--no-metrics', '--runs', runs, '--run-id', 'tty',
      ].join(' ');
      const raw = execFileSync('script', ['-qec', `stty cols ${columns} rows 40; ${command}`, path.join(runs, 'typescript')], {
        encoding: 'utf8',
        env: { ...process.env, EMOTRAIN_CACHE: TEST_CACHE },
        timeout: 180_000,
      });
      const lines = screenLines(raw);
      const tooLong = lines.filter((line) => [...line].length > columns);
      expect(tooLong, raw).toEqual([]);
      const bars = lines.filter((line) => /^Epoch \d+\/2 [━─]+ /.test(line));
      expect(bars.length).toBeGreaterThan(2);
      expect(bars.some((line) => /\d+\/4 .*ETA \d+:\d\d .*\d+ img\/s/.test(line))).toBe(true);
      expect(bars.some((line) => /4\/4 .*validating/.test(line))).toBe(true);
      if (columns >= 200) expect(bars.some((line) => /run ETA \d+:\d\d/.test(line))).toBe(true);
      expect(lines.some((line) => /^finished 2 epochs/.test(line))).toBe(true);
    }, 200_000);
  }
});
