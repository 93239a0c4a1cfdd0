// Issue 13, acceptance c: on a real one-node Slurm cluster (test/helpers/slurm-cluster.ts), one
// `sbatch deploy/slurm/emotrain.sbatch` starts, through one srun line, the coordinator and one
// worker per task, each on the GPU Slurm bound to it, and the run finishes; `scancel` stops a run
// as Ctrl-C would, although it signals the coordinator and every worker at once.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EMOTRAIN, ROOT, TEST_CACHE, cleanUp, isAlive, readEvents, tempDir, waitForEvents, workerPids } from './helpers/processes.js';
import { SlurmCluster, requireSlurm } from './helpers/slurm-cluster.js';

let cluster: SlurmCluster | undefined;

const jobEnv = () => ({ ...process.env, EMOTRAIN: `${process.execPath} ${EMOTRAIN}`, EMOTRAIN_CACHE: TEST_CACHE });
const tinyRun = (runs: string, runId: string, epochs: number) => [
  '--epochs', String(epochs), '--steps-per-epoch', '3', '--dataset', 'synthetic', '--synthetic-count', '700', '--model', 'small-cnn',
  '--image-size', '16', '--runs', runs, '--run-id', runId, '--progress', 'lines', '--metrics-port', '0',
];

beforeAll(requireSlurm);
afterEach(() => {
  cluster?.stop();
  cluster = undefined;
  cleanUp();
});

describe('launching on Slurm', () => {
  it('starts the coordinator and a worker per GPU from one sbatch, and the run finishes', async () => {
    cluster = new SlurmCluster();
    await cluster.start(2);
    const runs = tempDir('slurm-runs');
    const runId = `slurm-${process.pid}`;
    const output = path.join(cluster.dir, 'job.out');
    const jobId = cluster.submit(
      [
        '--nodes=1', '--ntasks-per-node=2', '--gpus-per-task=1', '--cpus-per-task=1', `--output=${output}`,
        path.join(ROOT, 'deploy', 'slurm', 'emotrain.sbatch'), ...tinyRun(runs, runId, 2),
      ],
      { cwd: ROOT, env: jobEnv() },
    );
    const job = await cluster.waitForJob(jobId, 90_000);
    const log = readFileSync(output, 'utf8');
    expect(job, `${log}\n${cluster.logs()}`).toMatchObject({ state: 'COMPLETED', exitCode: '0:0' });

    // each task read its place and its GPU from Slurm's environment
    expect(log).toMatch(new RegExp(`slurm job ${job.jobId}, task 0 of 2 on ${cluster.node}: the coordinator at ${cluster.node}:\\d+ and a worker on GPU 0 \\(CUDA_VISIBLE_DEVICES=0\\)`));
    expect(log).toMatch(new RegExp(`slurm job ${job.jobId}, task 1 of 2 on ${cluster.node}: a worker on GPU 1 \\(CUDA_VISIBLE_DEVICES=1\\)`));
    expect(log).toMatch(/worker [01]: step 0 \(epoch 1\), 1 steps done/);
    expect(log).toMatch(/finished 2 epochs/);

    const events = readEvents(path.join(runs, runId));
    expect(events.filter((e) => e.event === 'worker_joined').map((e) => e['rank']).sort()).toEqual([0, 1]);
    expect(events.filter((e) => e.event === 'epoch_end')).toHaveLength(2);
    expect(events.at(-1)!.event).toBe('run_finished');
    // listening on every address of the node without TLS: said once
    expect(events.filter((e) => e.event === 'warning' && e['code'] === 'TOKEN_IN_CLEAR')).toHaveLength(1);
  });

  it('stops the run cleanly when the job is cancelled (scancel signals every task at once)', async () => {
    cluster = new SlurmCluster();
    await cluster.start(2);
    const runs = tempDir('slurm-cancel-runs');
    const runDir = path.join(runs, 'cancelled');
    const output = path.join(cluster.dir, 'job.out');
    const jobId = cluster.submit(
      ['--nodes=1', '--ntasks-per-node=2', '--gpus-per-task=1', '--cpus-per-task=1', `--output=${output}`, path.join(ROOT, 'deploy', 'slurm', 'emotrain.sbatch'), ...tinyRun(runs, 'cancelled', 500)],
      { cwd: ROOT, env: jobEnv() },
    );
    await waitForEvents(runDir, (events) => events.filter((e) => e.event === 'epoch_end').length >= 2, 60_000);
    cluster.cancel(jobId);
    const job = await cluster.waitForJob(jobId, 60_000);
    expect(job.state).toBe('CANCELLED');
    const events = await waitForEvents(runDir, (all) => ['run_stopped', 'run_failed'].includes(all.at(-1)!.event), 10_000);
    expect(events.at(-1), readFileSync(output, 'utf8')).toMatchObject({ event: 'run_stopped' });
    // the checkpoint of the last whole epoch is there to resume from, and nothing of the job runs on
    expect(events.some((e) => e.event === 'checkpoint_saved' && e['kind'] === 'last')).toBe(true);
    for (const pid of workerPids(events).values()) expect(isAlive(pid), `worker pid ${pid}`).toBe(false);
  });
});
