// Shared by the model tests: a ModelSpec with test defaults, and small readers of built models.

import * as tf from '@tensorflow/tfjs';
import { expect } from 'vitest';
import { ModelError } from '../../shared/errors.js';
import type { ModelSpec } from '../../shared/models/index.js';

// ResNet50 is exercised at 32x32 (Keras' minimum for include_top=False): the architecture and
// weight shapes do not depend on the input size, and the cpu backend is slow at 224x224.
export const RESNET_TEST_SIZE = 32;

export function spec(overrides: Partial<ModelSpec> = {}): ModelSpec {
  return {
    name: 'resnet50',
    imageSize: RESNET_TEST_SIZE,
    seed: 1234,
    freeze: { kind: 'none' },
    head: 'study',
    dropout: 0.5,
    l2: 0.01,
    ...overrides,
  };
}

export function paramCount(variables: tf.LayerVariable[]): number {
  return variables.reduce((sum, variable) => sum + variable.shape.reduce((n: number, d) => n * (d ?? 1), 1), 0);
}

export function layerNamed(model: tf.LayersModel, name: string): tf.layers.Layer {
  return model.getLayer(name);
}

export function weightValues(layer: tf.layers.Layer): Float32Array[] {
  return layer.getWeights().map((weight) => weight.dataSync() as Float32Array);
}

export function sameBits(a: Float32Array, b: Float32Array): boolean {
  return Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
}

export function expectModelError(action: () => unknown, ...fragments: string[]): void {
  let thrown: unknown;
  try {
    action();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(ModelError);
  expect((thrown as ModelError).code).toBe('MODEL_INVALID');
  for (const fragment of fragments) expect((thrown as ModelError).message).toContain(fragment);
}

/** Saves to memory and loads back with the stock loader only (no custom classes registered). */
export async function roundTrip(model: tf.LayersModel): Promise<{ loaded: tf.LayersModel; topology: string }> {
  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (saved) => {
      artifacts = saved;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  const loaded = await tf.loadLayersModel(tf.io.fromMemory(artifacts!));
  return { loaded, topology: JSON.stringify(artifacts!.modelTopology) };
}

