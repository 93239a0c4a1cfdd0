import { describe, expect, it } from 'vitest';
import { GradientReducer, type FinalRange } from '../coordinator/reducer.js';
import { decodeFp16, encodeFp16 } from '../shared/fp16/codec.js';
import { bytesOf, chunkPayload } from '../shared/wire/index.js';

/** One rank's upload, in chunks of `chunkBytes`: gradients (encoded in the reducer's dtype), then state values. */
function upload(reducer: GradientReducer, rank: number, gradients: number[], state: number[], chunkBytes = 4096): FinalRange[] {
  const wire = reducer.dtype === 'TENSOR_DTYPE_FLOAT16' ? new Uint16Array(gradients.length) : new Float32Array(gradients);
  if (wire instanceof Uint16Array) encodeFp16(new Float32Array(gradients), wire);
  const final: FinalRange[] = [];
  for (const chunk of chunkPayload([bytesOf(wire), bytesOf(new Float32Array(state))], chunkBytes)) final.push(...reducer.accept(rank, chunk.offset, chunk.data, `rank ${rank}`));
  return final;
}

/** What every replica applies: the decoded wire values (still scaled), the averaged state, and who sent non-finite values. */
function finishRound(reducer: GradientReducer) {
  if (!reducer.ready) throw new RangeError(`step ${reducer.currentStep} is not fully reduced yet`);
  const wire = reducer.gradientWire;
  const gradients = wire instanceof Uint16Array ? new Float32Array(wire.length) : wire.slice();
  if (wire instanceof Uint16Array) decodeFp16(wire, gradients);
  return { gradients, state: reducer.state.slice(), nonFinite: reducer.nonFinite, payload: reducer.payload() };
}

