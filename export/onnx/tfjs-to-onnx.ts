// A tfjs layers model (what emotrain checkpoints hold) → an ONNX model, generically over the
// layer types (issue 10, point 4): every layer becomes the ONNX nodes its converter writes, in the
// model's topological order, wired by the layers' inbound connections. The graph takes the
// model's own input — float32 [batch, size, size, 3] NHWC, preprocessed as meta.json says — and
// gives the softmax probabilities [batch, 7]; the preprocessing and classes travel in the
// model's metadata_props so another runtime knows how to feed it.

import type * as tf from '@tensorflow/tfjs';
import type { CheckpointMeta } from '../../shared/checkpoint-meta.js';
import { ExportError } from '../../shared/errors.js';
import { activationLayer, eluLayer, leakyReluLayer, reluLayer, softmaxLayer } from './activations.js';
import { conv2dLayer, depthwiseConv2dLayer, separableConv2dLayer } from './conv-layers.js';
import {
  addLayer,
  averagePooling2dLayer,
  batchNormalizationLayer,
  concatenateLayer,
  denseLayer,
  flattenLayer,
  globalAveragePooling2dLayer,
  globalMaxPooling2dLayer,
  identityLayer,
  maxPooling2dLayer,
  multiplyLayer,
  zeroPadding2dLayer,
} from './core-layers.js';
import type { LayerConverter, LayerDescription, LayerWeight, TensorRef } from './layer-graph.js';
import { OnnxGraph } from './onnx-graph.js';

/** Keras class name → converter. A model with any other layer is refused, naming the layer. */
export const LAYER_CONVERTERS: Readonly<Record<string, LayerConverter>> = {
  Conv2D: conv2dLayer,
  DepthwiseConv2D: depthwiseConv2dLayer,
  SeparableConv2D: separableConv2dLayer,
  BatchNormalization: batchNormalizationLayer,
  Dense: denseLayer,
  Dropout: identityLayer,
  SpatialDropout1D: identityLayer,
  SpatialDropout2D: identityLayer,
  GaussianNoise: identityLayer,
  GaussianDropout: identityLayer,
  AlphaDropout: identityLayer,
  Flatten: flattenLayer,
  ZeroPadding2D: zeroPadding2dLayer,
  MaxPooling2D: maxPooling2dLayer,
  AveragePooling2D: averagePooling2dLayer,
  GlobalAveragePooling2D: globalAveragePooling2dLayer,
  GlobalMaxPooling2D: globalMaxPooling2dLayer,
  Activation: activationLayer,
  ReLU: reluLayer,
  LeakyReLU: leakyReluLayer,
  ELU: eluLayer,
  Softmax: softmaxLayer,
  Add: addLayer,
  Multiply: multiplyLayer,
  Concatenate: concatenateLayer,
};

export const INPUT_NAME = 'input';
export const OUTPUT_NAME = 'probabilities';

export interface OnnxExport {
  bytes: Uint8Array;
  inputName: string;
  outputName: string;
  /** Converted layers, for the user (the InputLayer included). */
  layerCount: number;
}

export interface OnnxExportOptions {
  /** The checkpoint's meta.json: preprocessing and classes go into the model's metadata. */
  meta?: CheckpointMeta;
}

export function tfjsModelToOnnx(model: tf.LayersModel, options: OnnxExportOptions = {}): OnnxExport {
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    throw new ExportError('EXPORT_FAILED', `model ${model.name} has ${model.inputs.length} inputs and ${model.outputs.length} outputs; only single-input, single-output models are exported`);
  }
  const inputShape = model.inputs[0]!.shape.slice(1);
  if (inputShape.length !== 3 || inputShape.some((d) => d === null)) {
    throw new ExportError('EXPORT_FAILED', `model ${model.name}'s input shape [${model.inputs[0]!.shape}] is not a fixed [height, width, channels]`);
  }
  const graph = new OnnxGraph();
  const inputName = graph.claimName(INPUT_NAME);
  const outputs = new Map<tf.layers.Layer, TensorRef>();
  for (const layer of model.layers) {
    const className = layer.getClassName();
    if (layer.inboundNodes.length !== 1) {
      throw new ExportError('EXPORT_UNSUPPORTED_LAYER', `layer ${layer.name} (${className}) is used ${layer.inboundNodes.length} times; shared layers are not exported`);
    }
    if (className === 'InputLayer') {
      // Keras NHWC in, NCHW inside: one transpose at the start.
      outputs.set(layer, { name: graph.node('Transpose', [inputName], `${layer.name}_nchw`, { perm: [0, 3, 1, 2] }), shape: inputShape as number[] });
      continue;
    }
    const converter = LAYER_CONVERTERS[className];
    if (!converter) {
      throw new ExportError(
        'EXPORT_UNSUPPORTED_LAYER',
        `layer ${layer.name} is a ${className}, which the ONNX exporter does not convert (it converts ${Object.keys(LAYER_CONVERTERS).join(', ')})`,
      );
    }
    outputs.set(layer, converter(describe(layer, outputs), graph));
  }
  const last = outputs.get(model.outputs[0]!.sourceLayer as tf.layers.Layer)!;
  // An image-like output (a model without a head) goes back to the NHWC the user gave.
  const result = last.shape.length === 3 ? graph.node('Transpose', [last.name], OUTPUT_NAME, { perm: [0, 2, 3, 1] }) : graph.node('Identity', [last.name], OUTPUT_NAME);
  const meta = options.meta;
  const metadata: Record<string, string> = {
    'emotrain.input_layout': 'NHWC',
    ...(meta
      ? {
          'emotrain.classes': JSON.stringify(meta.classes),
          'emotrain.image_size': String(meta.imageSize),
          'emotrain.preprocessing': meta.preprocessing,
          'emotrain.model': meta.model,
          'emotrain.run_id': meta.runId,
          'emotrain.epoch': String(meta.epoch),
        }
      : {}),
  };
  const bytes = graph.encode(
    { name: inputName, shape: ['batch', ...(inputShape as number[])] },
    { name: result, shape: ['batch', ...last.shape] },
    {
      graphName: model.name,
      docString: `emotrain ${model.name}: input float32 [batch, ${inputShape.join(', ')}] NHWC, preprocessed (${meta?.preprocessing ?? 'as trained'}); output softmax probabilities`,
      metadata,
    },
  );
  return { bytes, inputName, outputName: result, layerCount: model.layers.length };
}

function describe(layer: tf.layers.Layer, outputs: Map<tf.layers.Layer, TensorRef>): LayerDescription {
  const inputs = layer.inboundNodes[0]!.inboundLayers.map((source) => {
    const ref = outputs.get(source);
    if (!ref) throw new ExportError('EXPORT_FAILED', `layer ${layer.name}: its input ${source.name} has not been converted (a nested model or an unsorted graph)`);
    return ref;
  });
  const weights = new Map<string, LayerWeight>();
  const values = layer.getWeights();
  layer.weights.forEach((variable, i) => {
    // Weight names are "<layer>/<weight>" (tfjs may add a suffix to the layer part).
    const name = variable.name.slice(variable.name.lastIndexOf('/') + 1).replace(/_\d+$/, '');
    weights.set(name, { shape: [...variable.shape] as number[], values: values[i]!.dataSync() as Float32Array });
  });
  const outputShape = layer.outputShape as (number | null)[];
  return { className: layer.getClassName(), name: layer.name, config: layer.getConfig() as Record<string, unknown>, weights, inputs, outputShape: outputShape.slice(1) as number[] };
}
