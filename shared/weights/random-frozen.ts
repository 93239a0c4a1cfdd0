// The study freezes ResNet50's first 40 layers because they hold ImageNet features. Without
// --weights those layers hold their seed-initialised values and, frozen, never learn anything:
// the run still works but is not the recipe, so it is said once, loudly, before training starts.

import type * as tf from '@tensorflow/tfjs';

export interface FrozenWeights {
  /** Frozen layers that hold weights (an InputLayer or a padding layer freezes nothing). */
  layers: number;
  values: number;
}

export const FROZEN_RANDOM_WEIGHTS = 'FROZEN_RANDOM_WEIGHTS';

export function frozenWeightsOf(model: tf.LayersModel): FrozenWeights {
  const frozen = model.layers.filter((layer) => !layer.trainable && layer.weights.length > 0);
  const values = frozen.flatMap((layer) => layer.weights).reduce((sum, v) => sum + v.shape.reduce((n: number, d) => n * (d ?? 1), 1), 0);
  return { layers: frozen.length, values };
}

export function randomFrozenWarning(
  run: { freeze: string; model: string; weightsGiven: boolean },
  frozen: FrozenWeights,
): { code: typeof FROZEN_RANDOM_WEIGHTS; message: string } | undefined {
  if (run.weightsGiven || frozen.layers === 0) return undefined;
  return {
    code: FROZEN_RANDOM_WEIGHTS,
    message:
      `--freeze ${run.freeze} freezes ${frozen.layers} layers of ${run.model} with weights (${frozen.values.toLocaleString('en-US')} values) that are RANDOM: ` +
      `no --weights was given, so they keep their seed-initialised values for the whole run and never learn. ` +
      `Give --weights PATH (the ImageNet weights: see the README, "Pretrained weights") or --freeze none`,
  };
}
