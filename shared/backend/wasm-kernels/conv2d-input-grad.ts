// Conv2DBackpropInput (dx) for the wasm backend, whose own kernel is a naive loop 2.5-16x slower
// than the sub-pixel formulation registered here. The upsampled-conv formulation is the simple
// reference it was measured against.

import * as tf from '@tensorflow/tfjs';
import { BackendError } from '../../errors.js';
import { conv2dInfo, inputGradInputs, type Conv2DInfo } from './checks.js';
import { correlationInput, scatterOntoCanvas, type ExplicitPadding } from './correlation-input.js';
import { inScope, type KernelScope } from './kernel-scope.js';
import type { KernelBody } from './wasm-kernel.js';

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

/** A 1x1 convolution that reads no padding: each output came from one input pixel. */
function isPointwise(info: Conv2DInfo): boolean {
  const { top, bottom, left, right } = info.padInfo;
  return info.filterHeight === 1 && info.filterWidth === 1 && top === 0 && bottom === 0 && left === 0 && right === 0;
}

/**
 * dx of a 1x1 convolution that reads no padding: dy times the transposed filter (a 1x1 Conv2D,
 * [1, 1, Cout, Cin]) gives dx at the pixels the outputs read, placed on a zero canvas at the
 * stride in one JS pass. The sub-pixel formulation would compute s^2 phases of which s^2 - 1 are
 * all zeros (3.6x slower on a 1x1 stride-2 residual of mini-xception, bench/kernels.ts).
 */
function inputGradByPointwiseConv(scope: KernelScope, dy: tf.TensorInfo, filter: tf.TensorInfo, info: Conv2DInfo): tf.TensorInfo {
  const transposed = scope.run('Transpose', { x: filter }, { perm: [0, 1, 3, 2] });
  const sampled = scope.run('Conv2D', { x: dy, filter: transposed }, { strides: [1, 1], dilations: [1, 1], pad: 'valid', dataFormat: 'NHWC' });
  if (info.strideHeight === 1 && info.strideWidth === 1 && info.inHeight === info.outHeight && info.inWidth === info.outWidth) return sampled;
  const canvas = { rows: info.inHeight, cols: info.inWidth, top: 0, left: 0, strideHeight: info.strideHeight, strideWidth: info.strideWidth };
  return scatterOntoCanvas(scope, sampled, canvas);
}

export type InputGradFormulation = 'pointwise-conv' | 'sub-pixel-conv' | 'upsampled-conv';

/**
 * The registered rule: pointwise-conv for strided 1x1 convolutions without padding, sub-pixel-conv
 * otherwise (at stride 1 both are one 1x1 Conv2D; sub-pixel's filter shuffle measured a little faster).
 */
export function chooseInputGradFormulation(info: Conv2DInfo): Exclude<InputGradFormulation, 'upsampled-conv'> {
  const strided = info.strideHeight > 1 || info.strideWidth > 1;
  return isPointwise(info) && strided ? 'pointwise-conv' : 'sub-pixel-conv';
}

export function conv2dInputGradKernel(formulation: InputGradFormulation | 'by-shape'): KernelBody {
  return (backend, inputs, attrs) => {
    const kernelName = tf.Conv2DBackpropInput;
    const { dy, filter, info } = inputGradInputs(kernelName, inputs, attrs, conv2dInfo);
    const chosen = formulation === 'by-shape' ? chooseInputGradFormulation(info) : formulation;
    return inScope(backend, kernelName, (scope) => {
      switch (chosen) {
        case 'pointwise-conv':
          if (!isPointwise(info)) {
            throw new BackendError('BACKEND_UNAVAILABLE', `wasm ${kernelName}: pointwise-conv needs a 1x1 filter without padding, got ${info.filterHeight}x${info.filterWidth} with pad [${info.padInfo.top}, ${info.padInfo.bottom}, ${info.padInfo.left}, ${info.padInfo.right}]`);
          }
          return inputGradByPointwiseConv(scope, dy, filter, info);
        case 'sub-pixel-conv':
          return inputGradBySubPixelConv(scope, dy, filter, info);
        case 'upsampled-conv':
          return inputGradByUpsampledConv(scope, dy, filter, info);
      }
    });
  };
}
