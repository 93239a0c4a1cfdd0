// Everything but convolutions and activations: Dense, BatchNormalization (inference: the moving
// statistics), dropout layers (identity at inference), Flatten (in Keras' NHWC order), ZeroPadding2D,
// pooling (max, average, global), and the merges Add and Concatenate.

import { activation } from './activations.js';
import {
  graphAxis,
  isImageLike,
  onlyInput,
  pair,
  requireChannelsLast,
  requireImageLike,
  unsupported,
  weight,
  windowPads,
  type LayerConverter,
  type LayerDescription,
} from './layer-graph.js';

export const denseLayer: LayerConverter = (layer, graph) => {
  const input = onlyInput(layer);
  if (isImageLike(input)) throw unsupported(layer, `Dense on an image-like input [${input.shape}] is not exported: flatten or pool first`);
  const kernel = weight(layer, 'kernel');
  const inputs = [input.name, graph.floatInitializer(`${layer.name}_kernel`, kernel.shape, kernel.values)];
  if (layer.config['useBias'] !== false) {
    const bias = weight(layer, 'bias');
    inputs.push(graph.floatInitializer(`${layer.name}_bias`, [bias.values.length], bias.values));
  }
  const activationName = String(layer.config['activation'] ?? 'linear');
  // Gemm: Y = X · kernel + bias, with Keras' [in, out] kernel as it is.
  const linear = { name: graph.node('Gemm', inputs, activationName === 'linear' ? layer.name : `${layer.name}_linear`), shape: layer.outputShape };
  return activation(graph, layer, activationName, linear, layer.name);
};

export const batchNormalizationLayer: LayerConverter = (layer, graph) => {
  const input = onlyInput(layer);
  const axis = graphAxis(layer, Number(layer.config['axis'] ?? -1), input.shape);
  if (axis !== 1) throw unsupported(layer, `normalising axis ${String(layer.config['axis'])} is not the channel axis; only channel-axis BatchNormalization is exported`);
  const mean = weight(layer, 'moving_mean');
  const variance = weight(layer, 'moving_variance');
  const channels = mean.values.length;
  const gamma = layer.config['scale'] === false ? new Float32Array(channels).fill(1) : weight(layer, 'gamma').values;
  const beta = layer.config['center'] === false ? new Float32Array(channels) : weight(layer, 'beta').values;
  const inputs = [
    input.name,
    graph.floatInitializer(`${layer.name}_gamma`, [channels], gamma),
    graph.floatInitializer(`${layer.name}_beta`, [channels], beta),
    graph.floatInitializer(`${layer.name}_mean`, [channels], mean.values),
    graph.floatInitializer(`${layer.name}_variance`, [channels], variance.values),
  ];
  return { name: graph.node('BatchNormalization', inputs, layer.name, { epsilon: { float: Number(layer.config['epsilon'] ?? 1e-3) } }), shape: input.shape };
};

/** Dropout, SpatialDropout, GaussianNoise, GaussianDropout, AlphaDropout: nothing happens at inference. */
export const identityLayer: LayerConverter = (layer) => onlyInput(layer);

export const flattenLayer: LayerConverter = (layer, graph) => {
  const input = onlyInput(layer);
  if (!isImageLike(input)) return input;
  // Keras flattens NHWC: back to that order first, so a following Dense sees its weights' order.
  const nhwc = graph.node('Transpose', [input.name], `${layer.name}_nhwc`, { perm: [0, 2, 3, 1] });
  return { name: graph.node('Flatten', [nhwc], layer.name, { axis: 1 }), shape: layer.outputShape };
};

export const zeroPadding2dLayer: LayerConverter = (layer, graph) => {
  const input = onlyInput(layer);
  requireChannelsLast(layer);
  requireImageLike(layer, input);
  const [[top, bottom], [left, right]] = paddingPairs(layer);
  const pads = graph.int64Initializer(`${layer.name}_pads`, [0, 0, top, left, 0, 0, bottom, right]);
  return { name: graph.node('Pad', [input.name, pads], layer.name, { mode: 'constant' }), shape: layer.outputShape, zeroPadded: true };
};

