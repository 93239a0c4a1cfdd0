// Baseline JPEG encoder (JFIF, YCbCr 4:4:4, the standard Huffman tables of ITU-T T.81 Annex K),
// used to write the synthetic dataset. jpeg-js 0.4.4's encode() rebuilds 65k-entry lookup tables
// on every call — about 40 ms of allocation and garbage collection for a 100x100 image, forty
// times the cost of drawing it — whereas this builds its tables once per quality.
// Pure arithmetic on doubles, so the same pixels give the same bytes on every machine.

/** Natural (row-major) index of the k-th coefficient in zigzag order. */
const ZIGZAG = Uint8Array.of(
  0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28,
  35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
);

// Annex K.1 quantisation tables, natural order.
const LUMA_QUANTISATION = [
  16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
  18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
];
const CHROMA_QUANTISATION = [
  17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99,
  ...new Array<number>(32).fill(99),
];

// Annex K.3 Huffman tables: code counts per length 1..16, then the symbols.
const LUMA_DC = { counts: [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0], symbols: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11] };
const CHROMA_DC = { counts: [0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0], symbols: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11] };
const LUMA_AC = {
  counts: [0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7d],
  symbols: [
    0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07, 0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xa1, 0x08,
    0x23, 0x42, 0xb1, 0xc1, 0x15, 0x52, 0xd1, 0xf0, 0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0a, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x25, 0x26, 0x27, 0x28,
    0x29, 0x2a, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59,
    0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
    0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6,
    0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe1, 0xe2,
    0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa,
  ],
};
const CHROMA_AC = {
  counts: [0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77],
  symbols: [
    0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61, 0x71, 0x13, 0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91,
    0xa1, 0xb1, 0xc1, 0x09, 0x23, 0x33, 0x52, 0xf0, 0x15, 0x62, 0x72, 0xd1, 0x0a, 0x16, 0x24, 0x34, 0xe1, 0x25, 0xf1, 0x17, 0x18, 0x19, 0x1a, 0x26,
    0x27, 0x28, 0x29, 0x2a, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58,
    0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87,
    0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4,
    0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda,
    0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa,
  ],
};

interface HuffmanSpec {
  counts: number[];
  symbols: number[];
}

/** Code and code length of each symbol. */
interface HuffmanCodes {
  code: Uint16Array;
  length: Uint8Array;
}

/** AAN DCT output scale factors (the DCT below leaves each coefficient scaled by these). */
const AAN_SCALE = [1.0, 1.387039845, 1.306562965, 1.175875602, 1.0, 0.785694958, 0.5411961, 0.275899379];

interface QualityTables {
  /** Quantisation steps in zigzag order, as stored in the DQT segment. */
  lumaSteps: Uint8Array;
  chromaSteps: Uint8Array;
  /** Per natural-order coefficient: 1 / (step x DCT scale), so quantising is one multiply. */
  lumaReciprocals: Float64Array;
  chromaReciprocals: Float64Array;
}

const HUFFMAN = {
  lumaDc: buildHuffmanCodes(LUMA_DC),
  lumaAc: buildHuffmanCodes(LUMA_AC),
  chromaDc: buildHuffmanCodes(CHROMA_DC),
  chromaAc: buildHuffmanCodes(CHROMA_AC),
};

const tablesByQuality = new Map<number, QualityTables>();

/** Encodes RGB bytes (row-major, `width * height * 3`) as a baseline JPEG of the given quality (1..100). */
export function encodeJpeg(rgb: Uint8Array, width: number, height: number, quality = 90): Uint8Array {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1 || width > 65535 || height > 65535) {
    throw new RangeError(`JPEG size ${width}x${height} is invalid: expected integers 1..65535`);
  }
  if (rgb.length !== width * height * 3) {
    throw new RangeError(`JPEG pixels hold ${rgb.length} bytes: expected ${width}x${height}x3 = ${width * height * 3}`);
  }
  if (!Number.isInteger(quality) || quality < 1 || quality > 100) {
    throw new RangeError(`JPEG quality ${quality} is invalid: expected an integer 1..100`);
  }
  const tables = qualityTables(quality);
  const out = new ByteWriter(width * height + 1024);
  writeHeaders(out, width, height, tables);

  const y = new Float64Array(64);
  const cb = new Float64Array(64);
  const cr = new Float64Array(64);
  const quantised = new Int32Array(64);
  let previousY = 0;
  let previousCb = 0;
  let previousCr = 0;
  for (let blockY = 0; blockY < height; blockY += 8) {
    for (let blockX = 0; blockX < width; blockX += 8) {
      // Partial edge blocks repeat the last row/column, which compresses better than zeros.
      for (let r = 0; r < 8; r++) {
        const row = Math.min(blockY + r, height - 1) * width;
        for (let c = 0; c < 8; c++) {
          const p = (row + Math.min(blockX + c, width - 1)) * 3;
          const red = rgb[p]!;
          const green = rgb[p + 1]!;
          const blue = rgb[p + 2]!;
          const k = r * 8 + c;
          y[k] = 0.299 * red + 0.587 * green + 0.114 * blue - 128;
          cb[k] = -0.168736 * red - 0.331264 * green + 0.5 * blue;
          cr[k] = 0.5 * red - 0.418688 * green - 0.081312 * blue;
        }
      }
      previousY = encodeBlock(out, y, tables.lumaReciprocals, quantised, previousY, HUFFMAN.lumaDc, HUFFMAN.lumaAc);
      previousCb = encodeBlock(out, cb, tables.chromaReciprocals, quantised, previousCb, HUFFMAN.chromaDc, HUFFMAN.chromaAc);
      previousCr = encodeBlock(out, cr, tables.chromaReciprocals, quantised, previousCr, HUFFMAN.chromaDc, HUFFMAN.chromaAc);
    }
  }
  out.flushBits();
  out.word(0xffd9);
  return out.result();
}

