// Training kernels for the tfjs 'wasm' backend (@tensorflow/tfjs-backend-wasm 4.22.0), which has no
// Conv2DBackpropFilter, DepthwiseConv2dNativeBackpropFilter or DepthwiseConv2dNativeBackpropInput,
// a naive-loop Conv2DBackpropInput (2.5-16x slower than the formulation below), and a MaxPoolGrad
// that is 2-3.5x slower than a plain JS scan and sends a tied window's gradient to the *last* maximum
// where the cpu backend sends it to the first.
//
// Every kernel here is an exact rewrite onto fast wasm kernels (XNNPACK Conv2D / depthwise conv /
// fully-connected matmul / average pooling) or a single JS pass over the wasm heap; the results agree
// with the cpu backend up to float32 summation order (test/wasm-training-kernels.test.ts). wasm's own
// Conv3DBackprop*V2 kernels are deliberately not used: they are wrong for strides > 1.
//
// Kernels are registered by backend name, so registration works before or after
// tf.setBackend('wasm'). Layout is NHWC only, like the wasm backend itself; anything else throws a
// BackendError naming the attribute instead of computing something wrong. Timings behind the choices
// below come from bench/kernels.ts (2-core machine, single-threaded wasm).

import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { BackendError } from '../errors.js';

const WASM = 'wasm';

type Shape4 = [number, number, number, number];
type ExplicitPadding = [[number, number], [number, number], [number, number], [number, number]];
type Conv2DInfo = tf.backend_util.Conv2DInfo;
type KernelBody = (backend: BackendWasm, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap) => tf.TensorInfo;

// ---------------------------------------------------------------------------------------------
// Running wasm kernels inside our kernels
// ---------------------------------------------------------------------------------------------

/**
 * Calls wasm kernels directly (no engine, no tape) and frees every intermediate it made, also when
 * a step throws. Each TensorInfo a kernel returns holds one reference (Reshape shares the data and
 * increments its refcount), so disposing each once is exact.
 */
class KernelScope {
  private readonly owned = new Set<tf.TensorInfo>();

  constructor(
    private readonly backend: BackendWasm,
    private readonly kernelName: string,
  ) {}

  run(kernelName: string, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap = {}): tf.TensorInfo {
    const kernel = tf.getKernel(kernelName, WASM);
    if (kernel === undefined) {
      throw new BackendError('BACKEND_UNAVAILABLE', `wasm ${this.kernelName}: the wasm backend has no ${kernelName} kernel to build on`);
    }
    const out = kernel.kernelFunc({ inputs, backend: this.backend, attrs });
    if (Array.isArray(out)) {
      out.forEach((info) => this.owned.add(info));
      throw new BackendError('BACKEND_UNAVAILABLE', `wasm ${this.kernelName}: ${kernelName} returned ${out.length} tensors, expected one`);
    }
    this.owned.add(out);
    return out;
  }

  reshape(x: tf.TensorInfo, shape: number[]): tf.TensorInfo {
    return this.run('Reshape', { x }, { shape });
  }

  /** Uninitialised float32 memory on the wasm heap. */
  alloc(shape: number[]): tf.TensorInfo {
    const out = this.backend.makeOutput(shape, 'float32');
    this.owned.add(out);
    return out;
  }

  /**
   * A Float32Array over the tensor's memory on the wasm heap. Any allocation may grow the heap and
   * detach earlier views, so take views after allocating and drop them before the next allocation.
   */
  view(info: tf.TensorInfo): Float32Array {
    const values = this.backend.typedArrayFromHeap(info);
    if (!(values instanceof Float32Array)) {
      throw new BackendError('BACKEND_UNAVAILABLE', `wasm ${this.kernelName}: expected float32 data, got ${info.dtype}`);
    }
    return values;
  }

  /** Frees an intermediate before the scope ends (keeps peak memory down in chunked loops). */
  free(...infos: tf.TensorInfo[]): void {
    for (const info of infos) {
      if (this.owned.delete(info)) this.backend.disposeData(info.dataId);
    }
  }

  /** Hands a result over to the caller: the scope will not free it. */
  keep(info: tf.TensorInfo): tf.TensorInfo {
    this.owned.delete(info);
    return info;
  }

  dispose(): void {
    for (const info of this.owned) this.backend.disposeData(info.dataId);
    this.owned.clear();
  }
}

function inScope(backend: BackendWasm, kernelName: string, body: (scope: KernelScope) => tf.TensorInfo): tf.TensorInfo {
  const scope = new KernelScope(backend, kernelName);
  try {
    return scope.keep(body(scope));
  } finally {
    scope.dispose();
  }
}

// ---------------------------------------------------------------------------------------------
// Attribute and input checks
// ---------------------------------------------------------------------------------------------

function float32Input(inputs: tf.NamedTensorInfoMap, name: string, kernelName: string): tf.TensorInfo & { shape: Shape4 } {
  const info = inputs[name];
  if (info === undefined) throw new BackendError('BACKEND_UNAVAILABLE', `wasm ${kernelName}: input '${name}' is missing`);
  if (info.dtype !== 'float32') {
    throw new BackendError('BACKEND_UNAVAILABLE', `wasm ${kernelName}: input '${name}' has dtype ${info.dtype}, only float32 is supported`);
  }
  if (info.shape.length !== 4) {
    throw new BackendError('BACKEND_UNAVAILABLE', `wasm ${kernelName}: input '${name}' has shape [${info.shape}], expected rank 4 (NHWC)`);
  }
  return info as tf.TensorInfo & { shape: Shape4 };
}

