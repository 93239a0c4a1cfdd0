// A real one-node Slurm cluster for the launch test (issue 13, point 3): Debian's slurm-wlm and
// munge, with a munge daemon, slurmctld and slurmd of the test's own (own key, socket, ports,
// state and spool directories under a temp dir, nothing in /etc), and two GPUs made of
// character devices so Slurm's GPU binding (CUDA_VISIBLE_DEVICES, SLURM_STEP_GPUS) runs for real
// while the workers train on the CPU. Every daemon is stopped by pid after the test.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './nats-server.js';
import { sleep, tempDir } from './processes.js';

const BINARIES: Array<[string, string]> = [
  ['/usr/sbin/slurmctld', 'slurm-wlm'], ['/usr/sbin/slurmd', 'slurm-wlm'], ['/usr/bin/sbatch', 'slurm-wlm'], ['/usr/bin/sinfo', 'slurm-wlm'],
  ['/usr/sbin/munged', 'munge'], ['/usr/sbin/mungekey', 'munge'],
];

/** Fails, never skips: without Slurm this acceptance test has not been met. */
export function requireSlurm(): void {
  for (const [binary, pkg] of BINARIES) {
    if (!existsSync(binary)) throw new Error(`${binary} is missing: install Debian's ${pkg} (apt-get install slurm-wlm munge), as .ci/run does`);
  }
  if (process.getuid?.() !== 0) throw new Error('the Slurm test runs its own slurmd, which needs root: run the tests as root, as CI does');
}

export class SlurmCluster {
  readonly dir = tempDir('slurm');
  readonly conf = path.join(this.dir, 'slurm.conf');
  readonly node = os.hostname();
  private readonly daemons: ChildProcess[] = [];
  private mungedPid: number | undefined;

  /** The environment Slurm's commands need to find this cluster. */
  get env(): Record<string, string> {
    return { SLURM_CONF: this.conf };
  }

