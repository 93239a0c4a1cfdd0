// Every flag is checked before anything is written (issue 14, acceptance d): a bad value stops the
// coordinator with a message naming the flag, and leaves no run directory behind to block the
// same --run-id later.

import { readdirSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { COORDINATOR, Program, cleanUp, tempDir } from './helpers/processes.js';

afterEach(cleanUp);

const BASE = ['--gpus', '1', '--model', 'small-cnn', '--dataset', 'synthetic', '--synthetic-count', '300', '--image-size', '16', '--epochs', '1', '--run-id', 'bad'];

describe('a coordinator given a bad flag', () => {
  it.each([
    [['--freeze', 'abc'], /--freeze "abc" is invalid/],
    [['--metrics-port', '70000'], /--metrics-port must be an integer in \[0, 65535\]/],
    [['--heartbeat-timeout', '0'], /--heartbeat-timeout must be a number of seconds > 0, got 0/],
    [['--stream-idle-timeout', '-1'], /--stream-idle-timeout must be a number of seconds > 0, got -1/],
    [['--join-timeout', '-5'], /--join-timeout must be a number of seconds > 0, got -5/],
    [['--min-workers', '3'], /--min-workers must be an integer in \[1, 1\] \(the world has 1 worker\), got 3/],
    [['--max-restarts', '-1'], /--max-restarts must be an integer >= 0, got -1/],
    [['--listen', 'nowhere'], /--listen "nowhere" is not host:port/],
  ])('%j: says which and writes no run directory', async (flags, expected) => {
    const runs = tempDir('runs');
    const coordinator = new Program(COORDINATOR, [...BASE, '--runs', runs, ...flags]);
    const { code } = await coordinator.exit(60_000);
    expect(code).not.toBe(0);
    expect(coordinator.output).toMatch(expected);
    expect(readdirSync(runs)).toEqual([]);
  });
});