function requireNhwc(kernelName: string, dataFormat: string | undefined): void {
  if (dataFormat !== undefined && dataFormat !== 'NHWC') {
    throw new BackendError('BACKEND_UNAVAILABLE', `wasm ${kernelName}: dataFormat '${dataFormat}' is not supported, expected 'NHWC'`);
  }
}

function requireShape(kernelName: string, name: string, actual: readonly number[], expected: readonly number[]): void {
  if (actual.length !== expected.length || actual.some((d, i) => d !== expected[i])) {
    throw new BackendError('BACKEND_UNAVAILABLE', `wasm ${kernelName}: '${name}' has shape [${actual}], expected [${expected}] from the convolution attributes`);
  }
}

function requirePositive(kernelName: string, attribute: string, values: number[]): void {
  if (values.some((v) => !Number.isInteger(v) || v < 1)) {
    throw new BackendError('BACKEND_UNAVAILABLE', `wasm ${kernelName}: ${attribute} [${values}] must be positive integers`);
  }
}

function requireNonNegativePadding(kernelName: string, info: Conv2DInfo): void {
  const { top, left, bottom, right } = info.padInfo;
  if (top < 0 || left < 0 || bottom < 0 || right < 0) {
    throw new BackendError('BACKEND_UNAVAILABLE', `wasm ${kernelName}: pad [${top}, ${bottom}, ${left}, ${right}] (top, bottom, left, right) must not be negative`);
  }
}

function checkedConvInfo(kernelName: string, info: Conv2DInfo): Conv2DInfo {
  requirePositive(kernelName, 'strides', [info.strideHeight, info.strideWidth]);
  requirePositive(kernelName, 'dilations', [info.dilationHeight, info.dilationWidth]);
  requireNonNegativePadding(kernelName, info);
  return info;
}

// ---------------------------------------------------------------------------------------------
// Layout helpers (single JS passes over the wasm heap)
// ---------------------------------------------------------------------------------------------

/**
 * The stride-phase layout both dW formulations that read x tap by tap use (see padAndSplitPhases).
 * Output position p = (n, r, c) of the grid pairs with dy[n, r, c] (zero where r >= OH or c >= OW)
 * and, for tap t, with the phase grid element `taps[t].offset + p` of phase `taps[t].phase`.
 */
interface PhaseGrid {
  top: number;
  left: number;
  strideHeight: number;
  strideWidth: number;
  /** Rows and columns of each phase plane (the output size plus the largest tap offset). */
  gridHeight: number;
  gridWidth: number;
  /**
   * Source rows / columns some output reads. The rest stay zero, so that values there (even
   * non-finite ones) cannot reach dW through the zero dy border, as on the cpu backend.
   */
  sourceRows: number;
  sourceCols: number;
  /** Per filter tap, row-major: its stride phase and its offset in the flattened phase plane. */
  taps: Array<{ phase: number; offset: number }>;
  /** Grid positions per phase and channel that every tap can read: batch * rows * cols - largest offset. */
  positions: number;
  /** Rows and columns of zeros dy needs after it to lie on the grid. */
  dyPadRows: number;
  dyPadCols: number;
}

function phaseGridFor(info: Conv2DInfo): PhaseGrid {
  const { strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = info;
  const { filterHeight: kh, filterWidth: kw, outHeight, outWidth } = info;
  const dyPadRows = Math.floor(((kh - 1) * dh) / sh);
  const dyPadCols = Math.floor(((kw - 1) * dw) / sw);
  const gridHeight = outHeight + dyPadRows;
  const gridWidth = outWidth + dyPadCols;
  const taps: PhaseGrid['taps'] = [];
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) {
      const phase = ((i * dh) % sh) * sw + ((j * dw) % sw);
      taps.push({ phase, offset: Math.floor((i * dh) / sh) * gridWidth + Math.floor((j * dw) / sw) });
    }
  }
  return {
    top: info.padInfo.top,
    left: info.padInfo.left,
    strideHeight: sh,
    strideWidth: sw,
    gridHeight,
    gridWidth,
    sourceRows: Math.min(info.inHeight, (outHeight - 1) * sh + (kh - 1) * dh + 1 - info.padInfo.top),
    sourceCols: Math.min(info.inWidth, (outWidth - 1) * sw + (kw - 1) * dw + 1 - info.padInfo.left),
    taps,
    positions: info.batchSize * gridHeight * gridWidth - (dyPadRows * gridWidth + dyPadCols),
    dyPadRows,
    dyPadCols,
  };
}

/** dy [N, OH, OW, C] on the phase grid [N, gridHeight, gridWidth, C] (zeros after it). */
function dyOnGrid(scope: KernelScope, dy: tf.TensorInfo, grid: PhaseGrid): tf.TensorInfo {
  if (grid.dyPadRows === 0 && grid.dyPadCols === 0) return dy;
  const paddings = [[0, 0], [0, grid.dyPadRows], [0, grid.dyPadCols], [0, 0]];
  return scope.run('PadV2', { x: dy }, { paddings, constantValue: 0 });
}

