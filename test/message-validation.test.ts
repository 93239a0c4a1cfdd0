// Every field a worker sends is checked before it is used (SPEC §8, issue 14): NaN timings, a
// negative loss, more correct predictions than samples, a wrong count, a 1 MiB id. A bad message is
// refused naming the worker and the field, nothing of it is recorded, and its sender is lost — the
// run goes on as it does for any lost worker instead of failing.

import { describe, expect, it } from 'vitest';
import { checkChecksumResult, checkEvaluationResult, checkGradientHeaderFields, checkJoin } from '../coordinator/message-checks.js';
import type { DownloadSink } from '../coordinator/step-engine.js';
import { NUM_CLASSES } from '../shared/classes.js';
import { PROTOCOL_VERSION, type EvaluationResult, type JoinRequest } from '../shared/wire/index.js';
import type { GradientHeader__Output } from '../shared/wire/generated/emotrain/v1/GradientHeader.js';
import { eventsOf, finishRun, inProcessRun, WEIGHTS, type FakeWorkerOptions, type InProcessRun } from './helpers/in-process-run.js';

const WHO = 'worker 1 (fake, cpu, pid 1001)';
const ELASTIC = { elastic: true, minWorkers: 1, rejoinTimeoutMs: 1000, admitTimeoutMs: 1000 };
const NO_DOWNLOADS: DownloadSink = { chunk: () => undefined, verdict: (_h, done) => done(), fail: () => undefined, pause: () => undefined, resume: () => undefined };

function header(changes: Partial<GradientHeader__Output> = {}): GradientHeader__Output {
  return {
    runId: 'in-process', workerId: 'w', step: 1, generation: 0, lossScale: 1024, dtype: 'TENSOR_DTYPE_FLOAT16', gradientElements: WEIGHTS, stateElements: 4,
    shardSize: 64, lossSum: 32, correct: 32, regularizationLoss: 0, nonFinite: 0, segmentOffset: 0, segmentElements: 0,
    timings: { dataSeconds: 0.001, computeSeconds: 0.002, exchangeSeconds: 0.003, applySeconds: 0.004, totalSeconds: 0.01 },
    ...changes,
  };
}

function evaluation(changes: Partial<EvaluationResult> = {}): EvaluationResult {
  const confusion = new Array<number>(NUM_CLASSES * NUM_CLASSES).fill(0);
  confusion[0] = 6; // 6 right of class 0
  confusion[1] = 4; // 4 of class 0 taken for class 1
  return { evaluationId: 1, count: 10, correct: 6, confusion, sampleIds: [], probabilities: [], regularizationLoss: 0.01, sampleLosses: new Array<number>(10).fill(0.5), ...changes };
}

function join(changes: Partial<JoinRequest> = {}): JoinRequest {
  return { protocolVersion: PROTOCOL_VERSION, host: 'h', gpu: 0, pid: 7, backend: 'wasm', requestedRank: -1, localData: false, peerAddress: '', ...changes };
}

/** What a run recorded that a bad message must not change: each step's loss and accuracy, the validations, the weights. */
function recorded(run: InProcessRun) {
  return {
    steps: eventsOf(run.events, 'step_completed').map((s) => ({ step: s.step, applied: s.applied, epochLoss: s.epoch_loss, epochAccuracy: s.epoch_accuracy, batch: s.batch, workers: s.workers.map((w) => w.samples) })),
    validations: eventsOf(run.events, 'validation_completed').map((v) => ({ epoch: v.epoch, loss: v.loss, accuracy: v.accuracy, count: v.count })),
    iteration: run.shadow.iteration,
    checksum: run.shadow.checksum(),
  };
}

