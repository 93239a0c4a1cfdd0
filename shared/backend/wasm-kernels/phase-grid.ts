// The stride-phase layout of the dW kernels that read x tap by tap (Conv2DBackpropFilter's
// im2col-matmul and DepthwiseConv2dNativeBackpropFilter), built in single JS passes over the wasm
// heap.

import type * as tf from '@tensorflow/tfjs';
import type { Conv2DInfo } from './checks.js';
import type { KernelScope } from './kernel-scope.js';

/**
 * The stride-phase layout both dW formulations that read x tap by tap use (see padAndSplitPhases).
 * Output position p = (n, r, c) of the grid pairs with dy[n, r, c] (zero where r >= OH or c >= OW)
 * and, for tap t, with the phase grid element `taps[t].offset + p` of phase `taps[t].phase`.
 */
export interface PhaseGrid {
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

export function phaseGridFor(info: Conv2DInfo): PhaseGrid {
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
export function dyOnGrid(scope: KernelScope, dy: tf.TensorInfo, grid: PhaseGrid): tf.TensorInfo {
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
export function padAndSplitPhases(
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