/**
 * Zero-pads `source` [planes, height, width, depth] and splits it by stride phase into
 * [strideH * strideW, planes, gridHeight, gridWidth, depth]: element (p, r, c) of phase (ph, pw)
 * is padded element (p, r * strideH + ph, c * strideW + pw). Once split, the pixels a filter tap
 * touches for all outputs form one contiguous run of the flattened (planes, rows, cols) grid, so
 * an im2col row is a single memcpy.
 */
function padAndSplitPhases(
  scope: KernelScope,
  source: tf.TensorInfo,
  dims: { planes: number; height: number; width: number; depth: number },
  grid: PhaseGrid,
): tf.TensorInfo {
  const { planes, width, depth } = dims;
  const { top, left, strideHeight: sh, strideWidth: sw, gridHeight, gridWidth } = grid;
  const height = Math.min(dims.height, grid.sourceRows);
  const usedWidth = Math.min(width, grid.sourceCols);
  const planeSize = gridHeight * gridWidth * depth;
  const phaseSize = planes * planeSize;
  const out = scope.alloc([sh * sw * phaseSize]);
  const dst = scope.view(out);
  const src = scope.view(source);
  dst.fill(0);
  for (let p = 0; p < planes; p++) {
    for (let h = 0; h < height; h++) {
      const ph = (h + top) % sh;
      const gridRow = (h + top - ph) / sh;
      if (gridRow >= gridHeight) continue;
      const srcRow = (p * dims.height + h) * width * depth;
      for (let pw = 0; pw < sw; pw++) {
        const dstRow = (ph * sw + pw) * phaseSize + p * planeSize + gridRow * gridWidth * depth;
        const firstCol = (((pw - left) % sw) + sw) % sw;
        const firstGridCol = (firstCol + left - pw) / sw;
        const count = Math.min(Math.ceil((usedWidth - firstCol) / sw), gridWidth - firstGridCol);
        if (count <= 0) continue;
        if (sw === 1) {
          dst.set(src.subarray(srcRow + firstCol * depth, srcRow + (firstCol + count) * depth), dstRow + firstGridCol * depth);
        } else if (depth === 1) {
          for (let k = 0, w = firstCol; k < count; k++, w += sw) dst[dstRow + firstGridCol + k] = src[srcRow + w];
        } else {
          for (let k = 0, w = firstCol; k < count; k++, w += sw) {
            dst.set(src.subarray(srcRow + w * depth, srcRow + (w + 1) * depth), dstRow + (firstGridCol + k) * depth);
          }
        }
      }
    }
  }
  return out;
}

/**
 * Places `dy` [N, OH, OW, C] on a zero [N, rows, cols, C] canvas at (top + oh * strideH,
 * left + ow * strideW); positions outside the canvas are dropped. This is the zero-upsampled,
 * padded (or cropped) output gradient that a stride-1 correlation turns into an input gradient.
 */
function scatterOntoCanvas(
  scope: KernelScope,
  dy: tf.TensorInfo,
  canvas: { rows: number; cols: number; top: number; left: number; strideHeight: number; strideWidth: number },
): tf.TensorInfo {
  const [n, outH, outW, channels] = dy.shape as Shape4;
  const { rows, cols, top, left, strideHeight, strideWidth } = canvas;
  const out = scope.alloc([n, rows, cols, channels]);
  const dst = scope.view(out);
  const src = scope.view(dy);
  dst.fill(0);
  for (let b = 0; b < n; b++) {
    for (let oh = 0; oh < outH; oh++) {
      const r = top + oh * strideHeight;
      if (r < 0 || r >= rows) continue;
      for (let ow = 0; ow < outW; ow++) {
        const c = left + ow * strideWidth;
        if (c < 0 || c >= cols) continue;
        const from = ((b * outH + oh) * outW + ow) * channels;
        dst.set(src.subarray(from, from + channels), ((b * rows + r) * cols + c) * channels);
      }
    }
  }
  return out;
}

/**
 * The input of the stride-1 correlation that computes an input gradient, with its padding:
 * dy zero-upsampled by the strides, with (keff - 1 - padTop) rows before it, so that correlating
 * with the flipped filter (dilated like the forward conv) gives exactly inputHeight rows.
 * Stride 1 with non-negative padding needs no copy: dy itself with explicit padding.
 */
function correlationInput(scope: KernelScope, dy: tf.TensorInfo, info: Conv2DInfo): { input: tf.TensorInfo; pad: ExplicitPadding } {
  const keH = (info.filterHeight - 1) * info.dilationHeight + 1;
  const keW = (info.filterWidth - 1) * info.dilationWidth + 1;
  const top = keH - 1 - info.padInfo.top;
  const left = keW - 1 - info.padInfo.left;
  const rows = info.inHeight + keH - 1;
  const cols = info.inWidth + keW - 1;
  const bottom = rows - top - ((info.outHeight - 1) * info.strideHeight + 1);
  const right = cols - left - ((info.outWidth - 1) * info.strideWidth + 1);
  const strided = info.strideHeight > 1 || info.strideWidth > 1;
  if (!strided && top >= 0 && left >= 0 && bottom >= 0 && right >= 0) {
    return { input: dy, pad: [[0, 0], [top, bottom], [left, right], [0, 0]] };
  }
  const canvas = { rows, cols, top, left, strideHeight: info.strideHeight, strideWidth: info.strideWidth };
  return { input: scatterOntoCanvas(scope, dy, canvas), pad: [[0, 0], [0, 0], [0, 0], [0, 0]] };
}

