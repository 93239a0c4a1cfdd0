// Builds a model from its spec: backbone + head as one flat functional model (backbone layers
// first, in Keras order, then the head), with deterministic weights and the freeze applied.
import * as tf from '@tensorflow/tfjs';
import { ModelError } from '../errors.js';
import type { Backbone, BackboneOptions } from './backbone.js';
import { frozenLayerCount } from './freeze.js';
import { buildHead, isHeadLayer } from './head.js';
import { buildMiniXceptionBackbone } from './mini-xception.js';
import { type ModelName, type ModelSpec, validateModelSpec } from './model-spec.js';
import { buildResNet50Backbone } from './resnet50.js';
import { InitSeeds } from './seeded-init.js';
import { buildSmallCnnBackbone } from './small-cnn.js';

const BACKBONES: Record<ModelName, (options: BackboneOptions, seeds: InitSeeds) => Backbone> = {
  'small-cnn': buildSmallCnnBackbone,
  resnet50: buildResNet50Backbone,
  'mini-xception': buildMiniXceptionBackbone,
};

export function buildModel(spec: ModelSpec): tf.LayersModel {
  validateModelSpec(spec);
  const seeds = new InitSeeds(spec.seed);
  const backbone = BACKBONES[spec.name]({ imageSize: spec.imageSize, l2: spec.l2 }, seeds);
  const output = buildHead(backbone.features, { head: spec.head, dropout: spec.dropout, l2: spec.l2 }, seeds);
  const model = tf.model({ inputs: backbone.input, outputs: output, name: spec.name });
  try {
    const layers = backboneLayers(model);
    const frozen = frozenLayerCount(spec.freeze, layers.map((layer) => layer.name), spec.name);
    layers.slice(0, frozen).forEach((layer) => {
      layer.trainable = false;
    });
  } catch (error) {
    model.dispose();
    throw error;
  }
  return model;
}

/** The backbone's layers in Keras order (the InputLayer is layer 0). */
export function backboneLayers(model: tf.LayersModel): tf.layers.Layer[] {
  const layers = model.layers;
  const headStart = layers.findIndex((layer) => isHeadLayer(layer.name));
  // Graph-depth order puts every backbone layer before the head; anything else is a build bug.
  if (headStart < 0 || layers.slice(headStart).some((layer) => !isHeadLayer(layer.name))) {
    throw new ModelError('MODEL_INVALID', `model ${model.name} does not end with the classification head`);
  }
  return layers.slice(0, headStart);
}
