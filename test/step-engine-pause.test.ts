// The step engine's side of holding chunks in place (coordinator/reducer.ts keeps a chunk that
// waits for slower members by reference, uncopied): it must pause a member's upload as soon as one
// of its chunks waits, before the member can send another, and resume it once nothing of it
// waits. Here each member's transport reuses one buffer for every chunk, as the exchange server's
// message reader does, and sends only while not paused; the reduced chunks streamed back must be
// exactly the sums of the bytes sent.

import { afterEach, describe, expect, it } from 'vitest';
import { FlatShadow } from '../bench/exchange/flat-shadow.js';
import { GradientReducer } from '../coordinator/reducer.js';
import { StepEngine, type DownloadSink, type StepPlan } from '../coordinator/step-engine.js';
import type { Member } from '../coordinator/world.js';
import { encodeFp16 } from '../shared/fp16/codec.js';
import { LossScaler } from '../shared/loss-scaler.js';
import { bytesOf, chunkPayload } from '../shared/wire/index.js';
import type { GradientHeader__Output } from '../shared/wire/generated/emotrain/v1/GradientHeader.js';

const ELEMENTS = 3000;
const CHUNK = 1024;

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

function member(rank: number): Member {
  return { rank, workerId: `w${rank}`, host: 'test', gpu: -1, pid: 1, backend: 'cpu', localData: false, peerAddress: '', peer: `127.0.0.1:${1000 + rank}`, joinedAtMs: 0, lastHeartbeatMs: 0, commands: undefined };
}

/** Rank `rank`'s fp16 gradients, in chunks of CHUNK bytes. */
function chunksOf(rank: number): Array<{ offset: number; data: Uint8Array }> {
  const wire = new Uint16Array(ELEMENTS);
  encodeFp16(Float32Array.from({ length: ELEMENTS }, (_, i) => Math.sin(i * (rank + 1)) * (rank + 2)), wire);
  return [...chunkPayload([bytesOf(wire)], CHUNK)].map((c) => ({ offset: c.offset, data: Uint8Array.from(c.data) }));
}

describe('step engine, members out of step', () => {
  it('pauses a member whose chunk waits before it can send another, resumes it once reduced, and streams back the right sums although each transport buffer is reused', async () => {
    const shadow = new FlatShadow(ELEMENTS, 0);
    closers.push(() => shadow.close());
    const engine = new StepEngine(shadow, new LossScaler({ initialScale: 1024 }), 'fp16', { chunkBytes: CHUNK });
    const members = [member(0), member(1), member(2)];
    const shards = [
      { rank: 0, offset: 0, sampleIds: [0] },
      { rank: 1, offset: 1, sampleIds: [1, 2] },
      { rank: 2, offset: 3, sampleIds: [3, 4, 5] },
    ];
    const plan: StepPlan = { step: 0, generation: 0, epoch: 1, batch: [0, 1, 2, 3, 4, 5], members, shards };
    await engine.open(plan);

    // The reference: fresh bytes, whole uploads one after another.
    const reference = new GradientReducer(ELEMENTS, 0, 'fp16', CHUNK);
    reference.begin(0, shards.map((s) => ({ rank: s.rank, shardSize: s.sampleIds.length })), 6);
    for (const rank of [0, 1, 2]) for (const c of chunksOf(rank)) reference.accept(rank, c.offset, c.data, `rank ${rank}`);
    const expected = Buffer.from(bytesOf(reference.gradientWire));

    const paused = [false, false, false];
    const pauses = [0, 0, 0];
    const downloads = [0, 1, 2].map(() => Buffer.alloc(ELEMENTS * 2));
    const sessions = members.map((m, rank) => {
      const sink: DownloadSink = {
        chunk: (chunk) => Buffer.from(chunk.data).copy(downloads[rank]!, Number(chunk.offset)),
        verdict: (_header, done) => done(),
        fail: (error) => {
          throw error;
        },
        pause: () => {
          expect(paused[rank]).toBe(false);
          paused[rank] = true;
          pauses[rank]!++;
        },
        resume: () => {
          expect(paused[rank]).toBe(true);
          paused[rank] = false;
        },
      };
      const header = {
        runId: 'test', workerId: m.workerId, step: 0, lossScale: engine.lossScale, dtype: 'TENSOR_DTYPE_FLOAT16', gradientElements: ELEMENTS, stateElements: 0,
        shardSize: shards[rank]!.sampleIds.length, lossSum: 0, correct: 0, regularizationLoss: 0, timings: { dataSeconds: 0, computeSeconds: 0, exchangeSeconds: 0, applySeconds: 0, totalSeconds: 0 }, nonFinite: 0, segmentOffset: 0, segmentElements: 0, generation: 0,
      } as unknown as GradientHeader__Output;
      return engine.beginUpload(m, header, sink);
    });

    const queues = [0, 1, 2].map(chunksOf);
    const transports = [0, 1, 2].map(() => new Uint8Array(CHUNK));
    // Rank 0 tries to run ahead, rank 2 lags; a paused member's turn is skipped (its transport
    // does not read), and the moment it is resumed its one buffer is overwritten with the next chunk.
    const order = [0, 0, 0, 1, 0, 0, 1, ...Array.from({ length: 20 }, () => [0, 1, 0, 2]).flat()];
    let skipped = 0;
    for (const rank of order) {
      if (paused[rank]) {
        skipped++;
        continue;
      }
      const next = queues[rank]!.shift();
      if (!next) continue;
      const transport = transports[rank]!;
      transport.fill(0xff);
      transport.set(next.data);
      sessions[rank]!.write({ offset: next.offset, data: Buffer.from(transport.buffer, 0, next.data.byteLength) });
    }
    expect(queues.map((q) => q.length)).toEqual([0, 0, 0]);
    for (const session of sessions) session.end();
    expect(paused).toEqual([false, false, false]);
    expect(skipped).toBeGreaterThan(0);
    expect(pauses[0]).toBeGreaterThan(0);
    expect(pauses[1]).toBeGreaterThan(0);
    // The slowest member is never ahead, so never paused.
    expect(pauses[2]).toBe(0);
    for (const download of downloads) expect(download.equals(expected)).toBe(true);
  });
});