// ---------------------------------------------------------------------------------------------
// Conv2DBackpropFilter
// ---------------------------------------------------------------------------------------------

/** Elements of dy per packed matmul block in im2col-matmul: ~512 KB; 64K-256K measured alike. */
const DY_BLOCK_ELEMENTS = 131072;

export type FilterGradFormulation = 'im2col-matmul' | 'transposed-conv';

/**
 * Which dW formulation is faster for a layer. Both are exact; they differ in what XNNPACK packs and
 * in how much of the work is a GEMM over a huge reduction. bench/kernels.ts, ms per call (median of
 * 3, 2-core machine under load, +-20%):
 *
 *   layer (x, kernel/stride -> Cout)   forward conv   im2col-matmul   transposed-conv
 *   [32,64,64,3]    3x3/1 -> 32              16              53               95
 *   [32,32,32,32]   3x3/1 -> 64              66             127              172
 *   [32,16,16,64]   3x3/1 -> 128             74             121              128
 *   [32,8,8,128]    3x3/1 -> 256            102             153              127
 *   [8,112,112,3]   7x7/2 -> 64              37              74               84
 *   [8,28,28,64]    1x1/1 -> 256             13              30               60
 *   [8,28,28,256]   1x1/2 -> 512             29              48              115
 *   [8,14,14,256]   3x3/2 -> 256             22              38               34
 *   [8,7,7,512]     3x3/1 -> 512            107             262              131
 *
 * Rule: im2col-matmul for 1x1 kernels and while the im2col has few rows (kh * kw * Cin <= 288,
 * i.e. up to 3x3 over 32 channels); transposed-conv otherwise. With many rows the chunked
 * fully-connected GEMM (plus its float64 accumulation, plus the zero border positions of the
 * im2col grid on small feature maps) loses to XNNPACK's conv.
 */
export function chooseFilterGradFormulation(info: Conv2DInfo): FilterGradFormulation {
  const pointwise = info.filterHeight === 1 && info.filterWidth === 1;
  const im2colRows = info.filterHeight * info.filterWidth * info.inChannels;
  return pointwise || im2colRows <= 288 ? 'im2col-matmul' : 'transposed-conv';
}

/**
 * dW as ONE fully-connected matmul per chunk of output positions:
 * im2col [kh*kw*Cin, positions] x dy [positions, Cout] -> [kh*kw*Cin, Cout], which is already the
 * HWIO filter layout. x is transposed to [Cin, N, H, W] and split by stride phase, so each im2col
 * row of a chunk is one memcpy; dy is laid on the same position grid, whose border positions are
 * zero and add nothing. Chunking keeps each packed dy block in cache (XNNPACK packs
 * the matmul's right operand, at 10-30 ns per element when it does not fit) and the im2col small;
 * partial sums accumulate in float64.
 */
function filterGradByIm2col(scope: KernelScope, x: tf.TensorInfo, dy: tf.TensorInfo, info: Conv2DInfo): tf.TensorInfo {
  const { batchSize: n, inHeight, inWidth, inChannels, outChannels, filterHeight: kh, filterWidth: kw } = info;
  const grid = phaseGridFor(info);
  const xT = scope.run('Transpose', { x }, { perm: [3, 0, 1, 2] });
  const phases = padAndSplitPhases(scope, xT, { planes: inChannels * n, height: inHeight, width: inWidth, depth: 1 }, grid);
  scope.free(xT);
  const dyGrid = dyOnGrid(scope, dy, grid);
  const channelGrid = n * grid.gridHeight * grid.gridWidth;
  const phaseSize = inChannels * channelGrid;
  const { positions } = grid;
  const rows = kh * kw * inChannels;

  const chunk = Math.min(8192, Math.max(256, Math.floor(DY_BLOCK_ELEMENTS / outChannels)));
  const sums = new Float64Array(rows * outChannels);
  for (let start = 0; start < positions; start += chunk) {
    const length = Math.min(chunk, positions - start);
    const im2col = scope.alloc([rows, length]);
    const dyChunk = scope.alloc([length, outChannels]);
    const cols = scope.view(im2col);
    const xs = scope.view(phases);
    grid.taps.forEach(({ phase, offset }, t) => {
      for (let c = 0; c < inChannels; c++) {
        const from = phase * phaseSize + c * channelGrid + offset + start;
        cols.set(xs.subarray(from, from + length), (t * inChannels + c) * length);
      }
    });
    scope.view(dyChunk).set(scope.view(dyGrid).subarray(start * outChannels, (start + length) * outChannels));
    const partial = scope.run('BatchMatMul', { a: im2col, b: dyChunk }, { transposeA: false, transposeB: false });
    const values = scope.view(partial);
    for (let e = 0; e < sums.length; e++) sums[e] += values[e];
    scope.free(im2col, dyChunk, partial);
  }
  const out = scope.alloc([kh, kw, inChannels, outChannels]);
  scope.view(out).set(sums);
  return out;
}

/**
 * dW as a forward Conv2D (XNNPACK) with the roles swapped: input x^T [Cin, H, W, N] (batch =
 * input channels, channels = examples), filter dy^T [OH, OW, N, Cout], dilation = stride; the
 * output [Cin, kh', kw', Cout] is cropped to the kernel and transposed to HWIO.
 */