function paddingPairs(layer: LayerDescription): [[number, number], [number, number]] {
  const padding = layer.config['padding'];
  if (typeof padding === 'number') return [[padding, padding], [padding, padding]];
  if (Array.isArray(padding) && padding.length === 2) {
    const [h, w] = padding as unknown[];
    const side = (value: unknown): [number, number] => {
      if (typeof value === 'number') return [value, value];
      if (Array.isArray(value) && value.length === 2) return [Number(value[0]), Number(value[1])];
      throw unsupported(layer, `padding ${JSON.stringify(padding)} is not understood`);
    };
    return [side(h), side(w)];
  }
  throw unsupported(layer, `padding ${JSON.stringify(padding)} is not understood`);
}

function poolingLayer(op: 'MaxPool' | 'AveragePool'): LayerConverter {
  return (layer, graph) => {
    const input = onlyInput(layer);
    requireChannelsLast(layer);
    requireImageLike(layer, input);
    const pool = pair(layer, 'poolSize', [2, 2]);
    const strides = layer.config['strides'] === null || layer.config['strides'] === undefined ? pool : pair(layer, 'strides');
    const pads = windowPads(layer, [input.shape[0]!, input.shape[1]!], pool, strides);
    // TensorFlow's average leaves the padding out of the count, as count_include_pad = 0 does.
    const attributes = { kernel_shape: pool, strides, pads, ...(op === 'AveragePool' ? { count_include_pad: 0 } : {}) };
    // onnxruntime (1.30) folds a zero Pad into the MaxPool after it, whose own padding is ignored
    // (as if -inf) where Keras takes the zeros into the maximum: wrong wherever a window's values
    // are all negative. It never folds into a MaxPool that also gives its indices, so one after a
    // ZeroPadding2D does (test/export-onnx-layers.test.ts has the case).
    const indices = op === 'MaxPool' && input.zeroPadded ? [`${layer.name}_indices`] : [];
    return { name: graph.node(op, [input.name], layer.name, attributes, indices), shape: layer.outputShape };
  };
}

export const maxPooling2dLayer = poolingLayer('MaxPool');
export const averagePooling2dLayer = poolingLayer('AveragePool');

function globalPoolingLayer(op: 'GlobalAveragePool' | 'GlobalMaxPool'): LayerConverter {
  return (layer, graph) => {
    const input = onlyInput(layer);
    requireChannelsLast(layer);
    requireImageLike(layer, input);
    const pooled = graph.node(op, [input.name], layer.outputShape.length === 3 ? layer.name : `${layer.name}_nc11`);
    // keepDims leaves [1, 1, C], which is already NCHW [N, C, 1, 1]; otherwise the vector [N, C].
    if (layer.outputShape.length === 3) return { name: pooled, shape: layer.outputShape };
    return { name: graph.node('Flatten', [pooled], layer.name, { axis: 1 }), shape: layer.outputShape };
  };
}

export const globalAveragePooling2dLayer = globalPoolingLayer('GlobalAveragePool');
export const globalMaxPooling2dLayer = globalPoolingLayer('GlobalMaxPool');

export const addLayer: LayerConverter = (layer, graph) => {
  requireSameShapes(layer);
  return { name: graph.node('Sum', layer.inputs.map((i) => i.name), layer.name), shape: layer.outputShape };
};
export const multiplyLayer: LayerConverter = (layer, graph) => {
  requireSameShapes(layer);
  let product = layer.inputs[0]!.name;
  layer.inputs.slice(1).forEach((input, i) => {
    product = graph.node('Mul', [product, input.name], i === layer.inputs.length - 2 ? layer.name : `${layer.name}_${i}`);
  });
  return { name: product, shape: layer.outputShape };
};

export const concatenateLayer: LayerConverter = (layer, graph) => {
  if (layer.inputs.length < 2) throw unsupported(layer, `expected two or more inputs, it has ${layer.inputs.length}`);
  const axis = graphAxis(layer, Number(layer.config['axis'] ?? -1), layer.inputs[0]!.shape);
  return { name: graph.node('Concat', layer.inputs.map((i) => i.name), layer.name, { axis }), shape: layer.outputShape };
};

function requireSameShapes(layer: LayerDescription): void {
  if (layer.inputs.length < 2) throw unsupported(layer, `expected two or more inputs, it has ${layer.inputs.length}`);
  const shapes = layer.inputs.map((i) => i.shape.join('x'));
  // Keras broadcasts some merges; the exported graph does not need to, as emotrain's models never do.
  if (new Set(shapes).size > 1) throw unsupported(layer, `inputs of different shapes (${shapes.join(', ')}) are not exported`);
}
