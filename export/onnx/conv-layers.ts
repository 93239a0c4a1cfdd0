// Convolutions: Conv2D, DepthwiseConv2D and SeparableConv2D (a depthwise then a 1x1 pointwise
// convolution, as Keras computes it) as ONNX Conv, with TensorFlow's 'same' padding made explicit
// from the known input size. Kernels are relaid from Keras' [kh, kw, in, out] to ONNX's
// [out, in / group, kh, kw].

import { activation } from './activations.js';
import type { OnnxGraph } from './onnx-graph.js';
import {
  onlyInput,
  pair,
  requireChannelsLast,
  requireImageLike,
  unsupported,
  weight,
  windowPads,
  type LayerConverter,
  type LayerDescription,
  type LayerWeight,
  type TensorRef,
} from './layer-graph.js';

/** Keras [kh, kw, in, out] → ONNX [out, in, kh, kw]. */
export function convKernel({ shape, values }: LayerWeight): { dims: number[]; values: Float32Array } {
  const [kh, kw, cin, cout] = shape as [number, number, number, number];
  const out = new Float32Array(values.length);
  for (let i = 0; i < kh; i++)
    for (let j = 0; j < kw; j++)
      for (let c = 0; c < cin; c++)
        for (let o = 0; o < cout; o++) out[((o * cin + c) * kh + i) * kw + j] = values[((i * kw + j) * cin + c) * cout + o]!;
  return { dims: [cout, cin, kh, kw], values: out };
}

/** Keras depthwise [kh, kw, in, multiplier] → ONNX grouped [in · multiplier, 1, kh, kw]; output channel c · multiplier + m, as Keras orders it. */
export function depthwiseKernel({ shape, values }: LayerWeight): { dims: number[]; values: Float32Array } {
  const [kh, kw, cin, multiplier] = shape as [number, number, number, number];
  const out = new Float32Array(values.length);
  for (let i = 0; i < kh; i++)
    for (let j = 0; j < kw; j++)
      for (let c = 0; c < cin; c++)
        for (let m = 0; m < multiplier; m++) out[((c * multiplier + m) * kh + i) * kw + j] = values[((i * kw + j) * cin + c) * multiplier + m]!;
  return { dims: [cin * multiplier, 1, kh, kw], values: out };
}

interface ConvNode {
  kernel: { dims: number[]; values: Float32Array };
  bias: LayerWeight | undefined;
  group: number;
  strides: [number, number];
  dilation: [number, number];
  pads: [number, number, number, number];
}

function convNode(graph: OnnxGraph, layer: LayerDescription, input: TensorRef, conv: ConvNode, output: string, outputShape: number[]): TensorRef {
  const inputs = [input.name, graph.floatInitializer(`${layer.name}_kernel`, conv.kernel.dims, conv.kernel.values)];
  if (conv.bias) inputs.push(graph.floatInitializer(`${layer.name}_bias`, [conv.bias.values.length], conv.bias.values));
  const name = graph.node('Conv', inputs, output, {
    kernel_shape: conv.kernel.dims.slice(2),
    strides: conv.strides,
    dilations: conv.dilation,
    pads: conv.pads,
    group: conv.group,
  });
  return { name, shape: outputShape };
}

function windowSettings(layer: LayerDescription, input: TensorRef, kernelHW: [number, number]) {
  requireChannelsLast(layer);
  requireImageLike(layer, input);
  const strides = pair(layer, 'strides', [1, 1]);
  const dilation = pair(layer, 'dilationRate', [1, 1]);
  if ((strides[0] > 1 || strides[1] > 1) && (dilation[0] > 1 || dilation[1] > 1)) throw unsupported(layer, 'strides and dilation both above 1');
  const pads = windowPads(layer, [input.shape[0]!, input.shape[1]!], kernelHW, strides, dilation);
  return { strides, dilation, pads };
}

function useBias(layer: LayerDescription): LayerWeight | undefined {
  return layer.config['useBias'] === false ? undefined : weight(layer, 'bias');
}

export const conv2dLayer: LayerConverter = (layer, graph) => {
  const input = onlyInput(layer);
  const kernel = weight(layer, 'kernel');
  const settings = windowSettings(layer, input, [kernel.shape[0]!, kernel.shape[1]!]);
  const linearName = layerActivation(layer) === 'linear' ? layer.name : `${layer.name}_linear`;
  const conv = convNode(graph, layer, input, { kernel: convKernel(kernel), bias: useBias(layer), group: 1, ...settings }, linearName, layer.outputShape);
  return activation(graph, layer, layerActivation(layer), conv, layer.name);
};

export const depthwiseConv2dLayer: LayerConverter = (layer, graph) => {
  const input = onlyInput(layer);
  const kernel = weight(layer, 'depthwise_kernel');
  const settings = windowSettings(layer, input, [kernel.shape[0]!, kernel.shape[1]!]);
  const linearName = layerActivation(layer) === 'linear' ? layer.name : `${layer.name}_linear`;
  const conv = convNode(graph, layer, input, { kernel: depthwiseKernel(kernel), bias: useBias(layer), group: kernel.shape[2]!, ...settings }, linearName, layer.outputShape);
  return activation(graph, layer, layerActivation(layer), conv, layer.name);
};

export const separableConv2dLayer: LayerConverter = (layer, graph) => {
  const input = onlyInput(layer);
  const depthwise = weight(layer, 'depthwise_kernel');
  const pointwise = weight(layer, 'pointwise_kernel');
  const settings = windowSettings(layer, input, [depthwise.shape[0]!, depthwise.shape[1]!]);
  const [outH, outW] = layer.outputShape;
  const middle = convNode(
    graph,
    layer,
    input,
    { kernel: depthwiseKernel(depthwise), bias: undefined, group: depthwise.shape[2]!, ...settings },
    `${layer.name}_depthwise`,
    [outH!, outW!, depthwise.shape[2]! * depthwise.shape[3]!],
  );
  const linearName = layerActivation(layer) === 'linear' ? layer.name : `${layer.name}_linear`;
  const conv = convNode(
    graph,
    layer,
    middle,
    { kernel: convKernel(pointwise), bias: useBias(layer), group: 1, strides: [1, 1], dilation: [1, 1], pads: [0, 0, 0, 0] },
    linearName,
    layer.outputShape,
  );
  return activation(graph, layer, layerActivation(layer), conv, layer.name);
};

function layerActivation(layer: LayerDescription): string {
  return String(layer.config['activation'] ?? 'linear');
}