function filterGradByTransposedConv(scope: KernelScope, x: tf.TensorInfo, dy: tf.TensorInfo, info: Conv2DInfo): tf.TensorInfo {
  const { inHeight, inWidth, inChannels, outHeight, outWidth, outChannels, filterHeight: kh, filterWidth: kw } = info;
  const { top, left } = info.padInfo;
  // Enough zero rows after the input for every tap of the last output row (also when
  // dimRoundingMode 'ceil' produced an output row that reads past the declared padding).
  const bottom = Math.max(0, (outHeight - 1) * info.strideHeight + kh - inHeight - top);
  const right = Math.max(0, (outWidth - 1) * info.strideWidth + kw - inWidth - left);
  const xT = scope.run('Transpose', { x }, { perm: [3, 1, 2, 0] });
  const dyT = scope.run('Transpose', { x: dy }, { perm: [1, 2, 0, 3] });
  const correlation = scope.run('Conv2D', { x: xT, filter: dyT }, {
    strides: [1, 1],
    dilations: [info.strideHeight, info.strideWidth],
    pad: [[0, 0], [top, bottom], [left, right], [0, 0]],
    dataFormat: 'NHWC',
  });
  scope.free(xT, dyT);
  const cropped =
    correlation.shape[1] === kh && correlation.shape[2] === kw
      ? correlation
      : scope.run('Slice', { x: correlation }, { begin: [0, 0, 0, 0], size: [inChannels, kh, kw, outChannels] });
  return scope.run('Transpose', { x: cropped }, { perm: [1, 2, 0, 3] });
}

function conv2dFilterGradInfo(inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap) {
  const kernelName = tf.Conv2DBackpropFilter;
  const x = float32Input(inputs, 'x', kernelName);
  const dy = float32Input(inputs, 'dy', kernelName);
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  requireNhwc(kernelName, dataFormat);
  const info = checkedConvInfo(
    kernelName,
    tf.backend_util.computeConv2DInfo(x.shape, filterShape, strides, 1, pad, dimRoundingMode, false, 'channelsLast'),
  );
  requireShape(kernelName, 'dy', dy.shape, info.outShape);
  return { x, dy, info };
}

function filterGradKernel(formulation: FilterGradFormulation | 'by-shape'): KernelBody {
  return (backend, inputs, attrs) => {
    const { x, dy, info } = conv2dFilterGradInfo(inputs, attrs);
    const chosen = formulation === 'by-shape' ? chooseFilterGradFormulation(info) : formulation;
    return inScope(backend, tf.Conv2DBackpropFilter, (scope) =>
      chosen === 'im2col-matmul' ? filterGradByIm2col(scope, x, dy, info) : filterGradByTransposedConv(scope, x, dy, info),
    );
  };
}

// ---------------------------------------------------------------------------------------------
// Conv2DBackpropInput
// ---------------------------------------------------------------------------------------------

/**
 * dx as ONE stride-1 Conv2D over dy (not upsampled) whose output channels are the stride phases
 * of dx (sub-pixel formulation of the transposed convolution): phase (ph, pw) only meets the
 * filter taps i = a*sh + ph, so with the strides s the conv has ~s^2 fewer multiply-adds than
 * correlating a zero-upsampled dy. The phases are interleaved into dx in one JS pass.
 *
 * With pt = padTop = A*sh + eH (0 <= eH < sh) and dx row h = g - eH, g = r*sh + ph:
 *   dx[h] = sum_a dy[r + A - a] W[a*sh + ph]   (a = 0..KA-1, KA = ceil(kh / sh))
 * i.e. a correlation of dy (top padding KA-1-A) with F[b, ph] = W[(KA-1-b)*sh + ph].
 */
