// How a task of an srun reads its part from Slurm's environment: the hostlist syntax, its rank,
// the coordinator's node and port, and the GPU Slurm bound to it (issue 13, point 3).

import { describe, expect, it } from 'vitest';
import { expandHostlist } from '../launch/hostlist.js';
import { slurmTask } from '../launch/slurm-env.js';

describe('Slurm hostlists', () => {
  it('expands ranges with their zero padding, lists and several brackets, in order', () => {
    expect(expandHostlist('vm')).toEqual(['vm']);
    expect(expandHostlist('gpu[01-03,07],login1')).toEqual(['gpu01', 'gpu02', 'gpu03', 'gpu07', 'login1']);
    expect(expandHostlist('rack[1-2]-n[8-9]')).toEqual(['rack1-n8', 'rack1-n9', 'rack2-n8', 'rack2-n9']);
    expect(expandHostlist('n[098-101]')).toEqual(['n098', 'n099', 'n100', 'n101']);
  });

  it('refuses what is not a hostlist, saying where', () => {
    expect(() => expandHostlist('')).toThrow(/the hostlist is empty/);
    expect(() => expandHostlist('gpu[1-3')).toThrow(/a '\[' is never closed/);
    expect(() => expandHostlist('gpu[3-1]')).toThrow(/the range 3-1 runs backwards/);
    expect(() => expandHostlist('gpu[a-b]')).toThrow(/"a-b" is not a number or a range N-M/);
    expect(() => expandHostlist('a,,b')).toThrow(/an empty name between commas/);
    expect(() => expandHostlist('gpu]1[')).toThrow(/unbalanced brackets at character 4/);
  });
});

const base = { SLURM_JOB_ID: '1234', SLURM_PROCID: '0', SLURM_NTASKS: '8', SLURM_LOCALID: '0', SLURM_STEP_NODELIST: 'gpu[07-08]', SLURMD_NODENAME: 'gpu07' };

describe('a task of an srun', () => {
  it('task 0 runs the coordinator on the first node, at a port from the job id', () => {
    const task = slurmTask(base);
    expect(task).toMatchObject({ jobId: 1234, procId: 0, tasks: 8, runsCoordinator: true, coordinator: { host: 'gpu07', port: 21234 }, gpu: null, node: 'gpu07' });
    expect(slurmTask({ ...base, SLURM_PROCID: '5' }, { port: 50051, coordinatorHost: 'head' })).toMatchObject({ runsCoordinator: false, coordinator: { host: 'head', port: 50051 } });
    expect(slurmTask({ ...base, SLURM_STEP_NODELIST: undefined, SLURM_JOB_NODELIST: 'a,b' }).coordinator.host).toBe('a');
  });

  it('trains on the GPU Slurm bound to the task, or the LOCALID-th of the node\'s', () => {
    // --gpus-per-task=1: Slurm sets each task's own
    expect(slurmTask({ ...base, CUDA_VISIBLE_DEVICES: '3', SLURM_STEP_GPUS: '3' }).gpu).toEqual({ visible: '3', label: 3 });
    // ConstrainDevices: the task sees its GPU as 0, SLURM_STEP_GPUS has the real index
    expect(slurmTask({ ...base, CUDA_VISIBLE_DEVICES: '0', SLURM_STEP_GPUS: '5' }).gpu).toEqual({ visible: '0', label: 5 });
    // every task sees the node's GPUs: one each by SLURM_LOCALID
    expect(slurmTask({ ...base, SLURM_LOCALID: '2', CUDA_VISIBLE_DEVICES: '0,1,2,3', SLURM_STEP_GPUS: '0,1,2,3' }).gpu).toEqual({ visible: '2', label: 2 });
    expect(slurmTask({ ...base, SLURM_LOCALID: '1', SLURM_JOB_GPUS: '4,6' }).gpu).toEqual({ visible: '6', label: 6 });
    expect(() => slurmTask({ ...base, SLURM_LOCALID: '2', CUDA_VISIBLE_DEVICES: '0,1' })).toThrow(/task 2 on this node has no GPU of its own: Slurm gave this step the GPUs 0,1/);
    expect(slurmTask({ ...base, CUDA_VISIBLE_DEVICES: 'NoDevFiles' }).gpu).toBeNull();
  });

  it('says which variable is missing or wrong', () => {
    expect(() => slurmTask({})).toThrow(/SLURM_JOB_ID \/ SLURM_JOBID is not set: run `emotrain slurm` under srun/);
    expect(() => slurmTask({ ...base, SLURM_NTASKS: 'many' })).toThrow(/SLURM_NTASKS="many" is not an integer ≥ 1/);
    expect(() => slurmTask({ ...base, SLURM_PROCID: '8' })).toThrow(/SLURM_PROCID=8 is not below SLURM_NTASKS=8/);
    expect(() => slurmTask({ ...base, SLURM_STEP_NODELIST: undefined })).toThrow(/cannot tell which node runs the coordinator/);
    expect(() => slurmTask(base, { port: 70000 })).toThrow(/--port 70000 is not a TCP port/);
    expect(slurmTask({ ...base, SLURM_CPUS_PER_TASK: '4(x2)' }).cpusPerTask).toBe(4);
  });
});
