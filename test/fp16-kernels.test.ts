// The WebAssembly SIMD fp16 kernels give exactly the scalar codec's results.

import { describe, expect, it } from 'vitest';
import { float32ToHalfBits, halfBitsToFloat32 } from '../shared/fp16/codec.js';
import { Fp16Kernels } from '../shared/fp16/kernels.js';

/** A reproducible stream of 32-bit patterns. */
function bitPatterns(count: number, seed = 7): Uint32Array {
  const out = new Uint32Array(count);
  let state = seed >>> 0;
  for (let i = 0; i < count; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    out[i] = state >>> 0;
  }
  return out;
}

describe('fp16 SIMD kernels', () => {
  it('encode every float32 as the scalar codec does: random bit patterns, halfway ties, subnormals, overflow, Inf and NaN', () => {
    const kernels = new Fp16Kernels(1 << 16);
    const specials = [0, -0, 65504, 65519.99, 65520, -65520, 1e-8, 2 ** -24, 2 ** -25, 3 * 2 ** -26, 2 ** -14, -(2 ** -14) * 0.99, Infinity, -Infinity, NaN, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 2049, 2051];
    const ties: number[] = [];
    for (let h = 0; h < 0x7c00; h += 97) ties.push((halfBitsToFloat32(h) + halfBitsToFloat32(h + 1)) / 2);
    const random = new Float32Array(bitPatterns(1 << 20).buffer);
    for (const values of [Float32Array.from([...specials, ...ties]), random, Float32Array.from(random, (x) => x * 2 ** -100)]) {
      const simd = new Uint16Array(values.length);
      const nonFinite = kernels.encodeAll(values, simd);
      let expectedNonFinite = 0;
      let mismatches = 0;
      values.forEach((x, i) => {
        const bits = float32ToHalfBits(x);
        if ((bits & 0x7c00) === 0x7c00) expectedNonFinite++;
        if (bits !== simd[i]) mismatches++;
      });
      expect(mismatches).toBe(0);
      expect(nonFinite).toBe(expectedNonFinite);
    }
  });

  it('decode and accumulate every half, first and later members, in float64 as JavaScript does', () => {
    const count = 65536 + 5; // every half, and a tail the scalar code does
    const kernels = new Fp16Kernels(count);
    const halves = new Uint16Array(count).map((_, i) => i & 0xffff);
    const bytes = new Uint8Array(halves.buffer);
    for (const weight of [1, 1 / 3, 43 / 128, 0.5]) {
      const expected = new Float32Array(count);
      let expectedNonFinite = 0;
      for (const first of [true, false]) {
        const got = kernels.accumulate(bytes, 0, count, weight, 0, first);
        expectedNonFinite = 0;
        for (let i = 0; i < count; i++) {
          const bits = halves[i]!;
          if ((bits & 0x7c00) === 0x7c00) expectedNonFinite++;
          const value = weight * halfBitsToFloat32(bits);
          expected[i] = first ? 0 + value : expected[i]! + value;
        }
        expect(got).toBe(expectedNonFinite);
        const a = new Uint32Array(kernels.sum.slice(0, count).buffer);
        const b = new Uint32Array(expected.buffer);
        let mismatches = 0;
        for (let i = 0; i < count; i++) if (a[i] !== b[i] && !(Number.isNaN(expected[i]) && Number.isNaN(kernels.sum[i]))) mismatches++;
        expect(mismatches).toBe(0);
      }
    }
  });

  it('accumulates at any offset of the received bytes and of the sum', () => {
    const kernels = new Fp16Kernels(64);
    const source = new Uint8Array(1 + 2 * 40);
    const halves = Array.from({ length: 40 }, (_, i) => float32ToHalfBits(i - 20.5));
    halves.forEach((h, i) => {
      source[1 + 2 * i] = h & 0xff;
      source[2 + 2 * i] = h >>> 8;
    });
    kernels.sum.fill(1);
    kernels.accumulate(source, 1, 40, 2, 3, false);
    expect(Array.from(kernels.sum.subarray(3, 43))).toEqual(halves.map((h) => 1 + 2 * halfBitsToFloat32(h)));
    expect(kernels.sum[2]).toBe(1);
    expect(kernels.sum[43]).toBe(1);
  });
});
