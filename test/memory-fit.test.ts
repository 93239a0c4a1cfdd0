// A step must fit the backend's memory (issue 9): on wasm (a 4 GiB heap) the coordinator checks or
// chooses the micro-batch before any worker starts, and a worker refuses a step that cannot fit.

import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { estimatedStepBytes, largestFittingMicroBatch, planMicroBatch, WASM_HEAP_BUDGET_BYTES } from '../shared/backend/memory-fit.js';
import { COORDINATOR, Program, cleanUp, tempDir } from './helpers/processes.js';

const MiB = 2 ** 20;
// ResNet50 at 224x224 (Keras layout): 23.85M weights, 37.1M layer outputs per sample.
const RESNET50_224 = { weightBytes: 23_850_887 * 4, activationBytesPerSample: 37_119_475 * 4 };

afterEach(cleanUp);

describe('fitting a step into memory', () => {
  it('estimates above every measured wasm peak, within the 4 GiB heap for what ran', () => {
    // measured peaks (tfjs 4.22 wasm): batch 1 → 1,031 MiB, 2 → 1,604, 4 → 2,636, 8 aborts
    expect(estimatedStepBytes(RESNET50_224, 1)).toBeGreaterThan(1031 * MiB);
    expect(estimatedStepBytes(RESNET50_224, 2)).toBeGreaterThan(1604 * MiB);
    expect(estimatedStepBytes(RESNET50_224, 4)).toBeGreaterThan(2636 * MiB);
    expect(estimatedStepBytes(RESNET50_224, 4)).toBeLessThan(WASM_HEAP_BUDGET_BYTES);
    expect(estimatedStepBytes(RESNET50_224, 8)).toBeGreaterThan(4096 * MiB);
    expect(largestFittingMicroBatch(RESNET50_224, 128, WASM_HEAP_BUDGET_BYTES)).toBe(4);
    expect(largestFittingMicroBatch(RESNET50_224, 3, WASM_HEAP_BUDGET_BYTES)).toBe(3);
  });

  it('keeps a micro-batch that fits, chooses one when none was given, and refuses one that does not fit', () => {
    expect(planMicroBatch(RESNET50_224, 2, 64, WASM_HEAP_BUDGET_BYTES, 'resnet50')).toEqual({ microBatch: 2, chosen: false });
    expect(planMicroBatch(RESNET50_224, 0, 64, WASM_HEAP_BUDGET_BYTES, 'resnet50')).toEqual({ microBatch: 4, chosen: true });
    expect(planMicroBatch(RESNET50_224, 0, 3, WASM_HEAP_BUDGET_BYTES, 'resnet50')).toEqual({ microBatch: 0, chosen: false });
    const refused = planMicroBatch(RESNET50_224, 16, 64, WASM_HEAP_BUDGET_BYTES, 'resnet50 at 224x224');
    expect(refused).toEqual({ error: expect.stringMatching(/resnet50 at 224x224 needs about 10\.\d GiB for 16 samples at once; the budget is 3\.5 GiB: use --micro-batch 4 or less/) });
    const hopeless = planMicroBatch({ weightBytes: 2 ** 30, activationBytesPerSample: 1 }, 0, 8, WASM_HEAP_BUDGET_BYTES, 'huge');
    expect(hopeless).toEqual({ error: expect.stringMatching(/not even one sample fits: use a smaller --image-size/) });
  });

  it('stops the coordinator before any worker starts when --micro-batch cannot fit the wasm heap', async () => {
    const runs = tempDir('runs');
    const coordinator = new Program(COORDINATOR, [
      '--gpus', '1', '--epochs', '1', '--dataset', 'synthetic', '--synthetic-count', '700', '--model', 'resnet50',
      '--micro-batch', '32', '--backend', 'wasm', '--runs', runs, '--run-id', 'too-big', '--progress', 'lines',
    ]);
    const { code } = await coordinator.exit(120_000);
    expect(code).toBe(1);
    expect(coordinator.output).toMatch(/resnet50 at 224x224 on the wasm backend needs about \d+\.\d GiB for 32 samples at once; the budget is 3\.5 GiB: use --micro-batch 4 or less/);
    expect(coordinator.output).not.toMatch(/joined|listening on/);
    expect(existsSync(path.join(runs, 'too-big'))).toBe(false);
  });
});
