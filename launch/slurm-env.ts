// What one task of an `srun` is to do, read from the environment Slurm gives it (issue 13,
// point 3): task 0 runs the coordinator and a worker, every other task a worker; the world is
// SLURM_NTASKS workers; the coordinator is on the first node of the step; each worker trains on
// the GPU Slurm assigned to its task. Pure, so every combination is tested without Slurm.

import { LaunchError } from '../shared/errors.js';
import { expandHostlist } from './hostlist.js';

export interface SlurmTask {
  jobId: number;
  /** SLURM_PROCID: this task's rank among all tasks, and the worker rank it asks for. */
  procId: number;
  /** SLURM_LOCALID: its index among the tasks on this node. */
  localId: number;
  tasks: number;
  /** SLURM_NODEID / SLURMD_NODENAME, for messages. */
  node: string;
  coordinator: { host: string; port: number };
  /** Task 0 also runs the coordinator. */
  runsCoordinator: boolean;
  /** The GPU to train on: `visible` is this worker's CUDA_VISIBLE_DEVICES, `label` the index named in metrics; null: the CPU. */
  gpu: { visible: string; label: number } | null;
  /** SLURM_CPUS_PER_TASK, when the job asked for it: the worker's data threads. */
  cpusPerTask: number | undefined;
}

type Env = Record<string, string | undefined>;

function integer(env: Env, names: string[], min: number, required: boolean): number | undefined {
  for (const name of names) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    // SLURM_CPUS_PER_TASK and friends may read `4(x2)`; the first number is this task's.
    const match = /^(\d+)/.exec(value);
    if (!match || Number(match[1]) < min) throw new LaunchError('LAUNCH_INVALID', `${name}=${JSON.stringify(value)} is not an integer ≥ ${min}`);
    return Number(match[1]);
  }
  if (required) throw new LaunchError('LAUNCH_INVALID', `${names.join(' / ')} is not set: run \`emotrain slurm\` under srun (inside sbatch or salloc), one task per GPU`);
  return undefined;
}

function list(value: string | undefined): string[] {
  if (value === undefined) return [];
  return value.split(',').map((v) => v.trim()).filter((v) => v !== '' && v !== 'NoDevFiles');
}

/** The GPU of this task: its own when Slurm bound one to it, else the LOCALID-th of the node's. */
function gpuOf(env: Env, localId: number): SlurmTask['gpu'] {
  const visible = list(env['CUDA_VISIBLE_DEVICES']);
  const assigned = list(env['SLURM_STEP_GPUS'] ?? env['SLURM_JOB_GPUS']);
  const devices = visible.length > 0 ? visible : assigned;
  if (devices.length === 0) return null;
  const index = devices.length === 1 ? 0 : localId;
  if (index >= devices.length) {
    throw new LaunchError(
      'LAUNCH_INVALID',
      `task ${localId} on this node has no GPU of its own: Slurm gave this step the GPUs ${devices.join(',')} for more tasks than that; ask for one task per GPU (--ntasks-per-node = GPUs per node, or --gpus-per-task=1)`,
    );
  }
  const chosen = devices[index]!;
  // Under ConstrainDevices every task sees its GPU as 0; SLURM_STEP_GPUS keeps the real index.
  const label = Number(assigned.length === devices.length ? assigned[index] : chosen);
  if (!/^\d+$/.test(chosen) && !/^GPU-/.test(chosen)) throw new LaunchError('LAUNCH_INVALID', `CUDA_VISIBLE_DEVICES entry ${JSON.stringify(chosen)} is neither an index nor a GPU UUID`);
  return { visible: chosen, label: Number.isInteger(label) ? label : index };
}

/** `port`: the coordinator's gRPC port; by default one derived from the job id, the same in every task. */
export function slurmTask(env: Env, options: { port?: number; coordinatorHost?: string } = {}): SlurmTask {
  const jobId = integer(env, ['SLURM_JOB_ID', 'SLURM_JOBID'], 0, true)!;
  const procId = integer(env, ['SLURM_PROCID'], 0, true)!;
  const tasks = integer(env, ['SLURM_NTASKS', 'SLURM_NPROCS'], 1, true)!;
  const localId = integer(env, ['SLURM_LOCALID'], 0, false) ?? 0;
  if (procId >= tasks) throw new LaunchError('LAUNCH_INVALID', `SLURM_PROCID=${procId} is not below SLURM_NTASKS=${tasks}`);
  const nodelist = env['SLURM_STEP_NODELIST'] ?? env['SLURM_JOB_NODELIST'] ?? env['SLURM_NODELIST'];
  let host = options.coordinatorHost;
  if (host === undefined) {
    if (nodelist === undefined) throw new LaunchError('LAUNCH_INVALID', 'SLURM_STEP_NODELIST / SLURM_JOB_NODELIST / SLURM_NODELIST is not set: cannot tell which node runs the coordinator');
    // srun's default (block) distribution puts task 0 on the step's first node.
    host = expandHostlist(nodelist)[0]!;
  }
  const port = options.port ?? 20_000 + (jobId % 40_000);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new LaunchError('LAUNCH_INVALID', `--port ${port} is not a TCP port`);
  return {
    jobId,
    procId,
    localId,
    tasks,
    node: env['SLURMD_NODENAME'] ?? env['SLURM_TOPOLOGY_ADDR'] ?? `node ${env['SLURM_NODEID'] ?? '?'}`,
    coordinator: { host, port },
    runsCoordinator: procId === 0,
    gpu: gpuOf(env, localId),
    cpusPerTask: integer(env, ['SLURM_CPUS_PER_TASK'], 1, false),
  };
}
