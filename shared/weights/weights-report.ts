// What a run records and says about the weights it started from: config.json's `weights` (the
// source, the sha256 of every file read, which layers started fresh and why) and the lines the
// coordinator prints — every layer of the model is loaded, or named with the reason it was not.

import type { WeightsSourceKind } from './source-weights.js';
import type { WeightPlan } from './weight-plan.js';

export interface WeightsFile {
  path: string;
  bytes: number;
  sha256: string;
}

/** config.json's `weights`: null for a run whose weights are seed-initialised. */
export interface WeightsRecord {
  /** The directory or file read (a run directory resolves to its checkpoints/best). */
  path: string;
  kind: WeightsSourceKind;
  files: WeightsFile[];
  loadedLayers: number;
  loadedTensors: number;
  freshLayers: Array<{ layer: string; reason: string }>;
  /** Layers with weights in the source that this model does not have. */
  unusedLayers: string[];
}

export function weightsRecord(source: { path: string; kind: WeightsSourceKind; files: WeightsFile[] }, plan: WeightPlan): WeightsRecord {
  const loaded = plan.outcomes.flatMap((o) => (o.status === 'loaded' ? [o] : []));
  return {
    path: source.path,
    kind: source.kind,
    files: source.files,
    loadedLayers: loaded.length,
    loadedTensors: loaded.reduce((sum, o) => sum + o.tensors, 0),
    freshLayers: plan.outcomes.flatMap((o) => (o.status === 'fresh' ? [{ layer: o.layer, reason: o.reason }] : [])),
    unusedLayers: plan.unused,
  };
}

/** The fields of the run's `weights_loaded` event: every layer of the model in exactly one list. */
export function weightsEventFields(record: WeightsRecord, plan: WeightPlan) {
  const named = (status: 'loaded' | 'no-weights') => plan.outcomes.filter((o) => o.status === status).map((o) => o.layer);
  return {
    path: record.path,
    kind: record.kind,
    files: record.files,
    loaded: named('loaded'),
    fresh: record.freshLayers,
    no_weights: named('no-weights'),
    unused: record.unusedLayers,
  };
}

/** The console lines: a summary, one line per layer left fresh, the weightless layers by class, what was not used. */
export function describeWeights(plan: WeightPlan, context: { sourceName: string; modelName: string; files: readonly WeightsFile[]; notes: readonly string[] }): string[] {
  const loaded = plan.outcomes.flatMap((o) => (o.status === 'loaded' ? [o] : []));
  const tensors = loaded.reduce((sum, o) => sum + o.tensors, 0);
  const values = loaded.reduce((sum, o) => sum + o.values, 0);
  const digests = context.files.map((f) => `${f.sha256.slice(0, 12)}…`).join(', ');
  const lines = [
    `weights: loaded ${loaded.length} layers of ${context.modelName} (${tensors} tensors, ${values.toLocaleString('en-US')} values) from ${context.sourceName} (sha256 ${digests})`,
  ];
  for (const outcome of plan.outcomes) if (outcome.status === 'fresh') lines.push(`weights: ${outcome.layer}: ${outcome.reason}`);
  const weightless = plan.outcomes.flatMap((o) => (o.status === 'no-weights' ? [o.className] : []));
  if (weightless.length > 0) lines.push(`weights: ${weightless.length} layers have no weights to load (${countByName(weightless)})`);
  if (plan.unused.length > 0) lines.push(`weights: not used, as ${context.modelName} has no such layers: ${plan.unused.join(', ')}`);
  for (const note of context.notes) lines.push(`weights: ${note}`);
  return lines;
}

function countByName(names: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const name of names) counts.set(name, (counts.get(name) ?? 0) + 1);
  return [...counts].map(([name, count]) => `${name} ${count}`).join(', ');
}