function qualityTables(quality: number): QualityTables {
  let tables = tablesByQuality.get(quality);
  if (tables === undefined) {
    // The IJG quality scaling that other encoders (libjpeg, jpeg-js) use.
    const scale = quality < 50 ? 5000 / quality : 200 - quality * 2;
    const stepsOf = (base: number[]): Uint8Array => Uint8Array.from(ZIGZAG, (natural) => Math.min(255, Math.max(1, Math.floor((base[natural]! * scale + 50) / 100))));
    const lumaSteps = stepsOf(LUMA_QUANTISATION);
    const chromaSteps = stepsOf(CHROMA_QUANTISATION);
    const reciprocalsOf = (steps: Uint8Array): Float64Array => {
      const reciprocals = new Float64Array(64);
      for (let k = 0; k < 64; k++) {
        const natural = ZIGZAG[k]!;
        reciprocals[natural] = 1 / (steps[k]! * AAN_SCALE[natural >> 3]! * AAN_SCALE[natural & 7]! * 8);
      }
      return reciprocals;
    };
    tables = { lumaSteps, chromaSteps, lumaReciprocals: reciprocalsOf(lumaSteps), chromaReciprocals: reciprocalsOf(chromaSteps) };
    tablesByQuality.set(quality, tables);
  }
  return tables;
}

function buildHuffmanCodes(spec: HuffmanSpec): HuffmanCodes {
  const code = new Uint16Array(256);
  const length = new Uint8Array(256);
  let next = 0;
  let position = 0;
  for (let bits = 1; bits <= 16; bits++) {
    for (let n = 0; n < spec.counts[bits - 1]!; n++) {
      const symbol = spec.symbols[position++]!;
      code[symbol] = next++;
      length[symbol] = bits;
    }
    next <<= 1;
  }
  return { code, length };
}

function writeHeaders(out: ByteWriter, width: number, height: number, tables: QualityTables): void {
  out.word(0xffd8);
  // APP0 JFIF 1.01, no density units, no thumbnail.
  out.word(0xffe0);
  out.word(16);
  for (const b of [0x4a, 0x46, 0x49, 0x46, 0, 1, 1, 0]) out.byte(b);
  out.word(1);
  out.word(1);
  out.byte(0);
  out.byte(0);
  out.word(0xffdb);
  out.word(2 + 2 * 65);
  out.byte(0);
  for (const step of tables.lumaSteps) out.byte(step);
  out.byte(1);
  for (const step of tables.chromaSteps) out.byte(step);
  // SOF0: 8-bit, three components, no subsampling; Y uses table 0, Cb and Cr table 1.
  out.word(0xffc0);
  out.word(17);
  out.byte(8);
  out.word(height);
  out.word(width);
  out.byte(3);
  for (const [id, table] of [[1, 0], [2, 1], [3, 1]] as const) {
    out.byte(id);
    out.byte(0x11);
    out.byte(table);
  }
  const huffmanTables = [[0x00, LUMA_DC], [0x10, LUMA_AC], [0x01, CHROMA_DC], [0x11, CHROMA_AC]] as const;
  out.word(0xffc4);
  out.word(2 + huffmanTables.reduce((sum, [, spec]) => sum + 17 + spec.symbols.length, 0));
  for (const [classAndId, spec] of huffmanTables) {
    out.byte(classAndId);
    for (const count of spec.counts) out.byte(count);
    for (const symbol of spec.symbols) out.byte(symbol);
  }
  out.word(0xffda);
  out.word(12);
  out.byte(3);
  for (const [id, tablePair] of [[1, 0x00], [2, 0x11], [3, 0x11]] as const) {
    out.byte(id);
    out.byte(tablePair);
  }
  out.byte(0);
  out.byte(63);
  out.byte(0);
}

