#!/usr/bin/env node
// `worker`: one training process per GPU (SPEC §2, §4). Started by a coordinator for its local
// GPUs, or by hand on another host: worker --coordinator host:50051 --token $T --gpu 0, or
// worker --nats nats://host:4222 --token $T [--run ID] to find the coordinator through NATS.
// With --data-dir it reads samples from its own copy of the dataset (checked against the
// coordinator's sha256 of every file) instead of receiving them over the network.

import { readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { BACKEND_CHOICES, type BackendChoice } from '../shared/config.js';
import { ConfigError } from '../shared/errors.js';
import { runMain, tokenFrom, withConfigFile } from '../shared/cli.js';
import { counted } from '../shared/wording.js';
import { natsSettingsFrom, withNatsFlags } from '../shared/control/nats-settings.js';
import { discoverCoordinator } from './nats-discovery.js';
import { WorkerProgress } from './progress-reporter.js';
import { runWorker } from './worker-process.js';

// --config FILE (YAML or JSON); a usage mistake is said in one line (withConfigFile).
const commandLine = withConfigFile(withNatsFlags(yargs(hideBin(process.argv)), "find the coordinator's address on this NATS server instead of --coordinator"))
  .scriptName('worker')
  .usage('$0 --coordinator HOST:PORT | --nats URL [--run ID]  [--token T] [--gpu N]\n\nJoin a coordinator and train on one GPU (or the CPU).')
  .option('coordinator', { type: 'string', describe: 'coordinator address host:port' })
  .option('run', { type: 'string', group: 'NATS control plane:', describe: 'with --nats: the run to join (default: the only run that wants workers)' })
  .option('token', { type: 'string', describe: 'shared run token (default: $EMOTRAIN_TOKEN)' })
  .option('gpu', { type: 'number', default: -1, describe: 'GPU index on this host (sets CUDA_VISIBLE_DEVICES); -1 for the CPU' })
  .option('backend', { choices: BACKEND_CHOICES, default: 'auto' as BackendChoice, describe: 'compute backend; auto picks the fastest installed' })
  .option('rank', { type: 'number', default: -1, describe: 'rank to ask for (-1: any free rank)' })
  .option('data-dir', { type: 'string', describe: "this host's copy of the run's dataset: read samples from it (each file checked against the coordinator's sha256) instead of receiving them" })
  .option('data-threads', {
    type: 'number',
    describe: 'threads that decode and augment images (default: the CPU count; a coordinator gives its local workers their share)',
  })
  .option('tls-ca', { type: 'string', describe: 'CA certificate to verify the coordinator (enables TLS)' })
  .option('tls-cert', { type: 'string', describe: 'client certificate (mutual TLS)' })
  .option('tls-key', { type: 'string', describe: 'client key (mutual TLS)' })
  .option('peer-listen', { type: 'string', describe: 'where the Peer service listens for --allreduce ring, host:port (default: loopback when the coordinator is, else 0.0.0.0:0)' })
  .option('peer-address', { type: 'string', describe: 'the host:port other workers reach this one at (behind NAT, a forwarded port); default: what the coordinator sees' })
  .option('connect-timeout', { type: 'number', default: 30, describe: 'seconds to wait for the coordinator (with --nats: to find it, then to reach it)' })
  .option('reconnect-timeout', {
    type: 'number',
    describe: 'seconds to keep trying to join again when the coordinator goes away (restarted with --resume) or lets this worker go; 0: leave at once (default: 300; 0 for a worker a coordinator started)',
  })
  .strict()
  .help();

function readTls(flag: string, file: string | undefined): Buffer | undefined {
  if (file === undefined) return undefined;
  try {
    return readFileSync(file);
  } catch (cause) {
    throw new ConfigError('CONFIG_INVALID', `--${flag} ${file}: cannot read it (${(cause as Error).message})`, { cause });
  }
}

function isDirectory(dir: string): boolean {
  try {
    return statSync(dir).isDirectory();
  } catch {
    return false;
  }
}

// A worker started by a local coordinator leaves Ctrl-C (and a SIGTERM sent to the whole process
// group, as `timeout` or a batch scheduler does) to it: the coordinator finishes the step, sends
// the stop, and reaps us. A worker started by hand leaves on either.
// It also leaves when that coordinator dies: its stdin is a pipe from the coordinator, which
// closes when the coordinator's process ends however it ended (SIGKILL included).
const managed = process.env['EMOTRAIN_MANAGED'] === '1';
if (managed) {
  process.on('SIGINT', () => undefined);
  process.on('SIGTERM', () => undefined);
  if (!process.stdin.isTTY) {
    process.stdin.on('end', () => {
      process.stderr.write('worker: the coordinator that started this worker is gone; leaving\n');
      process.exit(1);
    });
    process.stdin.on('error', () => undefined);
    process.stdin.resume();
    // Reading stdin must not keep a finished worker alive.
    (process.stdin as unknown as { unref?: () => void }).unref?.();
  }
}

runMain('worker', async () => {
  const argv = commandLine.parseSync();
  const token = tokenFrom(argv.token);
  if (token === undefined) throw new ConfigError('CONFIG_INVALID', 'no token: give --token or set EMOTRAIN_TOKEN');
  if (argv.gpu >= 0 && process.env['CUDA_VISIBLE_DEVICES'] === undefined) process.env['CUDA_VISIBLE_DEVICES'] = String(argv.gpu);
  const ca = readTls('tls-ca', argv['tls-ca']);
  const cert = readTls('tls-cert', argv['tls-cert']);
  const key = readTls('tls-key', argv['tls-key']);
  const dataThreads = argv['data-threads'] ?? os.availableParallelism();
  if (!Number.isInteger(dataThreads) || dataThreads < 1 || dataThreads > 256) {
    throw new ConfigError('CONFIG_INVALID', `--data-threads must be an integer in [1, 256], got ${dataThreads}`);
  }
  const nats = natsSettingsFrom(argv);
  if (nats && argv.coordinator !== undefined) throw new ConfigError('CONFIG_INVALID', 'give --coordinator HOST:PORT or --nats URL, not both');
  if (!nats && argv.coordinator === undefined) throw new ConfigError('CONFIG_INVALID', 'say where the coordinator is: --coordinator HOST:PORT, or --nats URL to find it');
  if (!nats && argv.run !== undefined) throw new ConfigError('CONFIG_INVALID', '--run chooses a run on NATS: it needs --nats URL');
  const reconnectTimeout = argv['reconnect-timeout'] ?? (managed ? 0 : 300);
  if (!Number.isFinite(reconnectTimeout) || reconnectTimeout < 0) throw new ConfigError('CONFIG_INVALID', `--reconnect-timeout must be a number of seconds >= 0, got ${reconnectTimeout}`);
  const log = (message: string) => process.stderr.write(`${message}\n`);
  const dataDir = argv['data-dir'] === undefined ? undefined : path.resolve(argv['data-dir']);
  if (dataDir !== undefined && !isDirectory(dataDir)) throw new ConfigError('CONFIG_INVALID', `--data-dir ${dataDir} is not a directory`);
  let coordinator = argv.coordinator!;
  if (nats) {
    const found = await discoverCoordinator({ settings: nats, runId: argv.run, tls: Boolean(ca || cert || key), timeoutMs: argv['connect-timeout'] * 1000, log });
    coordinator = found.address;
    log(`found run ${found.run.run_id} on NATS: joining its coordinator at ${coordinator}`);
  }
  // A worker started by hand shows its progress; a local coordinator's console already does.
  let rank = -1;
  const progress = managed ? undefined : new WorkerProgress(() => rank, log);
  const outcome = await runWorker({
    coordinator,
    token,
    gpu: argv.gpu,
    backend: argv.backend,
    requestedRank: argv.rank,
    dataThreads,
    ...(dataDir !== undefined ? { dataDir } : {}),
    ...(ca || cert || key ? { tls: { ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}) } } : {}),
    ...(argv['peer-listen'] !== undefined ? { peerListen: argv['peer-listen'] } : {}),
    ...(argv['peer-address'] !== undefined ? { peerAddress: argv['peer-address'] } : {}),
    heartbeatIntervalMs: 1000,
    connectTimeoutMs: argv['connect-timeout'] * 1000,
    reconnectTimeoutMs: reconnectTimeout * 1000,
    log,
    ...(progress
      ? {
          onJoined: (joinedRank: number) => {
            rank = joinedRank;
            log(`worker ${rank}: joined the coordinator at ${coordinator}`);
          },
          onStep: (times) => progress.step(times),
        }
      : {}),
  });
  if (!managed) process.stderr.write(`worker ${outcome.rank}: stopped after ${counted(outcome.steps, 'step')} (${outcome.stopReason})\n`);
  return 0;
});
