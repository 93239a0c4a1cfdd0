import { describe, expect, it } from 'vitest';
import { GradientReducer } from '../coordinator/reducer.js';
import { encodeFp16 } from '../shared/fp16.js';

/** Stages one rank's upload: gradients (encoded in the reducer's dtype) and state values. */
function upload(reducer: GradientReducer, rank: number, gradients: number[], state: number[]): void {
  const [gradientBytes, stateBytes] = reducer.stagingFor(rank);
  if (reducer.dtype === 'TENSOR_DTYPE_FLOAT16') {
    encodeFp16(new Float32Array(gradients), new Uint16Array(gradientBytes!.buffer, gradientBytes!.byteOffset, gradients.length));
  } else {
    new Float32Array(gradientBytes!.buffer, gradientBytes!.byteOffset, gradients.length).set(gradients);
  }
  new Float32Array(stateBytes!.buffer, stateBytes!.byteOffset, state.length).set(state);
  reducer.markComplete(rank);
}

describe('gradient reducer', () => {
  it('weights each worker by shard size over the global batch', () => {
    const reducer = new GradientReducer(3, 1, 'fp32');
    reducer.begin(0, [{ rank: 0, shardSize: 96 }, { rank: 1, shardSize: 32 }], 128);
    upload(reducer, 0, [1, 2, 4], [10]);
    upload(reducer, 1, [5, -2, 0], [2]);
    const result = reducer.finish();
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
    expect(Array.from(two.finish().gradients)).toEqual(Array.from(one.finish().gradients));
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
      return Array.from(reducer.finish().gradients);
    };
    expect(run([2, 0, 1])).toEqual(run([0, 1, 2]));
    expect(run([1, 2, 0])).toEqual(run([0, 1, 2]));
  });

  it('is not ready until every member has uploaded', () => {
    const reducer = new GradientReducer(1, 0, 'fp32');
    reducer.begin(0, [{ rank: 0, shardSize: 1 }, { rank: 1, shardSize: 1 }], 2);
    upload(reducer, 1, [1], []);
    expect(reducer.ready).toBe(false);
    expect(() => reducer.finish()).toThrow(/not fully reduced/);
    upload(reducer, 0, [1], []);
    expect(reducer.ready).toBe(true);
  });

  it('names the worker whose fp16 gradients held inf or NaN', () => {
    const reducer = new GradientReducer(3, 0, 'fp16');
    reducer.begin(0, [{ rank: 0, shardSize: 1 }, { rank: 1, shardSize: 1 }], 2);
    upload(reducer, 0, [1, 2, 3], []);
    upload(reducer, 1, [Infinity, 70000, 1], []);
    expect(reducer.finish().nonFinite).toEqual([{ rank: 1, count: 2 }]);
  });

  it('sends back fp16 values and applies exactly the decoded wire values', () => {
    const reducer = new GradientReducer(2, 0, 'fp16');
    reducer.begin(0, [{ rank: 0, shardSize: 1 }, { rank: 1, shardSize: 2 }], 3);
    upload(reducer, 0, [1, 0.1], []);
    upload(reducer, 1, [2, 0.2], []);
    const result = reducer.finish();
    const wire = new Uint16Array(result.payload[0]!.buffer, result.payload[0]!.byteOffset, 2);
    // the applied values are fp16-representable: re-encoding them changes nothing
    const reencoded = new Uint16Array(2);
    encodeFp16(result.gradients, reencoded);
    expect(Array.from(reencoded)).toEqual(Array.from(wire));
    expect(result.gradients[0]).toBeCloseTo(5 / 3, 3);
  });

  it('starts every round from zero and refuses shards that do not add up', () => {
    const reducer = new GradientReducer(1, 0, 'fp32');
    reducer.begin(0, [{ rank: 0, shardSize: 2 }], 2);
    upload(reducer, 0, [5], []);
    reducer.finish();
    reducer.begin(1, [{ rank: 0, shardSize: 2 }], 2);
    upload(reducer, 0, [1], []);
    expect(Array.from(reducer.finish().gradients)).toEqual([1]);
    expect(() => reducer.begin(2, [{ rank: 0, shardSize: 3 }], 2)).toThrow(/sum to 3/);
  });
});
