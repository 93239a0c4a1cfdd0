// The fp16 hot loops of the exchange, in WebAssembly SIMD (kernels.wat, assembled into
// kernels-wasm.ts at build time): decode-and-accumulate of a member's halves into a float32 sum,
// and encoding float32s to halves. They give exactly the results of the scalar code in codec.ts
// (test/fp16-kernels.test.ts checks it bit for bit), several times faster. Each instance owns its
// module and its memory: a sum area of `capacity` float32s and a halves area of `capacity` halves,
// used by one caller at a time (the reducer of one round, one replica's encoder).

import { float32ToHalfBits, halfBitsToFloat32 } from './codec.js';
import { FP16_KERNELS_WASM } from './kernels-wasm.js';

/** The little of the WebAssembly API used here (TypeScript's ES libs do not declare it). */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
}
const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

interface KernelExports {
  memory: WasmMemory;
  accumulate_halves(sum: number, src: number, n: number, weight: number, first: number): number;
  encode_halves(src: number, dst: number, n: number): number;
}

let compiled: object | undefined;

function kernelModule(): object {
  compiled ??= new wasm.Module(Buffer.from(FP16_KERNELS_WASM, 'base64'));
  return compiled;
}

const PAGE_BYTES = 65536;
/** The kernels work on groups of this many values; the rest of a range goes through the scalar code. */
const LANES = 8;

export class Fp16Kernels {
  /** The float32 sum area (a view of the module's memory). */
  readonly sum: Float32Array;
  private readonly halves: Uint16Array;
  private readonly halfBytes: Uint8Array;
  private readonly exports: KernelExports;
  private readonly halvesAt: number;

  constructor(readonly capacity: number) {
    const rounded = Math.ceil(capacity / LANES) * LANES;
    const instance = new wasm.Instance(kernelModule(), {});
    this.exports = instance.exports as unknown as KernelExports;
    const bytes = rounded * 4 + rounded * 2;
    const pages = Math.ceil(bytes / PAGE_BYTES);
    const have = this.exports.memory.buffer.byteLength / PAGE_BYTES;
    if (pages > have) this.exports.memory.grow(pages - have);
    const buffer = this.exports.memory.buffer;
    this.sum = new Float32Array(buffer, 0, rounded);
    this.halvesAt = rounded * 4;
    this.halves = new Uint16Array(buffer, this.halvesAt, rounded);
    this.halfBytes = new Uint8Array(buffer, this.halvesAt, rounded * 2);
  }

  private requireRoom(count: number): void {
    if (count > this.capacity) throw new RangeError(`fp16 kernels hold ${this.capacity} values, asked for ${count}`);
  }

  /**
   * sum[into + i] (+)= weight · half(data at byteStart + 2i) for `count` halves (`first`: assign,
   * as a sum from zero would); returns the count of Inf/NaN halves.
   */
  accumulate(data: Uint8Array, byteStart: number, count: number, weight: number, into: number, first: boolean): number {
    this.requireRoom(into + count);
    this.halfBytes.set(data.subarray(byteStart, byteStart + count * 2), into * 2);
    const bulk = count - (count % LANES);
    let nonFinite = this.exports.accumulate_halves(into * 4, this.halvesAt + into * 2, bulk, weight, first ? 1 : 0);
    const sum = this.sum;
    for (let i = bulk; i < count; i++) {
      const bits = this.halves[into + i]!;
      if ((bits & 0x7c00) === 0x7c00) nonFinite++;
      const value = weight * halfBitsToFloat32(bits);
      sum[into + i] = first ? 0 + value : sum[into + i]! + value;
    }
    return nonFinite;
  }

  /** Encodes sum[0, count) into target[targetOffset...]; returns how many halves came out Inf or NaN. */
  encode(target: Uint16Array, targetOffset: number, count: number): number {
    this.requireRoom(count);
    const bulk = count - (count % LANES);
    let nonFinite = this.exports.encode_halves(0, this.halvesAt, bulk);
    for (let i = bulk; i < count; i++) {
      const bits = float32ToHalfBits(this.sum[i]!);
      this.halves[i] = bits;
      if ((bits & 0x7c00) === 0x7c00) nonFinite++;
    }
    target.set(this.halves.subarray(0, count), targetOffset);
    return nonFinite;
  }

  /** Encodes all of `source` into `target` in blocks of the capacity; returns the Inf/NaN count (as encodeFp16). */
  encodeAll(source: Float32Array, target: Uint16Array): number {
    if (target.length < source.length) throw new RangeError(`fp16 target holds ${target.length} values, source has ${source.length}`);
    let nonFinite = 0;
    for (let start = 0; start < source.length; start += this.capacity) {
      const count = Math.min(this.capacity, source.length - start);
      this.sum.set(source.subarray(start, start + count));
      nonFinite += this.encode(target, start, count);
    }
    return nonFinite;
  }
}
