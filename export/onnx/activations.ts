// Keras activations as ONNX nodes, whether a layer's `activation` setting or an Activation /
// ReLU / LeakyReLU / ELU / Softmax layer. Softmax acts on the Keras last axis: the channel axis of
// an image-like tensor (1 in NCHW), the feature axis of a vector.

import type { OnnxGraph } from './onnx-graph.js';
import { graphAxis, isImageLike, onlyInput, unsupported, type LayerConverter, type LayerDescription, type TensorRef } from './layer-graph.js';

/** The nodes of activation `name` on `input`, written as `output`; linear is no node. */
export function activation(graph: OnnxGraph, layer: LayerDescription, name: string, input: TensorRef, output: string): TensorRef {
  const node = (op: string, attributes = {}) => ({ name: graph.node(op, [input.name], output, attributes), shape: input.shape });
  switch (name) {
    case 'linear':
      return input;
    case 'relu':
      return node('Relu');
    case 'relu6':
      return clip(graph, input, 0, 6, output);
    case 'sigmoid':
      return node('Sigmoid');
    case 'tanh':
      return node('Tanh');
    case 'elu':
      return node('Elu', { alpha: { float: 1 } });
    case 'selu':
      return node('Selu');
    case 'softplus':
      return node('Softplus');
    case 'softsign':
      return node('Softsign');
    // tfjs' hardSigmoid: max(0, min(1, 0.2 x + 0.5)), ONNX's defaults.
    case 'hardSigmoid':
      return node('HardSigmoid', { alpha: { float: 0.2 }, beta: { float: 0.5 } });
    case 'swish': {
      const sigmoid = graph.node('Sigmoid', [input.name], `${output}_sigmoid`);
      return { name: graph.node('Mul', [input.name, sigmoid], output), shape: input.shape };
    }
    case 'softmax':
      return { name: graph.node('Softmax', [input.name], output, { axis: isImageLike(input) ? 1 : -1 }), shape: input.shape };
    default:
      throw unsupported(layer, `activation ${JSON.stringify(name)} is not exported (supported: linear, relu, relu6, sigmoid, tanh, elu, selu, softplus, softsign, hardSigmoid, swish, softmax)`);
  }
}

function clip(graph: OnnxGraph, input: TensorRef, low: number, high: number, output: string): TensorRef {
  const min = graph.floatInitializer(`${output}_min`, [], Float32Array.of(low));
  const max = graph.floatInitializer(`${output}_max`, [], Float32Array.of(high));
  return { name: graph.node('Clip', [input.name, min, max], output), shape: input.shape };
}

export const activationLayer: LayerConverter = (layer, graph) => activation(graph, layer, String(layer.config['activation']), onlyInput(layer), layer.name);

/** Keras ReLU(max_value, negative_slope, threshold); tfjs exports only max_value. */
export const reluLayer: LayerConverter = (layer, graph) => {
  const input = onlyInput(layer);
  const maxValue = layer.config['maxValue'];
  if (maxValue === null || maxValue === undefined) return { name: graph.node('Relu', [input.name], layer.name), shape: input.shape };
  if (typeof maxValue !== 'number') throw unsupported(layer, `maxValue ${JSON.stringify(maxValue)} is not a number`);
  return clip(graph, input, 0, maxValue, layer.name);
};

export const leakyReluLayer: LayerConverter = (layer, graph) => {
  const input = onlyInput(layer);
  return { name: graph.node('LeakyRelu', [input.name], layer.name, { alpha: { float: Number(layer.config['alpha'] ?? 0.3) } }), shape: input.shape };
};

export const eluLayer: LayerConverter = (layer, graph) => {
  const input = onlyInput(layer);
  return { name: graph.node('Elu', [input.name], layer.name, { alpha: { float: Number(layer.config['alpha'] ?? 1) } }), shape: input.shape };
};

export const softmaxLayer: LayerConverter = (layer, graph) => {
  const input = onlyInput(layer);
  const axis = graphAxis(layer, Number(layer.config['axis'] ?? -1), input.shape);
  return { name: graph.node('Softmax', [input.name], layer.name, { axis }), shape: input.shape };
};
