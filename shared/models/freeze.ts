// Which backbone layers are frozen (SPEC §1: `--freeze 40`, `--freeze none`, `--freeze conv4`).
// A count N means Keras' `base_model.layers[:N]`: the InputLayer is layer 0, in Keras' layer
// order. A stage `convK` freezes every backbone layer up to and including the last one whose name
// starts with `convK_`, so `--freeze conv4` trains ResNet50's conv5 stage and the head.
import { ModelError } from '../errors.js';

export type FreezeSpec = { kind: 'none' } | { kind: 'count'; layers: number } | { kind: 'stage'; stage: string };

const FREEZE_USAGE = 'expected none, a layer count (e.g. 40) or a stage name (e.g. conv4)';

export function parseFreeze(text: string): FreezeSpec {
  const value = text.trim();
  if (value === 'none') return { kind: 'none' };
  if (/^\d+$/.test(value)) {
    const layers = Number(value);
    if (Number.isSafeInteger(layers)) return { kind: 'count', layers };
  }
  if (/^conv\d+$/.test(value)) return { kind: 'stage', stage: value };
  throw new ModelError('MODEL_INVALID', `--freeze ${JSON.stringify(text)} is invalid: ${FREEZE_USAGE}`);
}

/** The flag value a FreezeSpec was parsed from, for config.json and messages. */
export function formatFreeze(freeze: FreezeSpec): string {
  switch (freeze.kind) {
    case 'none':
      return 'none';
    case 'count':
      return String(freeze.layers);
    case 'stage':
      return freeze.stage;
  }
}

/** The stage prefixes (conv1, conv2, ...) found in the backbone's layer names, in order. */
export function backboneStages(backboneLayerNames: readonly string[]): string[] {
  const stages: string[] = [];
  for (const name of backboneLayerNames) {
    const stage = /^(conv\d+)_/.exec(name)?.[1];
    if (stage !== undefined && !stages.includes(stage)) stages.push(stage);
  }
  return stages;
}

/**
 * How many leading backbone layers the freeze covers. Throws a ModelError naming the value and
 * the valid range when it does not fit this backbone.
 */
export function frozenLayerCount(freeze: FreezeSpec, backboneLayerNames: readonly string[], modelName: string): number {
  const layerCount = backboneLayerNames.length;
  switch (freeze.kind) {
    case 'none':
      return 0;
    case 'count':
      if (!Number.isInteger(freeze.layers) || freeze.layers < 0 || freeze.layers > layerCount) {
        throw new ModelError(
          'MODEL_INVALID',
          `--freeze ${freeze.layers} is out of range for ${modelName}: its backbone has ${layerCount} layers ` +
            `(the InputLayer is layer 0), so the count must be in 0..${layerCount}`,
        );
      }
      return freeze.layers;
    case 'stage': {
      const prefix = `${freeze.stage}_`;
      let last = -1;
      backboneLayerNames.forEach((name, index) => {
        if (name.startsWith(prefix)) last = index;
      });
      if (last < 0) {
        throw new ModelError(
          'MODEL_INVALID',
          `--freeze ${freeze.stage} names no stage of ${modelName}: valid stages are ${backboneStages(backboneLayerNames).join(', ')}`,
        );
      }
      return last + 1;
    }
  }
}