function inputGradBySubPixelConv(scope: KernelScope, dy: tf.TensorInfo, filter: tf.TensorInfo, info: Conv2DInfo): tf.TensorInfo {
  const { batchSize: n, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels } = info;
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = info;
  const tapsH = Math.ceil(kh / sh);
  const tapsW = Math.ceil(kw / sw);
  const shiftH = info.padInfo.top % sh;
  const shiftW = info.padInfo.left % sw;
  const phaseRows = Math.ceil((inHeight + shiftH) / sh);
  const phaseCols = Math.ceil((inWidth + shiftW) / sw);
  const top = tapsH - 1 - Math.floor(info.padInfo.top / sh);
  const left = tapsW - 1 - Math.floor(info.padInfo.left / sw);
  const bottom = phaseRows + tapsH - 1 - top - outHeight;
  const right = phaseCols + tapsW - 1 - left - outWidth;
  const phaseCount = sh * sw;

  // F[b, c, co, (ph*sw + pw)*Cin + ci] = W[(tapsH-1-b)*sh + ph, (tapsW-1-c)*sw + pw, ci, co], zero past the kernel.
  const phaseFilter = scope.alloc([tapsH, tapsW, outChannels, phaseCount * inChannels]);
  const f = scope.view(phaseFilter);
  const w = scope.view(filter);
  f.fill(0);
  for (let b = 0; b < tapsH; b++) {
    for (let ph = 0; ph < sh; ph++) {
      const i = (tapsH - 1 - b) * sh + ph;
      if (i >= kh) continue;
      for (let c = 0; c < tapsW; c++) {
        for (let pw = 0; pw < sw; pw++) {
          const j = (tapsW - 1 - c) * sw + pw;
          if (j >= kw) continue;
          for (let ci = 0; ci < inChannels; ci++) {
            const from = ((i * kw + j) * inChannels + ci) * outChannels;
            const to = (b * tapsW + c) * outChannels * phaseCount * inChannels + (ph * sw + pw) * inChannels + ci;
            for (let co = 0; co < outChannels; co++) f[to + co * phaseCount * inChannels] = w[from + co];
          }
        }
      }
    }
  }

  let input = dy;
  let pad: ExplicitPadding = [[0, 0], [top, bottom], [left, right], [0, 0]];
  if (top < 0 || left < 0 || bottom < 0 || right < 0) {
    const canvas = { rows: phaseRows + tapsH - 1, cols: phaseCols + tapsW - 1, top, left, strideHeight: 1, strideWidth: 1 };
    input = scatterOntoCanvas(scope, dy, canvas);
    pad = [[0, 0], [0, 0], [0, 0], [0, 0]];
  }
  const phased = scope.run('Conv2D', { x: input, filter: phaseFilter }, { strides: [1, 1], dilations: [1, 1], pad, dataFormat: 'NHWC' });
  scope.free(phaseFilter);
  if (phaseCount === 1) return phased;

  const dx = scope.alloc([n, inHeight, inWidth, inChannels]);
  const dst = scope.view(dx);
  const src = scope.view(phased);
  for (let b = 0; b < n; b++) {
    for (let r = 0; r < phaseRows; r++) {
      for (let ph = 0; ph < sh; ph++) {
        const h = r * sh + ph - shiftH;
        if (h < 0 || h >= inHeight) continue;
        for (let c = 0; c < phaseCols; c++) {
          const from = ((b * phaseRows + r) * phaseCols + c) * phaseCount * inChannels + ph * sw * inChannels;
          for (let pw = 0; pw < sw; pw++) {
            const col = c * sw + pw - shiftW;
            if (col < 0 || col >= inWidth) continue;
            const start = from + pw * inChannels;
            dst.set(src.subarray(start, start + inChannels), ((b * inHeight + h) * inWidth + col) * inChannels);
          }
        }
      }
    }
  }
  return dx;
}

/**
 * dx as a stride-1 Conv2D of the zero-upsampled dy with the spatially flipped filter whose in/out
 * channels are swapped ([kh, kw, Cout, Cin]). Simple, exact; s^2 more work than the sub-pixel
 * formulation for strided layers. Kept for the benchmark and the parity tests.
 */
function inputGradByUpsampledConv(scope: KernelScope, dy: tf.TensorInfo, filter: tf.TensorInfo, info: Conv2DInfo): tf.TensorInfo {
  const flipped = scope.run('Reverse', { x: filter }, { dims: [0, 1] });
  const swapped = scope.run('Transpose', { x: flipped }, { perm: [0, 1, 3, 2] });
  const { input, pad } = correlationInput(scope, dy, info);
  return scope.run('Conv2D', { x: input, filter: swapped }, { strides: [1, 1], dilations: [1, 1], pad, dataFormat: 'NHWC' });
}

type InputGradFormulation = 'sub-pixel-conv' | 'upsampled-conv';

function inputGradKernel(formulation: InputGradFormulation): KernelBody {
  return (backend, inputs, attrs) => {
    const kernelName = tf.Conv2DBackpropInput;
    const dy = float32Input(inputs, 'dy', kernelName);
    const filter = float32Input(inputs, 'filter', kernelName);
    const { strides, pad, dataFormat, dimRoundingMode, inputShape } = attrs as unknown as tf.Conv2DBackpropInputAttrs;
    requireNhwc(kernelName, dataFormat);
    const info = checkedConvInfo(
      kernelName,
      tf.backend_util.computeConv2DInfo(inputShape, filter.shape, strides, 1, pad, dimRoundingMode, false, 'channelsLast'),
    );
    requireShape(kernelName, 'dy', dy.shape, info.outShape);
    return inScope(backend, kernelName, (scope) =>
      formulation === 'sub-pixel-conv'
        ? inputGradBySubPixelConv(scope, dy, filter, info)
        : inputGradByUpsampledConv(scope, dy, filter, info),
    );
  };
}

// ---------------------------------------------------------------------------------------------
// Depthwise backprop
// ---------------------------------------------------------------------------------------------

type DepthwiseGeometryAttrs = Pick<tf.DepthwiseConv2dNativeBackpropInputAttrs, 'strides' | 'dilations' | 'pad' | 'dimRoundingMode'>;

function depthwiseInfo(kernelName: string, xShape: Shape4, filterShape: Shape4, attrs: tf.NamedAttrMap): Conv2DInfo {
  const { strides, dilations, pad, dimRoundingMode } = attrs as unknown as DepthwiseGeometryAttrs;
  return checkedConvInfo(
    kernelName,
    tf.backend_util.computeConv2DInfo(xShape, filterShape, strides, dilations ?? 1, pad, dimRoundingMode, true, 'channelsLast'),
  );
}

/**
 * Depthwise dx as a stride-1 XNNPACK depthwise conv of the zero-upsampled dy with the spatially
 * flipped filter, dilated like the forward conv. A channel multiplier m > 1 becomes C*m channels
 * with multiplier 1, summed back over m.
 */
