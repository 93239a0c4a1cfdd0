// What a layer converter sees and returns: the layer as data (class, config, weights by name,
// input tensors with their Keras shapes) rather than a tfjs object, so each conversion is a
// function of its description. Layout: Keras tensors are NHWC; in the ONNX graph every image-like
// tensor (Keras rank 3 without the batch) is NCHW, which ONNX's Conv and pooling operators take,
// and every feature vector (rank 1) is [N, F]. tfjs-to-onnx.ts turns the model's NHWC input into
// NCHW once at the start.

import { ExportError } from '../../shared/errors.js';
import type { OnnxGraph } from './onnx-graph.js';

/** A tensor of the graph: its ONNX name and its Keras shape without the batch dimension. */
export interface TensorRef {
  name: string;
  shape: number[];
  /** Made by ZeroPadding2D (a zero Pad node): see the MaxPool converter. */
  zeroPadded?: boolean;
}

export interface LayerWeight {
  shape: number[];
  values: Float32Array;
}

export interface LayerDescription {
  className: string;
  name: string;
  config: Record<string, unknown>;
  /** By the weight's own name, without the layer prefix: kernel, bias, gamma, depthwise_kernel... */
  weights: Map<string, LayerWeight>;
  inputs: TensorRef[];
  /** Keras output shape without the batch dimension. */
  outputShape: number[];
}

/** Writes the layer's nodes into the graph; returns its output (named after the layer). */
export type LayerConverter = (layer: LayerDescription, graph: OnnxGraph) => TensorRef;

export function unsupported(layer: LayerDescription, what: string): ExportError {
  return new ExportError('EXPORT_UNSUPPORTED_LAYER', `layer ${layer.name} (${layer.className}): ${what}`);
}

export function weight(layer: LayerDescription, name: string): LayerWeight {
  const found = layer.weights.get(name);
  if (!found) throw unsupported(layer, `has no weight "${name}" (it has ${[...layer.weights.keys()].join(', ') || 'none'})`);
  return found;
}

export function onlyInput(layer: LayerDescription): TensorRef {
  if (layer.inputs.length !== 1) throw unsupported(layer, `expected one input, it has ${layer.inputs.length}`);
  return layer.inputs[0]!;
}

/** Image-like (NCHW in the graph) or a feature vector ([N, F]); no other ranks are exported. */
export function isImageLike(ref: TensorRef): boolean {
  return ref.shape.length === 3;
}

export function requireImageLike(layer: LayerDescription, ref: TensorRef): void {
  if (!isImageLike(ref)) throw unsupported(layer, `expected an image-like input (height, width, channels), got shape [${ref.shape}]`);
}

export function requireChannelsLast(layer: LayerDescription): void {
  const format = layer.config['dataFormat'];
  if (format !== undefined && format !== 'channelsLast') throw unsupported(layer, `dataFormat ${String(format)}: only channelsLast models are exported`);
}

/** The graph axis of a Keras axis (negative from the end, batch excluded from `shape`) in the NCHW / [N, F] layout. */
export function graphAxis(layer: LayerDescription, kerasAxis: number, shape: readonly number[]): number {
  const rank = shape.length + 1;
  const axis = kerasAxis < 0 ? rank + kerasAxis : kerasAxis;
  if (axis <= 0 || axis >= rank) throw unsupported(layer, `axis ${kerasAxis} is not a feature or spatial axis of shape [${shape}]`);
  if (rank === 2) return 1;
  if (rank !== 4) throw unsupported(layer, `rank ${rank} tensors are not exported`);
  // NHWC axis → NCHW axis: H 1→2, W 2→3, C 3→1.
  return [0, 2, 3, 1][axis]!;
}

export function pair(layer: LayerDescription, key: string, fallback?: [number, number]): [number, number] {
  const value = layer.config[key] ?? fallback;
  if (typeof value === 'number') return [value, value];
  if (Array.isArray(value) && value.length === 2 && value.every((v) => typeof v === 'number')) return [value[0] as number, value[1] as number];
  throw unsupported(layer, `${key} ${JSON.stringify(value)} is not a number or a pair`);
}

/**
 * ONNX pads [top, left, bottom, right] for a sliding window over height x width, as TensorFlow
 * pads it: 'valid' none; 'same' the total that keeps ceil(in / stride) outputs, the odd pixel
 * at the end (bottom, right).
 */
export function windowPads(
  layer: LayerDescription,
  input: readonly [number, number],
  kernel: readonly [number, number],
  strides: readonly [number, number],
  dilation: readonly [number, number] = [1, 1],
): [number, number, number, number] {
  const padding = layer.config['padding'] ?? 'valid';
  if (padding === 'valid') return [0, 0, 0, 0];
  if (padding !== 'same') throw unsupported(layer, `padding ${JSON.stringify(padding)}: only same and valid are exported`);
  const before: number[] = [];
  const after: number[] = [];
  for (let d = 0; d < 2; d++) {
    const out = Math.ceil(input[d]! / strides[d]!);
    const total = Math.max((out - 1) * strides[d]! + (kernel[d]! - 1) * dilation[d]! + 1 - input[d]!, 0);
    before.push(Math.floor(total / 2));
    after.push(total - Math.floor(total / 2));
  }
  return [before[0]!, before[1]!, after[0]!, after[1]!];
}