describe('the checks of a gradient header', () => {
  it.each([
    ['timings.dataSeconds', { timings: { ...header().timings!, dataSeconds: NaN } }, 'NaN; it must be a finite number >= 0 and < 1000000'],
    ['timings.totalSeconds', { timings: { ...header().timings!, totalSeconds: 1e9 } }, '1000000000; it must be a finite number >= 0 and < 1000000'],
    ['timings.applySeconds', { timings: { ...header().timings!, applySeconds: -1 } }, '-1; it must be a finite number >= 0'],
    ['lossSum', { lossSum: NaN }, 'NaN; it must be a finite number >= 0'],
    ['lossSum', { lossSum: -1e30 }, '-1e+30; it must be a finite number >= 0'],
    ['regularizationLoss', { regularizationLoss: Infinity }, 'Infinity; it must be a finite number >= 0'],
    ['lossScale', { lossScale: 0 }, '0; it must be a finite number > 0'],
    ['lossScale', { lossScale: NaN }, 'NaN; it must be a finite number > 0'],
    ['correct', { correct: 65 }, '65; it must be an integer from 0 to 64'],
    ['shardSize', { shardSize: 1.5 }, '1.5; it must be an integer >= 0'],
    ['step', { step: -1 }, '-1; it must be an integer >= 0'],
    ['nonFinite', { nonFinite: NaN }, 'NaN; it must be an integer >= 0'],
    ['segmentOffset', { segmentOffset: -3 }, '-3; it must be an integer >= 0'],
  ] as const)('refuses GradientHeader.%s out of range, naming the worker and the field', (field, changes, expected) => {
    expect(() => checkGradientHeaderFields(header(changes as Partial<GradientHeader__Output>), WHO)).toThrow(`${WHO}: GradientHeader.${field} is ${expected}`);
  });

  it('accepts a header whose every field is in range', () => {
    expect(() => checkGradientHeaderFields(header(), WHO)).not.toThrow();
  });

  it('bounds lossSum by what cross-entropy can give: every sample at -log(1e-7) is accepted, more is not', () => {
    const worst = -Math.log(1e-7); // 16.118...: Keras clips probabilities to [1e-7, 1 - 1e-7]
    expect(() => checkGradientHeaderFields(header({ shardSize: 64, correct: 0, lossSum: 64 * worst }), WHO)).not.toThrow();
    expect(() => checkGradientHeaderFields(header({ shardSize: 64, correct: 0, lossSum: 64 * worst * 1.01 }), WHO)).toThrow(/GradientHeader\.lossSum is 104\d\.\d+; it must be a finite number >= 0 and < 10/);
    expect(() => checkGradientHeaderFields(header({ regularizationLoss: 1e300 }), WHO)).toThrow(/GradientHeader\.regularizationLoss is 1e\+300; it must be a finite number >= 0 and < 3\.4/);
  });
});

describe('the checks of an evaluation report, a checksum and a join', () => {
  const asked = { split: 'val', count: 10, probabilities: false };

  it.each([
    ['count', { count: 11 }, /EvaluationResult\.count is 11; its shard of val has 10 samples/],
    ['correct', { correct: 38 }, /EvaluationResult\.correct is 38; it must be an integer from 0 to 10/],
    ['confusion', { confusion: [...evaluation().confusion.slice(0, 48), -1] }, /EvaluationResult\.confusion\[48\] is -1; it must be an integer from 0 to 10/],
    ['confusion', { confusion: [5, ...evaluation().confusion.slice(1)] }, /EvaluationResult\.confusion counts 9 samples, 5 of them correct; the report says 10, 6 correct/],
    ['regularizationLoss', { regularizationLoss: Infinity }, /EvaluationResult\.regularizationLoss is Infinity; it must be a finite number >= 0/],
    ['sampleLosses', { sampleLosses: [0.5, 0.5, NaN, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5] }, /EvaluationResult\.sampleLosses\[2\] is NaN; it must be a finite number >= 0/],
    ['sampleLosses', { sampleLosses: [0.5] }, /EvaluationResult\.sampleLosses has 1 entries; its shard has 10 samples/],
    ['probabilities', { probabilities: [0.5] }, /EvaluationResult\.probabilities has 1 values and sampleIds 0; none were asked for/],
  ] as const)('refuses EvaluationResult.%s that does not fit the shard asked for', (_field, changes, expected) => {
    expect(() => checkEvaluationResult(evaluation(changes as Partial<EvaluationResult>), asked, WHO)).toThrow(expected);
  });

  it('checks the probabilities when they were asked for: count x 7 values in [0, 1]', () => {
    const withProbabilities = { ...asked, probabilities: true };
    const probabilities = new Array<number>(10 * NUM_CLASSES).fill(1 / NUM_CLASSES);
    const sampleIds = Array.from({ length: 10 }, (_, i) => i);
    expect(() => checkEvaluationResult(evaluation({ probabilities, sampleIds }), withProbabilities, WHO)).not.toThrow();
    probabilities[12] = 1.5;
    expect(() => checkEvaluationResult(evaluation({ probabilities, sampleIds }), withProbabilities, WHO)).toThrow(/probabilities\[12\] is 1.5; it must be a probability, from 0 to 1/);
    expect(() => checkEvaluationResult(evaluation({ probabilities: [], sampleIds }), withProbabilities, WHO)).toThrow(/it must have 70 and 10/);
  });

  it('refuses a checksum that is not a hex sha256, quoting at most 64 characters of it', () => {
    expect(() => checkChecksumResult({ step: 3, requestId: 1, sha256: 'a'.repeat(64) }, WHO)).not.toThrow();
    expect(() => checkChecksumResult({ step: 3, requestId: 1, sha256: 'xyz' }, WHO)).toThrow(`${WHO}'s checksum: ChecksumResult.sha256 is "xyz"; it must be 64 lowercase hex digits`);
    expect(() => checkChecksumResult({ step: 3, requestId: 1, sha256: 'g'.repeat(100_000) }, WHO)).toThrow(/is "g{64}"… \(99936 more characters\)/);
    expect(() => checkChecksumResult({ step: NaN, requestId: 1, sha256: 'a'.repeat(64) }, WHO)).toThrow(/ChecksumResult\.step is NaN/);
  });

  it.each([
    ['host', { host: 'h'.repeat(256) }, 'a string of 256 characters; it must be a string of at most 255 characters'],
    ['backend', { backend: 'b'.repeat(65) }, 'a string of 65 characters; it must be a string of at most 64 characters'],
    ['backend', { backend: 'quantum' }, '"quantum"; it must be one of tfjs-node-gpu, tfjs-node, wasm, cpu'],
    ['gpu', { gpu: 4096 }, '4096; it must be an integer from -1 to 1023'],
    ['gpu', { gpu: -2 }, '-2; it must be an integer from -1 to 1023'],
    ['pid', { pid: -1 }, '-1; it must be an integer from 0 to 4194304'],
    ['pid', { pid: 2 ** 32 - 1 }, '4294967295; it must be an integer from 0 to 4194304'],
    ['requestedRank', { requestedRank: -(2 ** 31) }, '-2147483648; it must be an integer from -1 to 3'],
    ['requestedRank', { requestedRank: 4 }, '4; it must be an integer from -1 to 3'],
    ['peerAddress', { peerAddress: 'p'.repeat(1 << 20) }, 'a string of 1048576 characters; it must be a string of at most 300 characters'],
  ] as const)('refuses a join whose %s is out of range', (field, changes, expected) => {
    expect(() => checkJoin(join(changes), '10.0.0.9:5000', 4)).toThrow(`the join from 10.0.0.9:5000: JoinRequest.${field} is ${expected}`);
  });

  it('accepts a join from a CPU worker that asks for any rank', () => {
    expect(() => checkJoin(join({ gpu: -1, backend: 'cpu' }), 'x', 4)).not.toThrow();
  });
});