describe('gradient reducer', () => {
  it('weights each worker by shard size over the global batch', () => {
    const reducer = new GradientReducer(3, 1, 'fp32');
    reducer.begin(0, [{ rank: 0, shardSize: 96 }, { rank: 1, shardSize: 32 }], 128);
    upload(reducer, 0, [1, 2, 4], [10]);
    upload(reducer, 1, [5, -2, 0], [2]);
    const result = finishRound(reducer);
    expect(Array.from(result.gradients)).toEqual([0.75 * 1 + 0.25 * 5, 0.75 * 2 - 0.25 * 2, 3]);
    expect(Array.from(result.state)).toEqual([0.75 * 10 + 0.25 * 2]);
    expect(result.nonFinite).toEqual([]);
  });

  it('gives one worker with the whole batch the same result as two equal halves of identical gradients', () => {
    const one = new GradientReducer(2, 0, 'fp16');
    one.begin(0, [{ rank: 0, shardSize: 128 }], 128);
    upload(one, 0, [0.5, -3], []);
    const two = new GradientReducer(2, 0, 'fp16');
    two.begin(0, [{ rank: 0, shardSize: 64 }, { rank: 1, shardSize: 64 }], 128);
    upload(two, 0, [0.5, -3], []);
    upload(two, 1, [0.5, -3], []);
    expect(Array.from(finishRound(two).gradients)).toEqual(Array.from(finishRound(one).gradients));
  });

  it('adds uploads in rank order whatever order they finish in, so sums are reproducible', () => {
    const values = [[1e8, 1, -1e8], [1, 1e8, 1], [-1e8, -1e8, 3]];
    const run = (order: number[]) => {
      const reducer = new GradientReducer(3, 0, 'fp32');
      reducer.begin(7, [0, 1, 2].map((rank) => ({ rank, shardSize: 1 })), 3);
      for (const rank of order) {
        upload(reducer, rank, values[rank]!, []);
      }
      expect(reducer.ready).toBe(true);
      return Array.from(finishRound(reducer).gradients);
    };
    expect(run([2, 0, 1])).toEqual(run([0, 1, 2]));
    expect(run([1, 2, 0])).toEqual(run([0, 1, 2]));
  });

  it('is not ready until every member has uploaded', () => {
    const reducer = new GradientReducer(1, 0, 'fp32');
    reducer.begin(0, [{ rank: 0, shardSize: 1 }, { rank: 1, shardSize: 1 }], 2);
    upload(reducer, 1, [1], []);
    expect(reducer.ready).toBe(false);
    expect(() => finishRound(reducer)).toThrow(/not fully reduced/);
    upload(reducer, 0, [1], []);
    expect(reducer.ready).toBe(true);
  });

  it('names the worker whose fp16 gradients held inf or NaN', () => {
    const reducer = new GradientReducer(3, 0, 'fp16');
    reducer.begin(0, [{ rank: 0, shardSize: 1 }, { rank: 1, shardSize: 1 }], 2);
    upload(reducer, 0, [1, 2, 3], []);
    upload(reducer, 1, [Infinity, 70000, 1], []);
    expect(finishRound(reducer).nonFinite).toEqual([{ rank: 1, count: 2 }]);
  });

  it('sends back fp16 values and applies exactly the decoded wire values', () => {
    const reducer = new GradientReducer(2, 0, 'fp16');
    reducer.begin(0, [{ rank: 0, shardSize: 1 }, { rank: 1, shardSize: 2 }], 3);
    upload(reducer, 0, [1, 0.1], []);
    upload(reducer, 1, [2, 0.2], []);
    const result = finishRound(reducer);
    const wire = new Uint16Array(result.payload[0]!.buffer, result.payload[0]!.byteOffset, 2);
    // the applied values are fp16-representable: re-encoding them changes nothing
    const reencoded = new Uint16Array(2);
    encodeFp16(result.gradients, reencoded);
    expect(Array.from(reencoded)).toEqual(Array.from(wire));
    expect(result.gradients[0]).toBeCloseTo(5 / 3, 3);
  });

  it('reduces each range as soon as every member has sent it, and only then', () => {
    const reducer = new GradientReducer(4096, 0, 'fp16', 1024);
    reducer.begin(0, [{ rank: 0, shardSize: 1 }, { rank: 1, shardSize: 1 }], 2);
    const values = Array.from({ length: 4096 }, (_, i) => (i % 7) - 3);
    // rank 0 sends everything first: nothing is final until rank 1's bytes arrive
    expect(upload(reducer, 0, values, [], 1024)).toEqual([]);
    expect(reducer.backlog(0)).toBe(8);
    const chunks = [...chunkPayload([bytesOf((() => { const w = new Uint16Array(4096); encodeFp16(new Float32Array(values), w); return w; })())], 1024)];
    expect(reducer.accept(1, chunks[0]!.offset, chunks[0]!.data, 'rank 1')).toEqual([{ offset: 0, length: 1024 }]);
    expect(reducer.backlog(0)).toBe(7);
    expect(reducer.ready).toBe(false);
    const rest = chunks.slice(1).flatMap((c) => reducer.accept(1, c.offset, c.data, 'rank 1'));
    expect(rest.map((r) => r.offset)).toEqual([1024, 2048, 3072, 4096, 5120, 6144, 7168]);
    expect(reducer.ready).toBe(true);
    expect(Array.from(finishRound(reducer).gradients)).toEqual(values);
  });

  it('keeps a chunk that waits by reference, and reads a transport buffer that is reused only once nothing of it waits', () => {
    const elements = 6000;
    const values = [0, 1, 2].map((rank) => Array.from({ length: elements }, (_, i) => Math.sin(i + rank) * (rank + 1)));
    const chunksOf = (rank: number, chunkBytes: number) => {
      const wire = new Uint16Array(elements);
      encodeFp16(new Float32Array(values[rank]!), wire);
      return [...chunkPayload([bytesOf(wire), bytesOf(new Float32Array([rank, 2 * rank]))], chunkBytes)].map((c) => ({ offset: c.offset, data: Uint8Array.from(c.data) }));
    };
    const members = [0, 1, 2].map((rank) => ({ rank, shardSize: rank + 1 }));
    // Fresh bytes for every chunk, whole uploads one after another: the reference.
    const reference = new GradientReducer(elements, 2, 'fp16', 1024);
    reference.begin(0, members, 6);
    for (const rank of [0, 1, 2]) for (const c of chunksOf(rank, 1024)) reference.accept(rank, c.offset, c.data, `rank ${rank}`);
    const expected = finishRound(reference);

    // Each member has one transport buffer (as a message reader has), filled with garbage and
    // reused for its next chunk; a member whose chunk waits is paused (it sends nothing) until its
    // backlog is 0, as the step engine does. Members out of step, different chunk sizes, three rounds.
    const reducer = new GradientReducer(elements, 2, 'fp16', 1024);
    for (let round = 0; round < 3; round++) {
      reducer.begin(round, members, 6);
      const queues = [chunksOf(0, 1024), chunksOf(1, 400), chunksOf(2, 1024)];
      const transports = [0, 1, 2].map(() => new Uint8Array(1024 + 3));
      const order = [0, 0, 2, ...Array.from({ length: 80 }, () => [0, 1, 1, 1, 2]).flat()];
      let paused = 0;
      let maxHeld = 0;
      for (const rank of order) {
        if (reducer.backlog(rank) > 0) {
          paused++;
          continue;
        }
        const c = queues[rank]!.shift();
        if (!c) continue;
        const transport = transports[rank]!;
        transport.fill(0xff);
        const at = 3 * (rank % 2);
        transport.set(c.data, at);
        reducer.accept(rank, c.offset, transport.subarray(at, at + c.data.byteLength), `rank ${rank}`);
        maxHeld = Math.max(maxHeld, reducer.heldChunks);
      }
      expect(queues.every((q) => q.length === 0)).toBe(true);
      const result = finishRound(reducer);
      expect(Buffer.from(bytesOf(result.gradients)).equals(Buffer.from(bytesOf(expected.gradients)))).toBe(true);
      expect(Array.from(result.state)).toEqual(Array.from(expected.state));
      expect(paused).toBeGreaterThan(0);
      // At most one waiting chunk per member, the slowest one's never (rank 1's are 400 bytes: two of them can wait on a 1024-byte range).
      expect(maxHeld).toBeGreaterThan(0);
      expect(maxHeld).toBeLessThanOrEqual(4);
      expect(reducer.heldChunks).toBe(0);
    }

    // Not copied: bytes changed while their chunk waits are what is reduced.
    const held = new GradientReducer(4, 0, 'fp32', 16);
    held.begin(0, [{ rank: 0, shardSize: 1 }, { rank: 1, shardSize: 1 }], 2);
    const early = new Float32Array([1, 2, 3, 4]);
    held.accept(0, 0, bytesOf(early), 'rank 0');
    expect(held.backlog(0)).toBe(1);
    early[0] = 100;
    held.accept(1, 0, bytesOf(new Float32Array([1, 1, 1, 1])), 'rank 1');
    expect(held.backlog(0)).toBe(0);
    expect(Array.from(held.gradientWire as Float32Array)).toEqual([50.5, 1.5, 2, 2.5]);
  });

  it('gives the same sums whatever the chunk sizes and arrival order', () => {
    const values = [Array.from({ length: 3000 }, (_, i) => Math.sin(i) * 100), Array.from({ length: 3000 }, (_, i) => Math.cos(i) * 1e-3)];
    const run = (sizes: [number, number], order: number[]) => {
      const reducer = new GradientReducer(3000, 5, 'fp32', 4096);
      reducer.begin(3, [{ rank: 0, shardSize: 3 }, { rank: 1, shardSize: 1 }], 4);
      for (const rank of order) upload(reducer, rank, values[rank]!, [rank, 1, 2, 3, 4], sizes[rank]);
      return finishRound(reducer);
    };
    const reference = run([4096, 4096], [0, 1]);
    for (const [sizes, order] of [[[400, 1200], [1, 0]], [[4096, 12], [0, 1]], [[20, 4096], [1, 0]]] as const) {
      const other = run(sizes as [number, number], order as unknown as number[]);
      expect(Buffer.from(bytesOf(other.gradients)).equals(Buffer.from(bytesOf(reference.gradients)))).toBe(true);
      expect(Array.from(other.state)).toEqual(Array.from(reference.state));
    }
    expect(reference.state[0]).toBe(0.25);
  });

  it('refuses chunks out of order, beyond the declared size, splitting a value or spanning the state, and non-finite state', () => {
    const reducer = new GradientReducer(4, 2, 'fp16', 64);
    reducer.begin(0, [{ rank: 0, shardSize: 1 }], 1);
    expect(() => reducer.accept(0, 2, new Uint8Array(2), 'rank 0')).toThrow(/TensorChunk\.offset is 2; the next chunk starts at byte 0/);
    expect(() => reducer.accept(0, 0, new Uint8Array(3), 'rank 0')).toThrow(/splits a 2-byte value/);
    expect(() => reducer.accept(0, 0, new Uint8Array(12), 'rank 0')).toThrow(/spans the gradients and the state at byte 8/);
    reducer.accept(0, 0, new Uint8Array(8), 'rank 0');
    expect(() => reducer.accept(0, 8, bytesOf(new Float32Array([1, NaN])), 'rank 0')).toThrow(/non-finite BatchNorm statistic \(value 1\)/);
    expect(() => reducer.accept(0, 8, new Uint8Array(12), 'rank 0')).toThrow(/20 bytes received, more than the 16 declared/);
    reducer.accept(0, 8, bytesOf(new Float32Array([1, 2])), 'rank 0');
    expect(reducer.ready).toBe(true);
  });

  it('starts every round from zero and refuses shards that do not add up', () => {
    const reducer = new GradientReducer(1, 0, 'fp32');
    reducer.begin(0, [{ rank: 0, shardSize: 2 }], 2);
    upload(reducer, 0, [5], []);
    finishRound(reducer);
    reducer.begin(1, [{ rank: 0, shardSize: 2 }], 2);
    upload(reducer, 0, [1], []);
    expect(Array.from(finishRound(reducer).gradients)).toEqual([1]);
    expect(() => reducer.begin(2, [{ rank: 0, shardSize: 3 }], 2)).toThrow(/sum to 3/);
  });
});