function depthwiseInputGrad(backend: BackendWasm, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap): tf.TensorInfo {
  const kernelName = tf.DepthwiseConv2dNativeBackpropInput;
  const dy = float32Input(inputs, 'dy', kernelName);
  const filter = float32Input(inputs, 'filter', kernelName);
  const { inputShape } = attrs as unknown as tf.DepthwiseConv2dNativeBackpropInputAttrs;
  const info = depthwiseInfo(kernelName, inputShape, filter.shape, attrs);
  requireShape(kernelName, 'dy', dy.shape, info.outShape);
  const [kh, kw, channels, multiplier] = filter.shape;
  return inScope(backend, kernelName, (scope) => {
    const flipped = scope.reshape(scope.run('Reverse', { x: filter }, { dims: [0, 1] }), [kh, kw, channels * multiplier, 1]);
    const { input, pad } = correlationInput(scope, dy, info);
    const perProduct = scope.run('DepthwiseConv2dNative', { x: input, filter: flipped }, {
      strides: [1, 1],
      dilations: [info.dilationHeight, info.dilationWidth],
      pad,
    });
    if (multiplier === 1) return perProduct;
    const split = scope.reshape(perProduct, [info.batchSize, info.inHeight, info.inWidth, channels, multiplier]);
    return scope.run('Sum', { x: split }, { axis: [4], keepDims: false });
  });
}

/**
 * Depthwise dW, tap by tap: dW[i, j, c, q] = sum over positions of x_tap[p, c] * dy[p, c*m + q].
 * x is split by stride phase (as for im2col), so each tap is one contiguous copy; then one XNNPACK
 * Multiply and one XNNPACK average pool over all positions (times the count) per tap. Three fast
 * passes per tap: 142 ms for x [32,48,48,96] 3x3/1, where a single JS loop took ~430 ms, a
 * slice/multiply/sum-per-tap formulation ~1 s and the cpu backend's kernel 87 s; on [8,24,24,32]
 * 1.8 ms against 472 ms for the cpu kernel (bench/kernels.ts --cpu).
 */
function depthwiseFilterGrad(backend: BackendWasm, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap): tf.TensorInfo {
  const kernelName = tf.DepthwiseConv2dNativeBackpropFilter;
  const x = float32Input(inputs, 'x', kernelName);
  const dy = float32Input(inputs, 'dy', kernelName);
  const { filterShape } = attrs as unknown as tf.DepthwiseConv2dNativeBackpropFilterAttrs;
  const info = depthwiseInfo(kernelName, x.shape, filterShape, attrs);
  requireShape(kernelName, 'dy', dy.shape, info.outShape);
  const [kh, kw, channels, multiplier] = filterShape;
  const { batchSize: n, inHeight, inWidth, outChannels } = info;
  return inScope(backend, kernelName, (scope) => {
    const grid = phaseGridFor(info);
    const phases = padAndSplitPhases(scope, x, { planes: n, height: inHeight, width: inWidth, depth: channels }, grid);
    const dyGrid = dyOnGrid(scope, dy, grid);
    const { positions } = grid;
    const dyTaps = scope.alloc(multiplier === 1 ? [positions, channels] : [positions, channels, multiplier]);
    scope.view(dyTaps).set(scope.view(dyGrid).subarray(0, positions * outChannels));
    scope.free(dyGrid);

    const phaseSize = n * grid.gridHeight * grid.gridWidth;
    const sums = new Float64Array(kh * kw * outChannels);
    grid.taps.forEach(({ phase, offset }, t) => {
      const start = (phase * phaseSize + offset) * channels;
      const tap = scope.alloc(multiplier === 1 ? [positions, channels] : [positions, channels, 1]);
      scope.view(tap).set(scope.view(phases).subarray(start, start + positions * channels));
      const products = scope.run('Multiply', { a: tap, b: dyTaps });
      const asImage = scope.reshape(products, [1, 1, positions, outChannels]);
      const mean = scope.run('AvgPool', { x: asImage }, { filterSize: [1, positions], strides: [1, positions], pad: 'valid' });
      const means = scope.view(mean);
      for (let k = 0; k < outChannels; k++) sums[t * outChannels + k] = means[k] * positions;
      scope.free(tap, products, asImage, mean);
    });
    const out = scope.alloc([kh, kw, channels, multiplier]);
    scope.view(out).set(sums);
    return out;
  });
}

// ---------------------------------------------------------------------------------------------
// MaxPoolGrad
// ---------------------------------------------------------------------------------------------

/**
 * One JS pass: for every pooling window, the gradient goes to the FIRST strictly largest in-bounds
 * input (row-major), as in the cpu backend's maxPoolPositions; NaN never wins and an all -Infinity
 * window passes nothing. wasm's native kernel gives ties to the last maximum instead, which after a
 * ReLU (windows of zeros) changes the gradient.
 */
