// IEEE 754 binary16 codec for the gradient wire format (SPEC §3). Node 20 has no Float16Array,
// so conversion is done on the bit patterns: round-to-nearest-even, gradual underflow to
// subnormals, and saturation to ±Inf for magnitudes that round above 65504 (overflow), which the
// loss scaler treats exactly like a non-finite gradient.

export const FP16_MAX = 65504;
/** Smallest positive subnormal half: 2^-24. */
export const FP16_MIN_SUBNORMAL = 2 ** -24;
/** Smallest positive normal half: 2^-14. */
export const FP16_MIN_NORMAL = 2 ** -14;

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Half bits of one float32 value, rounded to nearest even. */
export function float32ToHalfBits(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  const mantissa = x & 0x7fffff;

  if (exponent === 0xff) {
    // Inf stays Inf; any NaN becomes a quiet NaN (keep one mantissa bit set).
    return sign | 0x7c00 | (mantissa !== 0 ? 0x200 : 0);
  }
  // Unbiased exponent of the float32, rebased for half (bias 15).
  const halfExponent = exponent - 127 + 15;
  if (halfExponent >= 0x1f) return sign | 0x7c00; // too large: overflow to Inf
  if (halfExponent <= 0) {
    // Subnormal half (or zero). Shift the full significand (with its implicit 1) into place.
    if (halfExponent < -10) return sign; // below half the smallest subnormal: rounds to zero
    const significand = mantissa | 0x800000;
    const shift = 14 - halfExponent; // 14..24
    let half = significand >>> shift;
    const remainder = significand & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (remainder > halfway || (remainder === halfway && (half & 1) === 1)) half += 1;
    return sign | half; // a carry into bit 10 correctly produces the smallest normal
  }
  let half = (halfExponent << 10) | (mantissa >>> 13);
  const remainder = mantissa & 0x1fff;
  if (remainder > 0x1000 || (remainder === 0x1000 && (half & 1) === 1)) half += 1; // may carry into Inf: overflow
  return sign | half;
}

// Decoding is a table lookup: 65536 entries, built once (256 KiB).
const HALF_TO_FLOAT = buildDecodeTable();

function buildDecodeTable(): Float32Array {
  const table = new Float32Array(65536);
  for (let bits = 0; bits < 65536; bits++) {
    const sign = bits & 0x8000 ? -1 : 1;
    const exponent = (bits >>> 10) & 0x1f;
    const mantissa = bits & 0x3ff;
    let value: number;
    if (exponent === 0) value = mantissa * 2 ** -24;
    else if (exponent === 0x1f) value = mantissa === 0 ? Infinity : NaN;
    else value = (1 + mantissa / 1024) * 2 ** (exponent - 15);
    table[bits] = sign * value;
  }
  return table;
}

export function halfBitsToFloat32(bits: number): number {
  return HALF_TO_FLOAT[bits & 0xffff]!;
}

/** True when the half is Inf or NaN (exponent all ones). */
export function isHalfNonFinite(bits: number): boolean {
  return (bits & 0x7c00) === 0x7c00;
}

/**
 * Encodes `source` into `target` (same length). Returns how many values came out non-finite:
 * NaN or Inf in the source, or finite values that overflowed the half range.
 */
export function encodeFp16(source: Float32Array, target: Uint16Array): number {
  if (target.length < source.length) {
    throw new RangeError(`fp16 target holds ${target.length} values, source has ${source.length}`);
  }
  let nonFinite = 0;
  for (let i = 0; i < source.length; i++) {
    const bits = float32ToHalfBits(source[i]!);
    target[i] = bits;
    if ((bits & 0x7c00) === 0x7c00) nonFinite++;
  }
  return nonFinite;
}

/** Decodes halves into `target`; returns the count of non-finite values met. */
export function decodeFp16(source: Uint16Array, target: Float32Array, targetOffset = 0): number {
  let nonFinite = 0;
  for (let i = 0; i < source.length; i++) {
    const bits = source[i]!;
    if ((bits & 0x7c00) === 0x7c00) nonFinite++;
    target[targetOffset + i] = HALF_TO_FLOAT[bits]!;
  }
  return nonFinite;
}

/**
 * target[offset + i] += weight * decode(source[i]) — the reducer's inner loop, fused so that no
 * decoded copy of a gradient is ever allocated. Returns the count of non-finite halves met.
 */
export function accumulateFp16(source: Uint16Array, weight: number, target: Float32Array, targetOffset = 0): number {
  let nonFinite = 0;
  for (let i = 0; i < source.length; i++) {
    const bits = source[i]!;
    if ((bits & 0x7c00) === 0x7c00) nonFinite++;
    target[targetOffset + i]! += weight * HALF_TO_FLOAT[bits]!;
  }
  return nonFinite;
}
