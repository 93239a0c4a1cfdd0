// bench:transport moves real bytes between two real processes, through gRPC on node:http2 (the
// product's settings and MessageReader) and through a bare TCP socket; it fails unless the
// receiver counted every byte and, over HTTP/2, every gRPC message. The figures themselves are
// the benchmark's business: here they need only be there and be finite.

import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PEER_MAX_FRAME_BYTES } from '../shared/wire/http2-grpc.js';
import { Program, ROOT, cleanUp } from './helpers/processes.js';

afterEach(cleanUp);

const BENCH = path.join(ROOT, 'dist', 'bench', 'transport.js');

describe('bench:transport', () => {
  it('measures both transports, one JSON line each', async () => {
    const bench = new Program(BENCH, ['--megabytes', '8', '--repeat', '1', '--json']);
    expect((await bench.exit(60_000)).code, bench.output).toBe(0);
    const rows = bench.output.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Record<string, number | string>);
    expect(rows.map((r) => r.transport)).toEqual(['grpc-http2', 'tcp']);
    for (const row of rows) {
      expect(row.megabytes).toBe(8);
      for (const key of ['receiverMsPerMiB', 'senderMsPerMiB', 'mibPerSecond']) {
        expect(Number.isFinite(row[key]), key).toBe(true);
        expect(row[key] as number, key).toBeGreaterThan(0);
      }
    }
    // HTTP/2 hands its DATA over in frames no larger than the receiver allowed.
    expect(rows[0]!.commonPieceBytes as number).toBeGreaterThan(0);
    expect(rows[0]!.commonPieceBytes as number).toBeLessThanOrEqual(PEER_MAX_FRAME_BYTES);
  });

  it('refuses a size that is not a positive whole number', async () => {
    const bench = new Program(BENCH, ['--megabytes', '0']);
    expect((await bench.exit(30_000)).code).not.toBe(0);
    expect(bench.output).toContain('--megabytes 0: expected a positive whole number');
  });
});
