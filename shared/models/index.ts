// The model builders' public surface: build a model from its spec, and the handles a custom
// data-parallel training loop needs (what to exchange, what state to keep in step, the L2 term).
export { buildModel } from './build-model.js';
export { type FreezeSpec, formatFreeze, parseFreeze } from './freeze.js';
export { HEAD_NAMES, type HeadName, isHeadName } from './head.js';
export { DEFAULT_DROPOUT, DEFAULT_L2, MODEL_NAMES, type ModelName, type ModelSpec, isModelName } from './model-spec.js';
export { regularizationLoss } from './regularization.js';
export { setDropoutSeed } from './step-seeded-dropout.js';
export { trainableVariables, updatableStateVariables } from './variables.js';
