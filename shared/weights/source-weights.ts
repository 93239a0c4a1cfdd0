// The one form every --weights reader produces, whatever the file: the source's layers by name,
// each with its tensors as float32 under the names tfjs gives a layer's weights (kernel, bias,
// gamma, beta, moving_mean, moving_variance). weight-plan.ts maps these onto the model by name.

import { WeightsError } from '../errors.js';

export type WeightsSourceKind = 'keras-h5' | 'tfjs-layers' | 'emotrain-checkpoint';

export interface SourceTensor {
  /** The weight's name within its layer: `kernel` for Keras' `conv1_conv/kernel:0`. */
  name: string;
  shape: number[];
  values: Float32Array;
  /** Where the tensor is in the source, for messages: an HDF5 dataset path or a model.json weight name. */
  origin: string;
}

export interface SourceLayer {
  name: string;
  tensors: SourceTensor[];
}

/**
 * Splits a stored weight name into its layer and its own name: Keras' `conv1_conv/kernel:0` and
 * tfjs' `conv1_conv/kernel` are layer conv1_conv, weight kernel. The layer is the last scope
 * before the weight, so a nested model's prefix (`resnet50/conv1_conv/kernel:0`, as Keras names
 * the weights of a model used as a layer) is dropped; a bare name (`kernel:0`) belongs to
 * `defaultLayer`, the HDF5 group it was found in.
 */
export function splitWeightName(stored: string, defaultLayer: string): { layer: string; weight: string } {
  const parts = stored.split('/');
  const weight = parts[parts.length - 1]!.replace(/:\d+$/, '');
  return { layer: parts.length >= 2 ? parts[parts.length - 2]! : defaultLayer, weight };
}

/**
 * Gathers tensors into layers, in the order first seen. A layer/weight pair found twice (two
 * nested models with a layer of the same name) is ambiguous and refused rather than one copy
 * silently winning.
 */
export function groupByLayer(entries: ReadonlyArray<{ layer: string; tensor: SourceTensor }>, source: string): SourceLayer[] {
  const layers = new Map<string, SourceLayer>();
  for (const { layer, tensor } of entries) {
    let group = layers.get(layer);
    if (!group) {
      group = { name: layer, tensors: [] };
      layers.set(layer, group);
    }
    const twin = group.tensors.find((t) => t.name === tensor.name);
    if (twin) {
      throw new WeightsError('WEIGHTS_UNREADABLE', `${source} holds weight ${tensor.name} of layer ${layer} twice (${twin.origin} and ${tensor.origin}): cannot tell which one to load`);
    }
    group.tensors.push(tensor);
  }
  return [...layers.values()];
}
