// The run engine in-process (issue 8): the real trainer, step engine, protocol session and
// callbacks against fake workers and a flat-array model — no processes, no tfjs, milliseconds each.

import { describe, expect, it } from 'vitest';
import { ProtocolError, TrainingError } from '../shared/errors.js';
import type { DownloadSink } from '../coordinator/step-engine.js';
import { FakeWorker, eventsOf, finishRun, inProcessRun, WEIGHTS } from './helpers/in-process-run.js';

const NO_DOWNLOADS: DownloadSink = { chunk: () => undefined, verdict: (_h, done) => done(), fail: () => undefined, pause: () => undefined, resume: () => undefined };

describe('the run engine, in process', () => {
  it('runs synchronous steps with two members and keeps every replica identical to the shadow', async () => {
    const run = await inProcessRun({ workers: 2, epochs: 2 });
    const outcome = await finishRun(run);
    expect(outcome).toMatchObject({ status: 'finished', epochsCompleted: 2, earlyStopped: false });
    // 300 training samples in global batches of 128: 3 steps an epoch, the last one partial
    const steps = eventsOf(run.events, 'step_completed');
    expect(steps.map((s) => s.step)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(steps.map((s) => s.batch)).toEqual([128, 128, 44, 128, 128, 44]);
    expect(steps[0]!.workers.map((w) => w.samples)).toEqual([64, 64]);
    expect(steps[2]!.workers.map((w) => w.samples)).toEqual([22, 22]);
    expect(run.shadow.iteration).toBe(6);
    for (const worker of run.workers) {
      expect(worker.checksum()).toBe(run.shadow.checksum());
      expect(worker.optimizer.iteration).toBe(6);
    }
    expect(eventsOf(run.events, 'replicas_verified').map((e) => e.step)).toEqual([3, 6]);
    const ends = eventsOf(run.events, 'epoch_end');
    expect(ends.map((e) => e.samples_per_worker)).toEqual([[150, 150], [150, 150]]);
    // the weights moved towards the samples' mean: training happened
    expect(Math.abs(run.shadow.weights[0]! - 0.5)).toBeGreaterThan(0.01);
  });

  it('gives the same update with one member as with two (the gradient of the global batch mean)', async () => {
    const one = await inProcessRun({ workers: 1, epochs: 1, precision: 'fp32' });
    const two = await inProcessRun({ workers: 2, epochs: 1, precision: 'fp32' });
    const three = await inProcessRun({ workers: 3, epochs: 1, precision: 'fp32' });
    await Promise.all([finishRun(one), finishRun(two), finishRun(three)]);
    for (let i = 0; i < WEIGHTS; i++) {
      expect(two.shadow.weights[i]).toBeCloseTo(one.shadow.weights[i]!, 6);
      expect(three.shadow.weights[i]).toBeCloseTo(one.shadow.weights[i]!, 6);
    }
    // shards of 128 over 3 differ by at most one
    expect(eventsOf(three.events, 'step_completed')[0]!.workers.map((w) => w.samples)).toEqual([43, 43, 42]);
  });

  it('skips the step on every replica and halves the scale when a member sends an overflow', async () => {
    const run = await inProcessRun({ workers: 2, epochs: 1, initialLossScale: 1024, workerOptions: (rank) => (rank === 1 ? { overflowAt: [1] } : {}) });
    const outcome = await finishRun(run);
    expect(outcome.status).toBe('finished');
    const skipped = eventsOf(run.events, 'step_skipped');
    expect(skipped).toHaveLength(1);
    expect(skipped[0]).toMatchObject({ step: 1, loss_scale_before: 1024, loss_scale_after: 512, skipped_total: 1 });
    expect(skipped[0]!.reason).toMatch(/worker 1 sent 1 non-finite/);
    expect(eventsOf(run.events, 'step_completed').map((s) => s.applied)).toEqual([true, false, true]);
    expect(eventsOf(run.events, 'epoch_end')[0]).toMatchObject({ skipped_steps: 1, loss_scale: 512 });
    expect(run.shadow.iteration).toBe(2);
    for (const worker of run.workers) {
      expect(worker.stepsApplied).toBe(2);
      expect(worker.checksum()).toBe(run.shadow.checksum());
    }
  });

  it('says so when no update was ever applied, and flags an epoch with more than half its steps skipped', async () => {
    const run = await inProcessRun({ workers: 2, epochs: 2, workerOptions: (rank) => (rank === 0 ? { overflowAt: [0, 1, 2, 3, 4, 5] } : {}) });
    await finishRun(run);
    expect(run.shadow.iteration).toBe(0);
    const warnings = eventsOf(run.events, 'warning');
    expect(warnings.map((w) => w.code)).toEqual(['STEPS_MOSTLY_SKIPPED', 'STEPS_MOSTLY_SKIPPED', 'NO_UPDATE_APPLIED']);
    expect(warnings[0]!.message).toMatch(/epoch 1: 3 of 3 steps were skipped/);
    expect(warnings[2]!.message).toMatch(/no update was applied: all 6 steps were skipped .* loss scale now 16\b/);
    // half is not more than half: one skip in two steps is not flagged
    const half = await inProcessRun({ workers: 1, epochs: 1, trainSize: 256, workerOptions: () => ({ overflowAt: [0] }) });
    await finishRun(half);
    expect(eventsOf(half.events, 'warning')).toEqual([]);
  });

  it('restarts a step whose upload broke off after reduction began, and the others upload it again', async () => {
    // 24 weights in fp16 are 48 bytes: chunks of 40 bytes, so the first chunk is reduced before the second arrives
    const reference = await inProcessRun({ workers: 2, epochs: 1 });
    await finishRun(reference);
    const run = await inProcessRun({ workers: 2, epochs: 1, workerOptions: (rank) => (rank === 1 ? { breakUpload: { step: 1, afterChunks: 1 } } : {}) });
    await finishRun(run);
    expect(run.workers[0]!.restarts).toBe(1);
    expect(run.workers[1]!.restarts).toBe(0);
    // nothing of the broken upload was applied: the same weights as a run without the break
    expect(run.shadow.checksum()).toBe(reference.shadow.checksum());
    for (const worker of run.workers) expect(worker.checksum()).toBe(run.shadow.checksum());
  });

  it('lets a member send again when its upload broke off before anything was reduced', async () => {
    const run = await inProcessRun({ workers: 2, epochs: 1, workerOptions: (rank) => (rank === 1 ? { breakUpload: { step: 0, afterChunks: 0 } } : {}) });
    await finishRun(run);
    expect(run.workers.map((w) => w.restarts)).toEqual([0, 0]);
    expect(run.shadow.iteration).toBe(3);
  });

  it('reduces the learning rate when val_loss reaches a plateau (patience 2, factor 0.5)', async () => {
    const run = await inProcessRun({ workers: 2, epochs: 5, validation: { loss: () => 1, accuracy: () => 0.5 } });
    await finishRun(run);
    // epoch 1 improves on Infinity; epochs 2 and 3 do not: the LR halves after epoch 3
    expect(eventsOf(run.events, 'lr_reduced').map((e) => [e.epoch, e.from, e.to])).toEqual([
      [3, Math.fround(1e-2), Math.fround(5e-3)],
      [5, Math.fround(5e-3), Math.fround(2.5e-3)],
    ]);
    expect(eventsOf(run.events, 'epoch_end').map((e) => e.lr)).toEqual([1e-2, 1e-2, 1e-2, 5e-3, 5e-3].map(Math.fround));
    // the steps of epoch 4 were applied with the reduced rate
    expect(eventsOf(run.events, 'step_completed').filter((s) => s.epoch === 4).every((s) => s.learning_rate === Math.fround(5e-3))).toBe(true);
    const last = run.checkpoints.saved.filter((c) => c.kind === 'last').at(-1)!;
    expect(last.state!.plateau.learningRate).toBe(Math.fround(2.5e-3));
  });

  it('keeps the best checkpoint by val_accuracy (strictly better) and the last one after every epoch', async () => {
    const accuracies = [0.5, 0.7, 0.6, 0.7, 0.8];
    const run = await inProcessRun({ workers: 2, epochs: 5, validation: { loss: (e) => 1 / e, accuracy: (e) => accuracies[e - 1]! } });
    const outcome = await finishRun(run);
    const best = run.checkpoints.saved.filter((c) => c.kind === 'best');
    expect(best.map((c) => c.meta.epoch)).toEqual([1, 2, 5]);
    expect(best.map((c) => c.meta.valAccuracy)).toEqual([0.5, 0.7, 0.8]);
    expect(run.checkpoints.saved.filter((c) => c.kind === 'last').map((c) => c.state!.epochsCompleted)).toEqual([1, 2, 3, 4, 5]);
    expect(eventsOf(run.events, 'checkpoint_saved').filter((e) => e.kind === 'best').map((e) => e.previous_best)).toEqual([null, 0.5, 0.7]);
    expect(outcome.bestValAccuracy).toBe(0.8);
    // the state a resumed run starts from
    expect(run.checkpoints.saved.at(-1)!.state).toMatchObject({ step: 15, optimizerIteration: 15, bestValAccuracy: 0.8, trainableElements: WEIGHTS });
  });

  it('stops early with Keras semantics and ends with the best epoch weights (restore_best_weights)', async () => {
    const losses = [1, 0.5, 0.6, 0.7, 0.8, 0.9];
    const run = await inProcessRun({
      workers: 2,
      epochs: 6,
      validation: { loss: (e) => losses[e - 1]!, accuracy: () => 0.5 },
      earlyStopping: { monitor: 'val_loss', patience: 2, restoreBestWeights: true },
    });
    const outcome = await finishRun(run);
    // best at epoch 2; epochs 3 and 4 do not improve: stop after epoch 4
    expect(outcome).toMatchObject({ status: 'finished', epochsCompleted: 4, earlyStopped: true });
    expect(eventsOf(run.events, 'early_stopped')).toEqual([{ event: 'early_stopped', epoch: 4, monitor: 'val_loss', best: 0.5, best_epoch: 2, patience: 2 }]);
    expect(eventsOf(run.events, 'weights_restored')[0]).toMatchObject({ from_epoch: 2 });
    const lasts = run.checkpoints.saved.filter((c) => c.kind === 'last');
    const afterEpoch2 = lasts.find((c) => c.meta.epoch === 2 && c.state!.epochsCompleted === 2)!;
    const final = lasts.at(-1)!;
    expect(Array.from(final.weights)).toEqual(Array.from(afterEpoch2.weights));
    expect(Array.from(run.shadow.weights)).toEqual(Array.from(afterEpoch2.weights));
    expect(final.state!.earlyStopping).toMatchObject({ stoppedEpoch: 3, bestEpoch: 1, best: 0.5 });
    expect(eventsOf(run.events, 'checkpoint_saved').at(-1)).toMatchObject({ kind: 'last', restored_from_epoch: 2 });
  });

  it('stops at a step boundary when asked, leaving the checkpoints of the last whole epoch', async () => {
    let run: Awaited<ReturnType<typeof inProcessRun>> | undefined;
    run = await inProcessRun({ workers: 2, epochs: 3, workerOptions: (rank) => (rank === 0 ? { afterStep: (step) => step === 4 && run!.trainer.requestStop('test') } : {}) });
    const outcome = await finishRun(run);
    expect(outcome).toMatchObject({ status: 'stopped', epochsCompleted: 1 });
    // the command of step 5 may have gone out before the request; no step after it
    expect(eventsOf(run.events, 'step_completed').at(-1)!.step).toBeLessThanOrEqual(5);
    expect(eventsOf(run.events, 'epoch_end')).toHaveLength(1);
    expect(run.checkpoints.saved.filter((c) => c.kind === 'last').map((c) => c.state!.epochsCompleted)).toEqual([1]);
  });

  it('without --elastic, waits for a replacement and fails after the rejoin timeout, naming the free rank', async () => {
    const run = await inProcessRun({
      workers: 2, epochs: 2, workerOptions: (rank) => (rank === 1 ? { dieAtStep: 2 } : {}),
      policy: { elastic: false, minWorkers: 1, rejoinTimeoutMs: 300, admitTimeoutMs: 1000 },
    });
    await run.trainer.waitForWorld(1000);
    await expect(run.trainer.train()).rejects.toThrow(/no worker took rank 1 within 0 s \(--rejoin-timeout\); the run cannot go on without all 2 workers/);
    expect(eventsOf(run.events, 'worker_left')).toEqual([expect.objectContaining({ rank: 1, expected: false, workers: 1 })]);
    expect(eventsOf(run.events, 'step_abandoned')).toEqual([expect.objectContaining({ steps: [2], generation: 1 })]);
    expect(eventsOf(run.events, 'waiting_for_workers')).toEqual([expect.objectContaining({ step: 2, workers: 1, needed: 2, free_ranks: [1], elastic: false })]);
    expect(eventsOf(run.events, 'epoch_end')).toHaveLength(0);
    run.trainer.stopWorkers('the test is over');
    // the surviving member's upload of step 2 was abandoned, never applied
    await run.workers[0]!.done;
    expect(run.workers[0]!.stepsApplied).toBe(2);
    expect(run.workers[0]!.stepsAbandoned).toBe(1);
    expect(run.shadow.iteration).toBe(2);
  });

  it('with --elastic, abandons the step in flight on every replica and goes on with the others, replicas still equal to the shadow', async () => {
    const run = await inProcessRun({
      workers: 3, epochs: 2, workerOptions: (rank) => (rank === 1 ? { dieAtStep: 2 } : {}),
      policy: { elastic: true, minWorkers: 1, rejoinTimeoutMs: 1000, admitTimeoutMs: 1000 },
    });
    const outcome = await finishRun(run);
    expect(outcome).toMatchObject({ status: 'finished', epochsCompleted: 2 });
    expect(eventsOf(run.events, 'epoch_end').map((e) => e.epoch)).toEqual([1, 2]);
    expect(eventsOf(run.events, 'world_changed')).toEqual([expect.objectContaining({ step: 2, from: 3, to: 2, ranks: [0, 2] })]);
    const abandoned = eventsOf(run.events, 'step_abandoned');
    expect(abandoned).toHaveLength(1);
    expect(abandoned[0]!.steps[0]).toBe(2);
    // every step of both epochs applied once: none lost, none applied twice
    const steps = eventsOf(run.events, 'step_completed').map((e) => e.step);
    expect(steps).toEqual(Array.from({ length: steps.length }, (_, i) => i));
    expect(run.shadow.iteration).toBe(steps.length);
    for (const rank of [0, 2]) {
      expect(run.workers[rank]!.checksum()).toBe(run.shadow.checksum());
      expect(run.workers[rank]!.stepsApplied).toBe(steps.length);
    }
  });

  it('admits a worker that joins a running world at a step boundary: it fetches the state there and the world grows', async () => {
    let run: Awaited<ReturnType<typeof inProcessRun>> | undefined;
    let joiner: FakeWorker | undefined;
    run = await inProcessRun({
      workers: 2, worldSize: 3, epochs: 2,
      policy: { elastic: true, minWorkers: 1, rejoinTimeoutMs: 1000, admitTimeoutMs: 5000 },
      workerOptions: (rank) => (rank === 0 ? {
        afterStep: (step) => {
          if (step !== 1 || joiner) return;
          joiner = new FakeWorker(run!.session, 'fp16', { loss: (epoch) => 1 / epoch, accuracy: () => 0.5 });
          run!.workers.push(joiner);
          void joiner.start(-1);
        },
      } : {}),
    });
    const outcome = await finishRun(run);
    expect(outcome.status).toBe('finished');
    const grew = eventsOf(run.events, 'world_changed');
    expect(grew).toEqual([expect.objectContaining({ from: 2, to: 3 })]);
    const steps = eventsOf(run.events, 'step_completed').map((e) => e.step);
    expect(steps).toEqual(Array.from({ length: steps.length }, (_, i) => i));
    expect(joiner!.stepsApplied).toBe(steps.length - grew[0]!.step);
    for (const worker of run.workers) expect(worker.checksum()).toBe(run.shadow.checksum());
  });

  it('ends as stopped, not hung, when a member leaves while a stop is pending (scancel signals every task at once)', async () => {
    let run: Awaited<ReturnType<typeof inProcessRun>> | undefined;
    run = await inProcessRun({
      workers: 2, epochs: 3,
      workerOptions: (rank) => (rank === 0 ? { afterStep: (step) => step === 1 && run!.trainer.requestStop('SIGTERM received') } : { dieAtStep: 2 }),
    });
    await run.trainer.waitForWorld(1000);
    await expect(run.trainer.train()).rejects.toMatchObject({
      code: 'RUN_STOPPED',
      message: expect.stringMatching(/^stopped at step 2 \(SIGTERM received\); worker 1 \(fake, cpu, pid 1001\) left before the step finished: its command stream was cancelled/),
    });
    expect(eventsOf(run.events, 'worker_left')).toEqual([expect.objectContaining({ rank: 1, expected: true })]);
    run.trainer.stopWorkers('the test is over');
    await run.workers[0]!.done;
  });

  it('ends with the run\'s own failure when a send breaks after it (a second SIGTERM while a worker leaves mid-send)', async () => {
    // The trainer reads rank 0's samples of step 2, then sends; the second signal and rank 1's
    // loss land in between, so sending to rank 1 finds no command stream. The run ended for the
    // signal, not for the world change that followed it.
    let reads = 0;
    let run: Awaited<ReturnType<typeof inProcessRun>> | undefined;
    run = await inProcessRun({
      workers: 2, epochs: 3,
      beforeSamples: (recipient) => {
        if (++reads !== 5 || recipient.rank !== 0) return;
        run!.trainer.requestStop('SIGTERM received');
        run!.trainer.fail(new TrainingError('RUN_STOPPED', 'stopped at once by a second SIGTERM'));
        run!.world.lose(run!.world.byRank(1)!, 'its command stream was cancelled');
      },
    });
    await run.trainer.waitForWorld(1000);
    await expect(run.trainer.train()).rejects.toMatchObject({ code: 'RUN_STOPPED', message: 'stopped at once by a second SIGTERM' });
    expect(reads).toBeGreaterThanOrEqual(5);
    run.trainer.stopWorkers('the test is over');
  });

  it('refuses an upload for a step that is not open, from a worker that did not join, or for another run', async () => {
    const run = await inProcessRun({ workers: 1, epochs: 1 });
    await run.trainer.waitForWorld(1000);
    const member = run.world.list()[0]!;
    const header = {
      runId: 'in-process', workerId: member.workerId, step: 7, generation: 0, lossScale: 1024, dtype: 'TENSOR_DTYPE_FLOAT16' as const, gradientElements: WEIGHTS,
      stateElements: 4, shardSize: 128, lossSum: 1, correct: 0, regularizationLoss: 0, timings: { dataSeconds: 0, computeSeconds: 0, exchangeSeconds: 0, applySeconds: 0, totalSeconds: 0 }, nonFinite: 0, segmentOffset: 0, segmentElements: 0,
    };
    expect(() => run.session.beginUpload(header, 'test', NO_DOWNLOADS)).toThrow(ProtocolError);
    expect(() => run.session.beginUpload(header, 'test', NO_DOWNLOADS)).toThrow(/uploaded gradients for step 7, but the current step is not open for uploads/);
    expect(() => run.session.beginUpload({ ...header, workerId: 'stranger' }, 'test', NO_DOWNLOADS)).toThrow(/unknown worker id "stranger"/);
    expect(() => run.session.beginUpload({ ...header, runId: 'other' }, 'test', NO_DOWNLOADS)).toThrow(/names run "other"/);
    await finishRun(run);
    expect(run.shadow.iteration).toBe(3);
  });
});
