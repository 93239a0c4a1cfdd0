// The worker's life (SPEC §2): join, fetch the model state, then obey the coordinator's commands
// — train a step, evaluate a shard, report a checksum, stop — until the command stream ends.

import os from 'node:os';
import type { BackendChoice } from '../shared/config.js';
import { validateWorkerConfig, type WorkerConfig } from '../shared/config.js';
import { ProtocolError } from '../shared/errors.js';
import { PROTOCOL_VERSION, type Command, type WorkerRef } from '../shared/wire.js';
import { selectBackend } from './backends.js';
import { BatchAssembler } from './batch-assembler.js';
import { CoordinatorClient, clientCredentials, type TlsFiles } from './coordinator-client.js';
import { HeartbeatThread } from './heartbeat.js';
import { Replica } from './replica.js';

export interface WorkerOptions {
  coordinator: string;
  token: string;
  gpu: number;
  backend: BackendChoice;
  requestedRank: number;
  tls?: TlsFiles;
  heartbeatIntervalMs: number;
  connectTimeoutMs: number;
  log: (message: string) => void;
}

export interface WorkerOutcome {
  rank: number;
  stopReason: string;
  steps: number;
}

export async function runWorker(options: WorkerOptions): Promise<WorkerOutcome> {
  const backend = await selectBackend(options.backend);
  const client = new CoordinatorClient(options.coordinator, options.token, clientCredentials(options.tls));
  let heartbeat: HeartbeatThread | undefined;
  try {
    await client.waitForReady(options.connectTimeoutMs);
    const joined = await client.join({
      protocolVersion: PROTOCOL_VERSION,
      host: os.hostname(),
      // The GPU index only means something when the backend really runs on it.
      gpu: backend.device === 'gpu' ? options.gpu : -1,
      pid: process.pid,
      backend: backend.name,
      requestedRank: options.requestedRank,
    });
    const ref: WorkerRef = { runId: joined.runId, workerId: joined.workerId };
    // Ping from the moment we are a member: building a big model and fetching its state takes
    // longer than the coordinator waits for a sign of life.
    heartbeat = new HeartbeatThread({
      address: options.coordinator,
      token: options.token,
      runId: ref.runId,
      workerId: ref.workerId,
      intervalMs: options.heartbeatIntervalMs,
      ...(options.tls ? { tls: options.tls } : {}),
    });
    const config: WorkerConfig = validateWorkerConfig(JSON.parse(joined.configJson) as WorkerConfig);
    const replica = new Replica(config);
    const manifest = await client.fetchState(ref, (m) => replica.stateTargets(m, `coordinator ${options.coordinator}`));
    replica.adoptFetchedState(manifest);
    const assembler = new BatchAssembler(config);
    let steps = 0;
    let lastExchangeSeconds = 0;
    let lastApplySeconds = 0;
    let lastTotalSeconds = 0;
    for await (const command of client.commands(ref) as AsyncIterable<Command>) {
      switch (command.kind) {
        case 'trainStep': {
          const order = command.trainStep;
          const t0 = performance.now();
          const batch = assembler.assemble(order.samples, order.epoch);
          const t1 = performance.now();
          const lossScale = replica.lossScale;
          const stats = replica.computeGradients(batch, order.stepSeed);
          const t2 = performance.now();
          const reduced = await client.exchange(
            {
              ...ref,
              step: order.step,
              lossScale,
              dtype: replica.dtype,
              gradientElements: replica.state.trainable.length,
              stateElements: replica.state.state.length,
              shardSize: batch.count,
              lossSum: stats.lossSum,
              correct: stats.correct,
              regularizationLoss: stats.regularizationLoss,
              timings: {
                dataSeconds: (t1 - t0) / 1000,
                computeSeconds: (t2 - t1) / 1000,
                exchangeSeconds: lastExchangeSeconds,
                applySeconds: lastApplySeconds,
                totalSeconds: lastTotalSeconds,
              },
            },
            replica.uploadPayload(),
            (header) => replica.downloadTargets(header),
          );
          const t3 = performance.now();
          replica.applyReduced(reduced);
          const t4 = performance.now();
          lastExchangeSeconds = (t3 - t2) / 1000;
          lastApplySeconds = (t4 - t3) / 1000;
          lastTotalSeconds = (t4 - t0) / 1000;
          steps++;
          break;
        }
        case 'evaluate': {
          const order = command.evaluate;
          const batch = assembler.assemble(order.samples, undefined);
          const result = replica.evaluate(batch);
          await client.report({
            ...ref,
            kind: 'evaluation',
            evaluation: {
              evaluationId: order.evaluationId,
              count: result.count,
              correct: result.correct,
              confusion: result.confusion,
              sampleIds: order.returnProbabilities ? batch.sampleIds : [],
              probabilities: order.returnProbabilities ? Array.from(result.probabilities) : [],
              regularizationLoss: result.regularizationLoss,
              sampleLosses: Array.from(result.losses),
            },
          });
          break;
        }
        case 'checksum':
          await client.report({ ...ref, kind: 'checksum', checksum: { step: command.checksum.step, sha256: replica.checksum() } });
          break;
        case 'stop':
          return { rank: joined.rank, stopReason: command.stop.reason, steps };
        default:
          throw new ProtocolError('PROTOCOL_INVALID', `unknown command ${JSON.stringify((command as { kind: unknown }).kind)} from the coordinator`);
      }
    }
    throw new ProtocolError('PROTOCOL_INVALID', `the coordinator at ${options.coordinator} ended the command stream without a stop`);
  } finally {
    await heartbeat?.stop();
    client.close();
  }
}
