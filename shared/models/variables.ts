// The variables a data-parallel step touches, in a stable order every replica agrees on
// (model.layers order, then each layer's weight order). SPEC §3: only trainable variables are
// exchanged; the BatchNorm moving statistics that training mode updates are state the replicas
// must also keep in step.
import type * as tf from '@tensorflow/tfjs';
import { KerasBatchNormalization } from './keras-batch-norm.js';

/** What gradients are computed and exchanged for; frozen layers contribute nothing. */
export function trainableVariables(model: tf.LayersModel): tf.LayerVariable[] {
  return model.layers.flatMap((layer) => layer.trainableWeights);
}

/**
 * Non-trainable variables that a training-mode forward pass changes: the moving mean and
 * variance of every BatchNorm layer that is not frozen. Frozen KerasBatchNormalization layers
 * run in inference mode and never change theirs; a stock tfjs BatchNormalization (as plain
 * tf.loadLayersModel creates) overwrites its statistics even when frozen, so it is always listed.
 */
export function updatableStateVariables(model: tf.LayersModel): tf.LayerVariable[] {
  return model.layers
    .filter((layer) => layer.getClassName() === 'BatchNormalization')
    .filter((layer) => !(layer instanceof KerasBatchNormalization) || layer.trainable)
    .flatMap((layer) => layer.nonTrainableWeights);
}
