// What every kernel does before computing: check its inputs and attributes and derive the checked
// convolution geometry from them. The wasm backend, like these kernels, is NHWC float32 only;
// anything else throws a BackendError naming the input or attribute, instead of computing
// something wrong.

import * as tf from '@tensorflow/tfjs';
import { BackendError } from '../../errors.js';

export type Shape4 = [number, number, number, number];
export type Conv2DInfo = tf.backend_util.Conv2DInfo;

export function float32Input(inputs: tf.NamedTensorInfoMap, name: string, kernelName: string): tf.TensorInfo & { shape: Shape4 } {
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

export function requireShape(kernelName: string, name: string, actual: readonly number[], expected: readonly number[]): void {
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

export function checkedConvInfo(kernelName: string, info: Conv2DInfo): Conv2DInfo {
  requirePositive(kernelName, 'strides', [info.strideHeight, info.strideWidth]);
  requirePositive(kernelName, 'dilations', [info.dilationHeight, info.dilationWidth]);
  requireNonNegativePadding(kernelName, info);
  return info;
}

type Conv2DGeometryAttrs = Pick<tf.Conv2DBackpropInputAttrs, 'strides' | 'pad' | 'dataFormat' | 'dimRoundingMode'>;

/** The checked geometry of the Conv2D whose gradient a Conv2DBackprop* kernel computes. */
export function conv2dInfo(kernelName: string, xShape: Shape4, filterShape: Shape4, attrs: tf.NamedAttrMap): Conv2DInfo {
  const { strides, pad, dataFormat, dimRoundingMode } = attrs as unknown as Conv2DGeometryAttrs;
  requireNhwc(kernelName, dataFormat);
  return checkedConvInfo(
    kernelName,
    tf.backend_util.computeConv2DInfo(xShape, filterShape, strides, 1, pad, dimRoundingMode, false, 'channelsLast'),
  );
}

type DepthwiseGeometryAttrs = Pick<tf.DepthwiseConv2dNativeBackpropInputAttrs, 'strides' | 'dilations' | 'pad' | 'dimRoundingMode'>;

/** The checked geometry of the depthwise conv whose gradient a DepthwiseConv2dNativeBackprop* kernel computes. */
export function depthwiseInfo(kernelName: string, xShape: Shape4, filterShape: Shape4, attrs: tf.NamedAttrMap): Conv2DInfo {
  const { strides, dilations, pad, dimRoundingMode } = attrs as unknown as DepthwiseGeometryAttrs;
  return checkedConvInfo(
    kernelName,
    tf.backend_util.computeConv2DInfo(xShape, filterShape, strides, dilations ?? 1, pad, dimRoundingMode, true, 'channelsLast'),
  );
}

type Geometry = (kernelName: string, xShape: Shape4, filterShape: Shape4, attrs: tf.NamedAttrMap) => Conv2DInfo;

/** A filter-gradient kernel's inputs x and dy, with the geometry (conv2dInfo or depthwiseInfo) that dy must fit. */
export function filterGradInputs(kernelName: string, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap, geometry: Geometry) {
  const x = float32Input(inputs, 'x', kernelName);
  const dy = float32Input(inputs, 'dy', kernelName);
  const { filterShape } = attrs as unknown as { filterShape: Shape4 };
  const info = geometry(kernelName, x.shape, filterShape, attrs);
  requireShape(kernelName, 'dy', dy.shape, info.outShape);
  return { x, dy, info };
}

/** An input-gradient kernel's inputs dy and filter, with the geometry (conv2dInfo or depthwiseInfo) that dy must fit. */
export function inputGradInputs(kernelName: string, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap, geometry: Geometry) {
  const dy = float32Input(inputs, 'dy', kernelName);
  const filter = float32Input(inputs, 'filter', kernelName);
  const { inputShape } = attrs as unknown as { inputShape: Shape4 };
  const info = geometry(kernelName, inputShape, filter.shape, attrs);
  requireShape(kernelName, 'dy', dy.shape, info.outShape);
  return { dy, filter, info };
}
