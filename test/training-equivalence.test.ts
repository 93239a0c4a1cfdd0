import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { COORDINATOR, Program, cleanUp, tempDir } from './helpers/processes.js';

afterEach(cleanUp);

const COMMON = [
  '--epochs', '1', '--steps-per-epoch', '5', '--dataset', 'synthetic', '--synthetic-count', '1000',
  '--model', 'small-cnn', '--image-size', '32', '--no-augment', '--dropout', '0', '--seed', '7', '--progress', 'lines',
];

/** Trains 5 steps and returns every weight of checkpoints/last as one array. */
async function trainFiveSteps(runs: string, runId: string, extra: string[]): Promise<Float32Array> {
  const coordinator = new Program(COORDINATOR, [...COMMON, '--runs', runs, '--run-id', runId, ...extra]);
  const { code } = await coordinator.exit(180_000);
  expect(code, coordinator.output).toBe(0);
  const state = JSON.parse(readFileSync(path.join(runs, runId, 'checkpoints', 'last', 'state.json'), 'utf8')) as { step: number };
  expect(state.step).toBe(5);
  const bytes = readFileSync(path.join(runs, runId, 'checkpoints', 'last', 'weights.bin'));
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

function compare(a: Float32Array, b: Float32Array): { maxAbs: number; meanAbs: number } {
  expect(a.length).toBe(b.length);
  let maxAbs = 0;
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    maxAbs = Math.max(maxAbs, d);
    sum += d;
  }
  return { maxAbs, meanAbs: sum / a.length };
}

describe('synchronous data parallelism gives the update of one big batch', () => {
  it('1 worker x 128, 2 workers x 64 and 2 x 64 in micro-batches of 16 reach the same weights after 5 steps', async () => {
    const runs = tempDir('equivalence');
    const one = await trainFiveSteps(runs, 'one-worker', ['--gpus', '1']);
    const two = await trainFiveSteps(runs, 'two-workers', ['--gpus', '2']);
    const micro = await trainFiveSteps(runs, 'two-workers-micro', ['--gpus', '2', '--micro-batch', '16']);
    const twoVsOne = compare(two, one);
    const microVsOne = compare(micro, one);
    console.log(`5 steps, lr 1e-3: 2x64 vs 1x128 max ${twoVsOne.maxAbs.toExponential(2)} mean ${twoVsOne.meanAbs.toExponential(2)}; ` +
      `2x64/16 vs 1x128 max ${microVsOne.maxAbs.toExponential(2)} mean ${microVsOne.meanAbs.toExponential(2)}`);
    // The weights really moved: 5 Adam steps of lr 1e-3 move weights by up to ~5e-3.
    const moved = compare(one, await trainFiveSteps(runs, 'reference-lr0', ['--gpus', '1', '--lr', '1e-12']));
    expect(moved.maxAbs).toBeGreaterThan(1e-3);
    // Tolerance. The only differences are fp16 rounding of each worker's scaled gradients
    // (relative 2^-11 for normal halves, more for subnormal ones) and float32 summation order.
    // Adam divides each update by sqrt(v), so a weight whose gradient is near zero takes a step of
    // up to lr whatever the gradient's exact size: a tiny relative difference there can change
    // that weight's step by a fraction of lr, and how many weights are in that regime depends on
    // the batches. Hence: no weight may differ by more than one step (lr = 1e-3, measured 5.8e-4),
    // and on average weights must agree to 5e-3 of a step (5e-6; measured 1.4e-6 with the split of
    // issue 3, 3.3e-7 with the earlier 80/10/10 split of the same set — the same with the old and
    // the new data pipeline). A wrong shard or weighting moves weights by a good part of lr.
    for (const difference of [twoVsOne, microVsOne]) {
      expect(difference.maxAbs).toBeLessThan(1e-3);
      expect(difference.meanAbs).toBeLessThan(5e-6);
    }
  });

  it('reaches the same weights when the workers reduce peer to peer (--allreduce ring, 2 and 3 workers)', async () => {
    const runs = tempDir('equivalence-ring');
    const one = await trainFiveSteps(runs, 'one-worker', ['--gpus', '1']);
    const star = await trainFiveSteps(runs, 'star-two', ['--gpus', '2']);
    const ringTwo = await trainFiveSteps(runs, 'ring-two', ['--gpus', '2', '--allreduce', 'ring']);
    const ringThree = await trainFiveSteps(runs, 'ring-three', ['--gpus', '3', '--allreduce', 'ring']);
    // With two workers the ring rounds w·g to fp16 before adding, which changes a value only
    // where it is subnormal in fp16: the two modes agree far below anything an Adam step moves.
    const ringVsStar = compare(ringTwo, star);
    expect(ringVsStar.maxAbs).toBeLessThan(1e-6);
    const threeVsOne = compare(ringThree, one);
    console.log(`5 steps: ring of 2 vs star of 2 max ${ringVsStar.maxAbs.toExponential(2)}; ring of 3 vs 1x128 max ${threeVsOne.maxAbs.toExponential(2)} mean ${threeVsOne.meanAbs.toExponential(2)}`);
    // The ring rounds each partial sum to fp16 once more per hop: the same bounds as above hold.
    for (const difference of [compare(ringTwo, one), threeVsOne]) {
      expect(difference.maxAbs).toBeLessThan(1e-3);
      expect(difference.meanAbs).toBeLessThan(5e-6);
    }
  });
});
