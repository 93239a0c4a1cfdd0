// bench:exchange runs both exchange transports end to end: each measured exchange is a real
// one (the coordinator's handler, the workers' exchange loop), and the run ends only once the
// replicas' checksums at the epoch's end matched the coordinator's shadow, so a transport that
// delivered one wrong byte would fail it. The figures themselves are the benchmark's business.

import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Program, ROOT, cleanUp } from './helpers/processes.js';

afterEach(cleanUp);

const BENCH = path.join(ROOT, 'dist', 'bench', 'exchange.js');

describe('bench:exchange', () => {
  it('measures star and ring with Exchange on node:http2 and through grpc-js, one JSON line each', async () => {
    const bench = new Program(BENCH, ['--params', '300000', '--workers', '2', '--mode', 'star,ring', '--exchange-transport', 'http2,grpc-js', '--repeat', '2', '--json']);
    expect((await bench.exit(120_000)).code, bench.output).toBe(0);
    const rows = bench.output.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(rows.map((r) => `${String(r.mode)}/${String(r.transport)}`)).toEqual(['star/http2', 'star/grpc-js', 'ring/http2', 'ring/grpc-js']);
    for (const row of rows) {
      expect(row).toMatchObject({ workers: 2, params: 300000, precision: 'fp16' });
      expect(row.seconds as number).toBeGreaterThan(0);
      expect(row.seconds as number).toBeLessThan(30);
      expect(row.coordinatorMajorGcs as number).toBeGreaterThanOrEqual(0);
      // A worker spends CPU in every exchange; its one thread (and V8's helpers) cannot spend
      // much more than the exchange's own time.
      expect(row.workerCpuSeconds as number).toBeGreaterThan(0);
      expect(row.workerCpuSeconds as number).toBeLessThan(2 * (row.secondsFromOwnStart as number) + 0.05);
    }
  });

  it('refuses a transport it does not know', async () => {
    const bench = new Program(BENCH, ['--params', '1000', '--exchange-transport', 'tcp']);
    expect((await bench.exit(30_000)).code).not.toBe(0);
    expect(bench.output).toContain('--exchange-transport tcp: expected http2 or grpc-js');
  });
});
