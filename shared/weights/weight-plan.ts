// Which source tensor goes into which weight of the model, by layer name and weight name — as
// Keras' load_weights(by_name=True) maps them, but stricter: every backbone layer with weights
// must be in the source with exactly its weights and shapes, or nothing is loaded. Head layers
// (shared/models/head.ts) are the task's own: one the source has with the same weights and shapes
// is loaded (fine-tuning from an earlier emotrain run keeps its head), any other starts fresh and
// says why — an ImageNet file has no head_dense, and a 1000-class `predictions` cannot serve 7.

import { WeightsError } from '../errors.js';
import type { SourceLayer, SourceTensor } from './source-weights.js';

export interface TargetTensor {
  /** Its name within the layer, as source tensors are named (kernel, bias, gamma...). */
  name: string;
  shape: readonly number[];
  /** Index of its slot in the model's state (ModelState.slots). */
  slot: number;
}

export interface TargetLayer {
  name: string;
  /** The layer's class (Conv2D, Activation...), to say what the weightless layers are. */
  className: string;
  head: boolean;
  tensors: TargetTensor[];
}

export type LayerOutcome =
  | { layer: string; status: 'loaded'; tensors: number; values: number }
  | { layer: string; status: 'fresh'; reason: string }
  | { layer: string; status: 'no-weights'; className: string };

export interface WeightPlan {
  assignments: Array<{ slot: number; values: Float32Array }>;
  /** One per layer of the model, in model order. */
  outcomes: LayerOutcome[];
  /** Layers of the source that hold weights but are not layers of this model. */
  unused: string[];
}

export interface PlanInput {
  targets: readonly TargetLayer[];
  source: readonly SourceLayer[];
  /** Names the source in messages ("the Keras HDF5 file /x/y.h5"). */
  sourceName: string;
  modelName: string;
}

// How many problems one error lists before it only counts the rest.
const LISTED_PROBLEMS = 5;

export function planWeights({ targets, source, sourceName, modelName }: PlanInput): WeightPlan {
  const byName = new Map(source.map((layer) => [layer.name, layer]));
  const assignments: WeightPlan['assignments'] = [];
  const outcomes: LayerOutcome[] = [];
  const problems: string[] = [];
  let backboneMissing = 0;
  let backboneWithWeights = 0;
  for (const target of targets) {
    if (target.tensors.length === 0) {
      outcomes.push({ layer: target.name, status: 'no-weights', className: target.className });
      continue;
    }
    if (!target.head) backboneWithWeights += 1;
    const found = byName.get(target.name);
    const problem = found ? mismatch(target, found) : `layer ${target.name} (${describeTensors(target.tensors)}) is not in the source`;
    if (problem === undefined) {
      for (const tensor of target.tensors) assignments.push({ slot: tensor.slot, values: found!.tensors.find((t) => t.name === tensor.name)!.values });
      const values = target.tensors.reduce((sum, t) => sum + t.shape.reduce((a, b) => a * b, 1), 0);
      outcomes.push({ layer: target.name, status: 'loaded', tensors: target.tensors.length, values });
    } else if (target.head) {
      const reason = found ? `${problem} (head layers start fresh when the source's do not fit)` : 'not in the source (head layers start fresh)';
      outcomes.push({ layer: target.name, status: 'fresh', reason });
    } else {
      if (!found) backboneMissing += 1;
      problems.push(problem);
    }
  }
  if (problems.length > 0) throw mismatchError(problems, { sourceName, modelName, backboneMissing, backboneWithWeights, source });
  const targetNames = new Set(targets.map((t) => t.name));
  const unused = source.filter((layer) => layer.tensors.length > 0 && !targetNames.has(layer.name)).map((layer) => layer.name);
  return { assignments, outcomes, unused };
}

/** What keeps the source's layer from loading into the target, or undefined when it fits exactly. */
function mismatch(target: TargetLayer, found: SourceLayer): string | undefined {
  const missing = target.tensors.filter((t) => !found.tensors.some((s) => s.name === t.name));
  if (missing.length > 0) {
    return `layer ${target.name}: the source has ${describeTensors(found.tensors)}, this model's has ${describeTensors(target.tensors)}`;
  }
  const extra = found.tensors.filter((s) => !target.tensors.some((t) => t.name === s.name));
  if (extra.length > 0) {
    return `layer ${target.name}: the source has ${describeTensors(found.tensors)}, this model's has only ${describeTensors(target.tensors)}`;
  }
  for (const tensor of target.tensors) {
    const stored = found.tensors.find((s) => s.name === tensor.name)!;
    if (stored.shape.join('x') !== tensor.shape.join('x')) {
      return `layer ${target.name}: ${tensor.name} has shape [${stored.shape.join(', ')}] in the source (${stored.origin}), this model's is [${tensor.shape.join(', ')}]`;
    }
  }
  return undefined;
}

function describeTensors(tensors: ReadonlyArray<Pick<SourceTensor, 'name' | 'shape'> | TargetTensor>): string {
  if (tensors.length === 0) return 'no weights';
  return tensors.map((t) => `${t.name} [${t.shape.join(', ')}]`).join(', ');
}

function mismatchError(
  problems: string[],
  context: { sourceName: string; modelName: string; backboneMissing: number; backboneWithWeights: number; source: readonly SourceLayer[] },
): WeightsError {
  const { sourceName, modelName, backboneMissing, backboneWithWeights, source } = context;
  if (backboneMissing === backboneWithWeights) {
    const held = source.filter((layer) => layer.tensors.length > 0).map((layer) => layer.name);
    const sample = held.length === 0 ? 'no layers with weights' : `${held.length} layer${held.length === 1 ? '' : 's'} with weights: ${held.slice(0, LISTED_PROBLEMS).join(', ')}${held.length > LISTED_PROBLEMS ? ', ...' : ''}`;
    return new WeightsError(
      'WEIGHTS_MISMATCH',
      `${sourceName} has none of the ${backboneWithWeights} backbone layers with weights of ${modelName} (it has ${sample}): are these weights for another model?`,
    );
  }
  const listed = problems.slice(0, LISTED_PROBLEMS).join('; ');
  const more = problems.length > LISTED_PROBLEMS ? `; and ${problems.length - LISTED_PROBLEMS} more` : '';
  return new WeightsError('WEIGHTS_MISMATCH', `${sourceName} does not fit the backbone of ${modelName}: ${listed}${more}`);
}