function maxPoolGrad(backend: BackendWasm, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap): tf.TensorInfo {
  const kernelName = tf.MaxPoolGrad;
  const dy = float32Input(inputs, 'dy', kernelName);
  const x = float32Input(inputs, 'input', kernelName);
  const { filterSize, strides, pad, dimRoundingMode } = attrs as unknown as tf.MaxPoolGradAttrs;
  const info = checkedConvInfo(kernelName, tf.backend_util.computePool2DInfo(x.shape, filterSize, strides, 1, pad, dimRoundingMode));
  requireShape(kernelName, 'dy', dy.shape, info.outShape);
  const { batchSize: n, inHeight, inWidth, inChannels: channels, outHeight, outWidth } = info;
  const { strideHeight: sh, strideWidth: sw, filterHeight: fh, filterWidth: fw } = info;
  return inScope(backend, kernelName, (scope) => {
    const dx = scope.alloc([n, inHeight, inWidth, channels]);
    const grad = scope.view(dx);
    const xs = scope.view(x);
    const dys = scope.view(dy);
    grad.fill(0);
    const best = new Float32Array(channels);
    const bestAt = new Int32Array(channels);
    for (let b = 0; b < n; b++) {
      for (let oh = 0; oh < outHeight; oh++) {
        const h0 = oh * sh - info.padInfo.top;
        const hEnd = Math.min(inHeight, h0 + fh);
        for (let ow = 0; ow < outWidth; ow++) {
          const w0 = ow * sw - info.padInfo.left;
          const wEnd = Math.min(inWidth, w0 + fw);
          best.fill(-Infinity);
          bestAt.fill(-1);
          for (let h = Math.max(0, h0); h < hEnd; h++) {
            for (let w = Math.max(0, w0); w < wEnd; w++) {
              const base = ((b * inHeight + h) * inWidth + w) * channels;
              for (let c = 0; c < channels; c++) {
                const v = xs[base + c];
                if (v > best[c]) {
                  best[c] = v;
                  bestAt[c] = base + c;
                }
              }
            }
          }
          const dyBase = ((b * outHeight + oh) * outWidth + ow) * channels;
          for (let c = 0; c < channels; c++) {
            const at = bestAt[c];
            if (at >= 0) grad[at] += dys[dyBase + c];
          }
        }
      }
    }
    return dx;
  });
}

// ---------------------------------------------------------------------------------------------
// Registration
// ---------------------------------------------------------------------------------------------

function wasmKernel(kernelName: string, body: KernelBody): tf.KernelConfig {
  return {
    kernelName,
    backendName: WASM,
    kernelFunc: ({ inputs, backend, attrs }) => body(backend as BackendWasm, inputs, attrs ?? {}),
  };
}

const TRAINING_KERNELS: readonly tf.KernelConfig[] = [
  wasmKernel(tf.Conv2DBackpropFilter, filterGradKernel('by-shape')),
  wasmKernel(tf.Conv2DBackpropInput, inputGradKernel('sub-pixel-conv')),
  wasmKernel(tf.DepthwiseConv2dNativeBackpropFilter, depthwiseFilterGrad),
  wasmKernel(tf.DepthwiseConv2dNativeBackpropInput, depthwiseInputGrad),
  wasmKernel(tf.MaxPoolGrad, maxPoolGrad),
];

/** What each kernel name was registered as before we replaced it (undefined: nothing). */
const originals = new Map<string, tf.KernelConfig | undefined>();

/**
 * Registers the training kernels for the 'wasm' backend, replacing wasm's Conv2DBackpropInput and
 * MaxPoolGrad. Idempotent: returns the kernel names it registered or replaced, [] when all were
 * already in place.
 */
export function registerWasmTrainingKernels(): string[] {
  const changed: string[] = [];
  for (const config of TRAINING_KERNELS) {
    const current = tf.getKernel(config.kernelName, WASM);
    if (current === config) continue;
    if (current !== undefined) tf.unregisterKernel(config.kernelName, WASM);
    tf.registerKernel(config);
    if (!originals.has(config.kernelName)) originals.set(config.kernelName, current);
    changed.push(config.kernelName);
  }
  return changed;
}

/** Restores the kernel registry to what it was before registerWasmTrainingKernels(). */
export function unregisterWasmTrainingKernels(): void {
  // A native kernel's setupFunc (its cwrap of the C++ entry point) runs when the backend
  // initializes, so one that was replaced before tf.setBackend('wasm') was never set up.
  const initialized = tf.engine().registry[WASM];
  for (const [kernelName, original] of originals) {
    if (tf.getKernel(kernelName, WASM) !== undefined) tf.unregisterKernel(kernelName, WASM);
    if (original === undefined) continue;
    tf.registerKernel(original);
    if (initialized !== undefined) original.setupFunc?.(initialized);
  }
  originals.clear();
}

/**
 * Every formulation as a standalone kernel function, for bench/kernels.ts and the parity tests
 * (both dW formulations must stay exact whichever the shape rule picks). Training code only needs
 * registerWasmTrainingKernels().
 */
export const kernelFormulations = {
  conv2dBackpropFilter: {
    'im2col-matmul': wasmKernel(tf.Conv2DBackpropFilter, filterGradKernel('im2col-matmul')).kernelFunc,
    'transposed-conv': wasmKernel(tf.Conv2DBackpropFilter, filterGradKernel('transposed-conv')).kernelFunc,
  },
  conv2dBackpropInput: {
    'sub-pixel-conv': wasmKernel(tf.Conv2DBackpropInput, inputGradKernel('sub-pixel-conv')).kernelFunc,
    'upsampled-conv': wasmKernel(tf.Conv2DBackpropInput, inputGradKernel('upsampled-conv')).kernelFunc,
  },
} as const;
