// --weights: pretrained weights for a run (issue 9, point 5). What to load them from is decided
// by source-kind.ts, read by keras-h5.ts or tfjs-layers.ts, mapped by weight-plan.ts and
// reported by weights-report.ts; load-weights.ts is the shell that ties them together.
export { loadLocatedWeights, loadPretrainedWeights, targetLayers, type PretrainedWeights, type WeightsTarget } from './load-weights.js';
export { locateWeights, type LocatedWeights } from './source-kind.js';
export { FROZEN_RANDOM_WEIGHTS, frozenWeightsOf, randomFrozenWarning } from './random-frozen.js';
export type { WeightsSourceKind } from './source-weights.js';
export { type WeightsFile, type WeightsRecord, weightsEventFields } from './weights-report.js';
