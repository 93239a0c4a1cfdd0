import { describe, expect, it } from 'vitest';
import {
  FP16_MAX,
  FP16_MIN_NORMAL,
  FP16_MIN_SUBNORMAL,
  accumulateFp16,
  decodeFp16,
  encodeFp16,
  float32ToHalfBits,
  halfBitsToFloat32,
  isHalfNonFinite,
} from '../shared/fp16/codec.js';

function roundTrip(value: number): number {
  return halfBitsToFloat32(float32ToHalfBits(value));
}

describe('fp16 codec', () => {
  it('round-trips every one of the 63488 finite half values exactly', () => {
    let checked = 0;
    for (let bits = 0; bits < 65536; bits++) {
      if (isHalfNonFinite(bits)) continue;
      const value = halfBitsToFloat32(bits);
      const back = float32ToHalfBits(value);
      // -0 and +0 keep their sign bit
      expect(back).toBe(bits);
      checked++;
    }
    expect(checked).toBe(65536 - 2048);
  });

  it('decodes the landmark values', () => {
    expect(halfBitsToFloat32(0x3c00)).toBe(1);
    expect(halfBitsToFloat32(0xc000)).toBe(-2);
    expect(halfBitsToFloat32(0x7bff)).toBe(FP16_MAX);
    expect(halfBitsToFloat32(0x0400)).toBe(FP16_MIN_NORMAL);
    expect(halfBitsToFloat32(0x0001)).toBe(FP16_MIN_SUBNORMAL);
    expect(halfBitsToFloat32(0x03ff)).toBe(1023 * 2 ** -24);
    expect(halfBitsToFloat32(0x7c00)).toBe(Infinity);
    expect(halfBitsToFloat32(0xfc00)).toBe(-Infinity);
    expect(Number.isNaN(halfBitsToFloat32(0x7e00))).toBe(true);
  });

  it('rounds to nearest, ties to even, in the normal range', () => {
    const ulpAtOne = 2 ** -10;
    expect(roundTrip(1 + ulpAtOne / 2)).toBe(1); // tie: 1.0 has an even mantissa
    expect(roundTrip(1 + (3 * ulpAtOne) / 2)).toBe(1 + 2 * ulpAtOne); // tie: rounds up to even
    expect(roundTrip(1 + ulpAtOne * 0.51)).toBe(1 + ulpAtOne);
    expect(roundTrip(1 + ulpAtOne * 0.49)).toBe(1);
    // relative error bound for normal values is 2^-11
    for (const v of [0.1, 1 / 3, 123.456, 1e-3, 3.14159, 40000.7]) {
      expect(Math.abs(roundTrip(v) - v) / v).toBeLessThanOrEqual(2 ** -11);
    }
  });

  it('keeps subnormals with an absolute error of at most half the smallest subnormal', () => {
    for (const v of [1e-7, 3e-6, 5.9e-5, 6.1e-5, -2.5e-6]) {
      expect(Math.abs(roundTrip(v) - v)).toBeLessThanOrEqual(FP16_MIN_SUBNORMAL / 2);
    }
    expect(roundTrip(FP16_MIN_SUBNORMAL / 2)).toBe(0); // tie to even (zero)
    expect(roundTrip(FP16_MIN_SUBNORMAL * 0.75)).toBe(FP16_MIN_SUBNORMAL);
    expect(roundTrip(FP16_MIN_SUBNORMAL * 1.5)).toBe(2 * FP16_MIN_SUBNORMAL); // tie to even
    expect(roundTrip(1e-9)).toBe(0);
    // the largest subnormal rounds up into the smallest normal when it should
    expect(roundTrip(FP16_MIN_NORMAL - FP16_MIN_SUBNORMAL / 4)).toBe(FP16_MIN_NORMAL);
  });

  it('saturates to infinity exactly where a value rounds above 65504', () => {
    expect(roundTrip(65504)).toBe(65504);
    expect(roundTrip(65519.99)).toBe(65504);
    expect(roundTrip(65520)).toBe(Infinity); // the tie rounds to even, which is the next binade: overflow
    expect(roundTrip(-1e6)).toBe(-Infinity);
  });

  it('counts NaN, infinity and overflow as non-finite when encoding', () => {
    const source = new Float32Array([1, NaN, Infinity, -Infinity, 70000, 65504, -0.5, 1e-30]);
    const target = new Uint16Array(source.length);
    expect(encodeFp16(source, target)).toBe(4);
    const decoded = new Float32Array(source.length);
    expect(decodeFp16(target, decoded)).toBe(4);
    expect(Array.from(decoded.subarray(4))).toEqual([Infinity, 65504, -0.5, 0]);
    expect(Number.isNaN(decoded[1])).toBe(true);
  });

  it('accumulates a weighted decode into an fp32 target', () => {
    const halves = new Uint16Array(3);
    encodeFp16(new Float32Array([1, -2, 0.5]), halves);
    const target = new Float32Array([10, 10, 10, 10]);
    expect(accumulateFp16(halves, 0.25, target, 1)).toBe(0);
    expect(Array.from(target)).toEqual([10, 10.25, 9.5, 10.125]);
  });
});
