// The small version of bench:chaos (issue 12, acceptance d): 5 seeded hits — workers killed or
// stopped at random moments, the coordinator killed and resumed — with and without --elastic.
// Every run must finish, with no hang, no completed epoch lost and no orphan process.

import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helpers/processes.js';

describe('bench:chaos --kills 5', () => {
  it('finishes every run: no hang, no lost epoch, no orphan, every hit detected and recovered from', async () => {
    const child = spawn(process.execPath, [path.join(ROOT, 'dist', 'bench', 'chaos.js'), '--kills', '5', '--seed', '3', '--json'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    const summary = JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
    expect(summary, stderr).toMatchObject({ hits: 5, hangs: 0, unfinished: 0, epochs_lost: 0, orphans: 0, unrecovered: 0 });
    expect(code, stderr).toBe(0);
    // a worker SIGKILL is seen at once (its stream breaks); a SIGSTOP within the 3 s heartbeat timeout and a little
    expect((summary['detect_seconds'] as { max: number }).max).toBeLessThan(15);
  }, 300_000);
});