describe('a worker that sends an invalid message, in a running world', () => {
  /** Worker 1 misbehaves at step 1 (or dies there); worker 0 goes on alone (--elastic). */
  async function runWithWorkerOne(options: FakeWorkerOptions) {
    const run = await inProcessRun({ workers: 2, epochs: 2, precision: 'fp32', policy: ELASTIC, workerOptions: (rank) => (rank === 1 ? options : {}) });
    const outcome = await finishRun(run);
    return { run, outcome };
  }

  it.each([
    ['timings.dataSeconds', (h: GradientHeader__Output) => ({ ...h, timings: { ...h.timings!, dataSeconds: NaN } }), 'NaN'],
    ['lossSum', (h: GradientHeader__Output) => ({ ...h, lossSum: -1e30 }), '-1e+30'],
    ['regularizationLoss', (h: GradientHeader__Output) => ({ ...h, regularizationLoss: Infinity }), 'Infinity'],
    ['correct', (h: GradientHeader__Output) => ({ ...h, correct: h.shardSize + 1 }), '65'],
    ['shardSize', (h: GradientHeader__Output) => ({ ...h, shardSize: h.shardSize + 1 }), '65'],
  ])('refuses GradientHeader.%s, loses the worker, and records exactly what losing it records', async (field, tamper, value) => {
    const bad = await runWithWorkerOne({ tamperHeader: (h) => (h.step === 1 ? tamper(h) : h) });
    const gone = await runWithWorkerOne({ dieAtStep: 1 });
    expect(bad.outcome).toMatchObject({ status: 'finished', epochsCompleted: 2 });
    // the worker was told why, naming itself and the field
    expect(String(bad.run.workers[1]!.failure)).toContain(`${WHO}: GradientHeader.${field} is ${value}`);
    const left = eventsOf(bad.run.events, 'worker_left');
    expect(left).toEqual([expect.objectContaining({ rank: 1, expected: false, reason: expect.stringContaining(`it sent an invalid message: ${WHO}: GradientHeader.${field}`) })]);
    // nothing of the bad upload counted: the run is the one in which worker 1 simply left at step 1
    expect(recorded(bad.run)).toEqual(recorded(gone.run));
    for (const s of eventsOf(bad.run.events, 'step_completed')) expect(Number.isFinite(s.epoch_loss) && s.epoch_loss >= 0 && s.epoch_accuracy <= 1).toBe(true);
    expect(bad.run.workers[0]!.checksum()).toBe(bad.run.shadow.checksum());
  });

  it('refuses an evaluation with more correct than samples (val_accuracy 3.8), loses the worker and evaluates again without it', async () => {
    const { run, outcome } = await runWithWorkerOne({ tamperEvaluation: (r) => ({ ...r, correct: 76 }) });
    expect(outcome).toMatchObject({ status: 'finished', epochsCompleted: 2 });
    expect(String(run.workers[1]!.failure)).toMatch(/worker 1 \(fake, cpu, pid 1001\)'s evaluation of val: EvaluationResult\.correct is 76; it must be an integer from 0 to 20/);
    expect(eventsOf(run.events, 'worker_left')).toEqual([expect.objectContaining({ rank: 1, reason: expect.stringContaining('EvaluationResult.correct is 76') })]);
    const validations = eventsOf(run.events, 'validation_completed');
    expect(validations.map((v) => v.epoch)).toEqual([1, 2]);
    for (const v of validations) {
      expect(v.count).toBe(40);
      expect(v.accuracy).toBeGreaterThanOrEqual(0);
      expect(v.accuracy).toBeLessThanOrEqual(1);
    }
    expect(run.workers[0]!.checksum()).toBe(run.shadow.checksum());
  });

  it('refuses an evaluation with the wrong count instead of answering it and then failing the run', async () => {
    const { run, outcome } = await runWithWorkerOne({ tamperEvaluation: (r) => ({ ...r, count: r.count + 1 }) });
    expect(outcome.status).toBe('finished');
    expect(String(run.workers[1]!.failure)).toMatch(/EvaluationResult\.count is 21; its shard of val has 20 samples/);
    expect(eventsOf(run.events, 'run_failed')).toEqual([]);
  });

  it('quotes at most 64 characters of an unknown worker id or run id (a 1 MiB id)', async () => {
    const run = await inProcessRun({ workers: 1, epochs: 1 });
    const long = 'x'.repeat(1 << 20);
    const refused = (changes: Partial<GradientHeader__Output>) => {
      try {
        run.session.beginUpload(header(changes), 'test', NO_DOWNLOADS);
      } catch (error) {
        return (error as Error).message;
      }
      throw new Error('the upload was accepted');
    };
    const byId = refused({ workerId: long });
    expect(byId).toContain(`unknown worker id "${'x'.repeat(64)}"… (${(1 << 20) - 64} more characters)`);
    expect(byId.length).toBeLessThan(300);
    const byRun = refused({ runId: long });
    expect(byRun).toContain(`names run "${'x'.repeat(64)}"…`);
    expect(byRun.length).toBeLessThan(300);
    expect(() => run.session.report({ runId: 'in-process', workerId: long, kind: 'checksum', checksum: { step: 0, requestId: 0, sha256: '' } })).toThrow(/unknown worker id "x{64}"…/);
    await finishRun(run);
    expect(run.shadow.iteration).toBe(3);
  });

  it('checks a late evaluation report in itself before dropping it: a bad one expels its sender, a good one is dropped quietly', async () => {
    const run = await inProcessRun({ workers: 1, worldSize: 1, epochs: 1 });
    const member = run.world.ready()[0]!;
    const late = (id: number) => {
      run.replies.expect('evaluation', id, member.rank).catch(() => undefined);
      run.replies.abandonAll(new Error('the world changed'));
    };
    const report = (changes: Partial<EvaluationResult>) => run.session.report({ runId: 'in-process', workerId: member.workerId, kind: 'evaluation', evaluation: evaluation(changes) });
    late(77);
    expect(() => report({ evaluationId: 77 })).not.toThrow();
    expect(run.world.memberCount).toBe(1);
    late(78);
    expect(() => report({ evaluationId: 78, sampleLosses: new Array<number>(10).fill(1e300) })).toThrow(/evaluation of abandoned request 78: EvaluationResult\.sampleLosses\[0\] is 1e\+300; it must be a finite number >= 0 and < 16\.1/);
    expect(run.world.memberCount).toBe(0);
    expect(eventsOf(run.events, 'worker_left')).toEqual([expect.objectContaining({ rank: 0, reason: expect.stringContaining('it sent an invalid message') })]);
    await run.shadow.close();
  });

  it('refuses a join with an out-of-range field before admitting anyone', async () => {
    const run = await inProcessRun({ workers: 1, worldSize: 2, epochs: 1 });
    await expect(run.session.join(join({ requestedRank: -(2 ** 31) }), 'in-process')).rejects.toThrow(/JoinRequest\.requestedRank is -2147483648; it must be an integer from -1 to 1/);
    await expect(run.session.join(join({ host: 'h'.repeat(1 << 20) }), 'in-process')).rejects.toThrow(/JoinRequest\.host is a string of 1048576 characters/);
    expect(run.world.memberCount).toBe(1);
    expect(eventsOf(run.events, 'worker_joined')).toHaveLength(1);
    run.trainer.stopWorkers('the test is over');
    await run.workers[0]!.done;
    await run.shadow.close();
  });
});