/** DCT, quantisation and entropy coding of one 8x8 block; returns its DC for the next block's prediction. */
function encodeBlock(
  out: ByteWriter,
  block: Float64Array,
  reciprocals: Float64Array,
  quantised: Int32Array,
  previousDc: number,
  dc: HuffmanCodes,
  ac: HuffmanCodes,
): number {
  forwardDct(block);
  let last = 0;
  for (let k = 0; k < 64; k++) {
    const natural = ZIGZAG[k]!;
    const value = block[natural]! * reciprocals[natural]!;
    const rounded = value > 0 ? (value + 0.5) | 0 : (value - 0.5) | 0;
    quantised[k] = rounded;
    if (rounded !== 0) last = k;
  }
  const dcValue = quantised[0]!;
  writeValue(out, dcValue - previousDc, 0, dc);
  let run = 0;
  for (let k = 1; k <= last; k++) {
    const value = quantised[k]!;
    if (value === 0) {
      run++;
      continue;
    }
    while (run >= 16) {
      out.bits(ac.code[0xf0]!, ac.length[0xf0]!);
      run -= 16;
    }
    writeValue(out, value, run, ac);
    run = 0;
  }
  if (last < 63) out.bits(ac.code[0x00]!, ac.length[0x00]!);
  return dcValue;
}

/** Huffman code of (zero run, magnitude category), then the value's low bits (ones' complement if negative). */
function writeValue(out: ByteWriter, value: number, run: number, codes: HuffmanCodes): void {
  const magnitude = value < 0 ? -value : value;
  const category = magnitude === 0 ? 0 : 32 - Math.clz32(magnitude);
  const symbol = (run << 4) | category;
  out.bits(codes.code[symbol]!, codes.length[symbol]!);
  if (category > 0) out.bits(value < 0 ? value + (1 << category) - 1 : value, category);
}

/** In-place 2-D forward DCT (Arai-Agui-Nakajima); outputs carry the AAN_SCALE factors. */
function forwardDct(data: Float64Array): void {
  for (let pass = 0; pass < 2; pass++) {
    // Rows first (stride 1 within a row, 8 between rows), then columns.
    const step = pass === 0 ? 1 : 8;
    const lineStep = pass === 0 ? 8 : 1;
    for (let line = 0; line < 8; line++) {
      const o = line * lineStep;
      const d0 = data[o]!;
      const d1 = data[o + step]!;
      const d2 = data[o + 2 * step]!;
      const d3 = data[o + 3 * step]!;
      const d4 = data[o + 4 * step]!;
      const d5 = data[o + 5 * step]!;
      const d6 = data[o + 6 * step]!;
      const d7 = data[o + 7 * step]!;
      const tmp0 = d0 + d7;
      const tmp7 = d0 - d7;
      const tmp1 = d1 + d6;
      const tmp6 = d1 - d6;
      const tmp2 = d2 + d5;
      const tmp5 = d2 - d5;
      const tmp3 = d3 + d4;
      const tmp4 = d3 - d4;

      const tmp10 = tmp0 + tmp3;
      const tmp13 = tmp0 - tmp3;
      const tmp11 = tmp1 + tmp2;
      const tmp12 = tmp1 - tmp2;
      data[o] = tmp10 + tmp11;
      data[o + 4 * step] = tmp10 - tmp11;
      const z1 = (tmp12 + tmp13) * 0.707106781;
      data[o + 2 * step] = tmp13 + z1;
      data[o + 6 * step] = tmp13 - z1;

      const odd10 = tmp4 + tmp5;
      const odd11 = tmp5 + tmp6;
      const odd12 = tmp6 + tmp7;
      const z5 = (odd10 - odd12) * 0.382683433;
      const z2 = 0.5411961 * odd10 + z5;
      const z4 = 1.306562965 * odd12 + z5;
      const z3 = odd11 * 0.707106781;
      const z11 = tmp7 + z3;
      const z13 = tmp7 - z3;
      data[o + 5 * step] = z13 + z2;
      data[o + 3 * step] = z13 - z2;
      data[o + step] = z11 + z4;
      data[o + 7 * step] = z11 - z4;
    }
  }
}

/** A growable byte buffer with a big-endian bit writer that stuffs a zero after each 0xFF in entropy data. */
class ByteWriter {
  private buffer: Uint8Array;
  private length = 0;
  private bitBuffer = 0;
  private bitCount = 0;

  constructor(initialCapacity: number) {
    this.buffer = new Uint8Array(initialCapacity);
  }

  byte(value: number): void {
    if (this.length === this.buffer.length) {
      const grown = new Uint8Array(this.buffer.length * 2);
      grown.set(this.buffer);
      this.buffer = grown;
    }
    this.buffer[this.length++] = value;
  }

  word(value: number): void {
    this.byte((value >>> 8) & 0xff);
    this.byte(value & 0xff);
  }

  /** Appends the low `count` bits of `value` (count <= 16; at most 7 bits are ever pending). */
  bits(value: number, count: number): void {
    this.bitBuffer = (this.bitBuffer << count) | (value & ((1 << count) - 1));
    this.bitCount += count;
    while (this.bitCount >= 8) {
      this.bitCount -= 8;
      const b = (this.bitBuffer >>> this.bitCount) & 0xff;
      this.byte(b);
      if (b === 0xff) this.byte(0);
    }
    this.bitBuffer &= (1 << this.bitCount) - 1;
  }

  /** Pads the last byte with one bits, as T.81 F.1.2.3 asks. */
  flushBits(): void {
    if (this.bitCount > 0) this.bits(0x7f, 8 - this.bitCount);
  }

  result(): Uint8Array {
    return this.buffer.slice(0, this.length);
  }
}