  async start(gpus = 2): Promise<void> {
    const dir = this.dir;
    for (const sub of ['state', 'spool']) execFileSync('mkdir', ['-p', path.join(dir, sub)]);
    const key = path.join(dir, 'munge.key');
    execFileSync('mungekey', ['-c', '-k', key, '-f']);
    const socket = path.join(dir, 'munge.socket');
    execFileSync('munged', [`--socket=${socket}`, `--key-file=${key}`, `--pid-file=${dir}/munged.pid`, `--log-file=${dir}/munged.log`, `--seed-file=${dir}/munge.seed`, '--force']);
    this.mungedPid = Number(readFileSync(path.join(dir, 'munged.pid'), 'utf8'));
    const devices = Array.from({ length: gpus }, (_, i) => path.join(dir, `gpu${i}`));
    for (const device of devices) execFileSync('mknod', [device, 'c', '1', '3']);
    const [ctldPort, slurmdPort] = [await freePort(), await freePort()];
    writeFileSync(
      this.conf,
      [
        'ClusterName=emotraintest', `SlurmctldHost=${this.node}(127.0.0.1)`, `SlurmctldPort=${ctldPort}`, `SlurmdPort=${slurmdPort}`,
        'AuthType=auth/munge', `AuthInfo=socket=${socket}`, 'CredType=cred/munge', 'SlurmUser=root', 'SlurmdUser=root',
        `StateSaveLocation=${dir}/state`, `SlurmdSpoolDir=${dir}/spool`, `SlurmctldPidFile=${dir}/slurmctld.pid`, `SlurmdPidFile=${dir}/slurmd.pid`,
        `SlurmctldLogFile=${dir}/slurmctld.log`, `SlurmdLogFile=${dir}/slurmd.log`,
        'ProctrackType=proctrack/linuxproc', 'TaskPlugin=task/none', 'SelectType=select/cons_tres', 'SelectTypeParameters=CR_Core',
        'MpiDefault=none', 'SwitchType=switch/none', 'JobAcctGatherType=jobacct_gather/none', 'AccountingStorageType=accounting_storage/none',
        // The node is declared with 4 CPUs on a 2-core machine; config_overrides makes slurmd accept that.
        'ReturnToService=2', 'SlurmdParameters=config_overrides', 'GresTypes=gpu',
        `NodeName=${this.node} NodeAddr=127.0.0.1 CPUs=4 Gres=gpu:${gpus} State=UNKNOWN`,
        'PartitionName=emotrain Nodes=ALL Default=YES MaxTime=INFINITE State=UP',
        '',
      ].join('\n'),
    );
    writeFileSync(path.join(dir, 'gres.conf'), `AutoDetect=off\nNodeName=${this.node} Name=gpu File=${dir}/gpu[0-${gpus - 1}]\n`);
    const env = { ...process.env, ...this.env };
    this.daemons.push(spawn('slurmctld', ['-D', '-f', this.conf], { env, stdio: 'ignore' }));
    this.daemons.push(spawn('slurmd', ['-D', '-f', this.conf, '-N', this.node], { env, stdio: 'ignore' }));
    const deadline = Date.now() + 30_000;
    for (;;) {
      let state = '';
      try {
        state = execFileSync('sinfo', ['-h', '-o', '%T'], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
      } catch {
        // slurmctld not answering yet
      }
      if (state === 'idle') return;
      if (Date.now() > deadline) throw new Error(`the test Slurm cluster did not come up (node state ${JSON.stringify(state)}):\n${this.logs()}`);
      await sleep(250);
    }
  }

  /** Submits a batch job; returns its id. */
  submit(args: string[], options: { cwd: string; env: NodeJS.ProcessEnv }): string {
    return execFileSync('sbatch', ['--parsable', ...args], { cwd: options.cwd, env: { ...options.env, ...this.env }, encoding: 'utf8' }).trim().split(';')[0]!;
  }

  /**
   * Waits for a job to end, polling its state (sbatch --wait polls slowly: it returns half a
   * minute after a short job has ended). Returns its final state and exit code.
   */
  async waitForJob(jobId: string, timeoutMs: number): Promise<{ jobId: string; state: string; exitCode: string }> {
    const env = { ...process.env, ...this.env };
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const info = execFileSync('scontrol', ['show', 'job', '-o', jobId], { env, encoding: 'utf8' });
      const state = /JobState=(\S+)/.exec(info)?.[1] ?? 'UNKNOWN';
      if (!['PENDING', 'CONFIGURING', 'RUNNING', 'COMPLETING', 'UNKNOWN'].includes(state)) {
        return { jobId, state, exitCode: /ExitCode=(\S+)/.exec(info)?.[1] ?? '?' };
      }
      if (Date.now() > deadline) throw new Error(`job ${jobId} still ${state} after ${timeoutMs} ms:\n${this.logs()}`);
      await sleep(250);
    }
  }

  cancel(jobId: string): void {
    execFileSync('scancel', [jobId], { env: { ...process.env, ...this.env } });
  }

  logs(): string {
    return ['slurmctld.log', 'slurmd.log'].map((f) => path.join(this.dir, f)).filter(existsSync).map((f) => `${f}:\n${readFileSync(f, 'utf8').split('\n').slice(-30).join('\n')}`).join('\n');
  }

  stop(): void {
    try {
      execFileSync('scancel', ['--full', '--partition', 'emotrain'], { env: { ...process.env, ...this.env }, stdio: 'ignore', timeout: 5000 });
    } catch {
      // no jobs, or slurmctld already gone
    }
    for (const daemon of this.daemons) if (daemon.exitCode === null) daemon.kill('SIGKILL');
    this.daemons.length = 0;
    if (this.mungedPid !== undefined) {
      try {
        process.kill(this.mungedPid, 'SIGKILL');
      } catch {
        // already gone
      }
      this.mungedPid = undefined;
    }
  }
}
