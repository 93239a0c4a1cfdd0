// The wire types are generated from proto/emotrain.proto (scripts/wire-types.mjs); CI runs the
// check before building, so generated files that no longer match the proto fail the run.

import { spawnSync } from 'node:child_process';
import { cpSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ROOT, tempDir, cleanUp } from './helpers/processes.js';

const SCRIPT = path.join(ROOT, 'scripts', 'wire-types.mjs');
const GENERATED = path.join(ROOT, 'shared', 'wire', 'generated');

function check(out: string) {
  return spawnSync(process.execPath, [SCRIPT, '--check', '--out', out], { cwd: ROOT, encoding: 'utf8' });
}

afterEach(cleanUp);

describe('generated wire types', () => {
  it('match the proto in the tree', () => {
    const result = check(GENERATED);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/matches proto\/emotrain\.proto \(\d+ files\)/);
  });

  it('are reported stale when a generated file was edited or is missing', () => {
    const copy = path.join(tempDir('wire'), 'generated');
    cpSync(GENERATED, copy, { recursive: true });
    const header = path.join(copy, 'emotrain', 'v1', 'GradientHeader.ts');
    writeFileSync(header, readFileSync(header, 'utf8').replace("'lossSum': (number);", "'lossSum': (string);"));
    rmSync(path.join(copy, 'emotrain', 'v1', 'Stop.ts'));
    const result = check(copy);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/is stale against proto\/emotrain\.proto: .*emotrain\/v1\/GradientHeader\.ts/);
    expect(result.stderr).toMatch(/emotrain\/v1\/Stop\.ts/);
    expect(result.stderr).toMatch(/run `npm run build`/);
  });
});
