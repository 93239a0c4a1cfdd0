// Conv2DBackpropFilter (dW) for the wasm backend, which has none. Two exact formulations, chosen by
// layer shape (chooseFilterGradFormulation): one fully-connected matmul over an im2col built from
// the stride-phase layout, or a forward Conv2D with the roles of x and dy swapped.

import * as tf from '@tensorflow/tfjs';
import { BackendError } from '../../errors.js';
import { conv2dInfo, filterGradInputs, type Conv2DInfo } from './checks.js';
import { inScope, type KernelScope } from './kernel-scope.js';
import { dyOnGrid, padAndSplitPhases, phaseGridFor } from './phase-grid.js';
import type { KernelBody } from './wasm-kernel.js';

/** Elements of dy per packed matmul block in im2col-matmul: ~512 KB; 64K-256K measured alike. */
const DY_BLOCK_ELEMENTS = 131072;
/**
 * Bounds on the output positions of one im2col-matmul chunk, whatever DY_BLOCK_ELEMENTS / Cout
 * gives: at most MAX, so that the im2col chunk ([kh*kw*Cin, chunk]) stays small when Cout is small;
 * at least MIN, so that a layer with many output channels still gets a reduction worth a matmul call.
 */
const MIN_CHUNK_POSITIONS = 256;
const MAX_CHUNK_POSITIONS = 8192;
/** im2col rows (kh * kw * Cin) up to which im2col-matmul beats transposed-conv: 3x3 over 32 channels. */
const IM2COL_MATMUL_MAX_ROWS = 288;

export type FilterGradFormulation = 'pointwise-matmul' | 'im2col-matmul' | 'transposed-conv';

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
 * Rule: im2col-matmul for 1x1 kernels and while the im2col has few rows (kh * kw * Cin <=
 * IM2COL_MATMUL_MAX_ROWS); transposed-conv otherwise. With many rows the chunked
 * fully-connected GEMM (plus its float64 accumulation, plus the zero border positions of the
 * im2col grid on small feature maps) loses to XNNPACK's conv.
 */
export function chooseFilterGradFormulation(info: Conv2DInfo): FilterGradFormulation {
  if (pointwiseMatmulApplies(info)) return 'pointwise-matmul';
  const pointwise = info.filterHeight === 1 && info.filterWidth === 1;
  const im2colRows = info.filterHeight * info.filterWidth * info.inChannels;
  return pointwise || im2colRows <= IM2COL_MATMUL_MAX_ROWS ? 'im2col-matmul' : 'transposed-conv';
}

/** A 1x1 convolution that reads no padding: every output is one input pixel (1x1 'same' or 'valid', any stride). */
function pointwiseMatmulApplies(info: Conv2DInfo): boolean {
  const { top, bottom, left, right } = info.padInfo;
  return info.filterHeight === 1 && info.filterWidth === 1 && top === 0 && bottom === 0 && left === 0 && right === 0;
}

/**
 * dW of a 1x1 convolution that reads no padding, as one XNNPACK matmul: x at the pixels the
 * outputs read (every stride-th) as [positions, Cin], transposed to [Cin, positions], times dy
 * [positions, Cout]. No im2col and no chunks: the transposed x is the only full copy. (wasm's
 * BatchMatMul with transposeA and its StridedSlice are slow loops, hence Transpose and a JS pass.)
 */
function filterGradByPointwiseMatmul(scope: KernelScope, x: tf.TensorInfo, dy: tf.TensorInfo, info: Conv2DInfo): tf.TensorInfo {
  const { batchSize: n, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels, strideHeight: sh, strideWidth: sw } = info;
  const positions = n * outHeight * outWidth;
  let sampled = x;
  if (sh > 1 || sw > 1 || inHeight !== outHeight || inWidth !== outWidth) {
    sampled = scope.alloc([positions, inChannels]);
    const dst = scope.view(sampled);
    const src = scope.view(x);
    let to = 0;
    for (let b = 0; b < n; b++) {
      for (let oh = 0; oh < outHeight; oh++) {
        for (let ow = 0; ow < outWidth; ow++) {
          const from = ((b * inHeight + oh * sh) * inWidth + ow * sw) * inChannels;
          for (let c = 0; c < inChannels; c++) dst[to++] = src[from + c]!;
        }
      }
    }
  }
  const xT = scope.run('Transpose', { x: scope.reshape(sampled, [positions, inChannels]) }, { perm: [1, 0] });
  const product = scope.run('BatchMatMul', { a: xT, b: scope.reshape(dy, [positions, outChannels]) }, { transposeA: false, transposeB: false });
  return scope.reshape(product, [1, 1, inChannels, outChannels]);
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

  const chunk = Math.min(MAX_CHUNK_POSITIONS, Math.max(MIN_CHUNK_POSITIONS, Math.floor(DY_BLOCK_ELEMENTS / outChannels)));
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

export function conv2dFilterGradKernel(formulation: FilterGradFormulation | 'by-shape'): KernelBody {
  return (backend, inputs, attrs) => {
    const { x, dy, info } = filterGradInputs(tf.Conv2DBackpropFilter, inputs, attrs, conv2dInfo);
    const chosen = formulation === 'by-shape' ? chooseFilterGradFormulation(info) : formulation;
    return inScope(backend, tf.Conv2DBackpropFilter, (scope) => {
      switch (chosen) {
        case 'pointwise-matmul':
          if (!pointwiseMatmulApplies(info)) {
            throw new BackendError('BACKEND_UNAVAILABLE', `wasm ${tf.Conv2DBackpropFilter}: pointwise-matmul needs a 1x1 filter without padding, got ${info.filterHeight}x${info.filterWidth} with pad [${info.padInfo.top}, ${info.padInfo.bottom}, ${info.padInfo.left}, ${info.padInfo.right}]`);
          }
          return filterGradByPointwiseMatmul(scope, x, dy, info);
        case 'im2col-matmul':
          return filterGradByIm2col(scope, x, dy, info);
        case 'transposed-conv':
          return filterGradByTransposedConv(scope, x, dy, info);
      }
    });
  };
}
