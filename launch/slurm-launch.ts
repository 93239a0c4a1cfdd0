// `emotrain slurm -- [coordinator flags]`: what each task of one `srun` line runs (issue 13,
// point 3; deploy/slurm/emotrain.sbatch). Task 0 starts the coordinator — listening on every
// address of its node, waiting for SLURM_NTASKS workers — and its own worker; every other task
// starts one worker that joins the coordinator on the step's first node. Each worker trains on
// the GPU Slurm bound to its task. The processes' output goes where Slurm sends the task's.

import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { LaunchError } from '../shared/errors.js';
import type { SlurmTask } from './slurm-env.js';

const COORDINATOR_MAIN = fileURLToPath(new URL('../coordinator/main.js', import.meta.url));
const WORKER_MAIN = fileURLToPath(new URL('../worker/main.js', import.meta.url));

/** Flags the launcher sets from Slurm's environment; given by hand they would contradict it. */
const LAUNCHER_FLAGS = ['--gpus', '--workers', '--listen', '--advertise'];

export interface SlurmLaunchOptions {
  task: SlurmTask;
  /** Flags for the coordinator (task 0), after `--`. */
  coordinatorArgs: string[];
  /** Flags for every worker (--backend, --data-dir, ...). */
  workerArgs: string[];
  log: (line: string) => void;
}

function checkCoordinatorArgs(args: string[]): void {
  for (const arg of args) {
    const flag = arg.split('=')[0]!;
    if (LAUNCHER_FLAGS.includes(flag)) {
      throw new LaunchError('LAUNCH_INVALID', `emotrain slurm sets ${LAUNCHER_FLAGS.join(', ')} itself from the Slurm allocation (one worker per task); leave ${flag} out`);
    }
  }
}

function exitOf(child: ChildProcess): Promise<number> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode);
    else child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 + 15 : 1)));
  });
}

export async function runSlurmTask(options: SlurmLaunchOptions): Promise<number> {
  const { task } = options;
  checkCoordinatorArgs(options.coordinatorArgs);
  if (!process.env['EMOTRAIN_TOKEN']) {
    throw new LaunchError('LAUNCH_INVALID', 'EMOTRAIN_TOKEN is not set: export it in the job script (deploy/slurm/emotrain.sbatch makes one) so every task shares it');
  }
  const address = `${task.coordinator.host}:${task.coordinator.port}`;
  const device = task.gpu ? `GPU ${task.gpu.label} (CUDA_VISIBLE_DEVICES=${task.gpu.visible})` : 'the CPU (Slurm assigned no GPU)';
  options.log(`slurm job ${task.jobId}, task ${task.procId} of ${task.tasks} on ${task.node}: ${task.runsCoordinator ? `the coordinator at ${address} and ` : ''}a worker on ${device}`);

  const children: ChildProcess[] = [];
  const forward = (signal: NodeJS.Signals) => {
    for (const child of children) if (child.exitCode === null) child.kill(signal);
  };
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  try {
    let coordinator: ChildProcess | undefined;
    if (task.runsCoordinator) {
      coordinator = spawn(
        process.execPath,
        [COORDINATOR_MAIN, ...options.coordinatorArgs, '--gpus', '0', '--workers', String(task.tasks), '--listen', `0.0.0.0:${task.coordinator.port}`, '--advertise', address],
        { stdio: ['ignore', 'inherit', 'inherit'] },
      );
      children.push(coordinator);
    }
    const env: NodeJS.ProcessEnv = { ...process.env };
    if (task.gpu) env['CUDA_VISIBLE_DEVICES'] = task.gpu.visible;
    delete env['EMOTRAIN_MANAGED'];
    const worker = spawn(
      process.execPath,
      [
        WORKER_MAIN, '--coordinator', address, '--rank', String(task.procId), '--gpu', String(task.gpu?.label ?? -1),
        // The coordinator may spend minutes reading and checking the dataset before it listens.
        '--connect-timeout', '900',
        ...(task.cpusPerTask !== undefined && !options.workerArgs.includes('--data-threads') ? ['--data-threads', String(task.cpusPerTask)] : []),
        ...options.workerArgs,
      ],
      { stdio: ['ignore', 'inherit', 'inherit'], env },
    );
    children.push(worker);
    if (!coordinator) return await exitOf(worker);
    const coordinatorCode = await exitOf(coordinator);
    // A coordinator that failed before its workers joined would leave ours waiting for it.
    if (coordinatorCode !== 0) setTimeout(() => forward('SIGTERM'), 5000).unref();
    await exitOf(worker);
    return coordinatorCode;
  } finally {
    process.off('SIGINT', forward);
    process.off('SIGTERM', forward);
  }
}
