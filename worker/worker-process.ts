// The worker's life (SPEC §2): join, fetch the model state, then obey the coordinator's commands
// — train a step, evaluate a shard, report a checksum, stop — until the command stream ends.
// Commands are queued as they arrive and a shard's data is prepared in the data threads from the
// moment its command arrives, so the next step's batch is ready when the current step is done.

import os from 'node:os';
import type { BackendChoice } from '../shared/config.js';
import { validateWorkerConfig, type WorkerConfig } from '../shared/config.js';
import { ProtocolError } from '../shared/errors.js';
import { PROTOCOL_VERSION, RpcError, type WorkerRef } from '../shared/wire/index.js';
import { memoryBudgetBytes } from '../shared/backend/memory-fit.js';
import { selectBackend } from '../shared/backend/select-backend.js';
import { BatchAssembler, type Batch } from '../shared/data/batch-assembler.js';
import { CommandQueue } from './command-queue.js';
import { CoordinatorClient, clientCredentials, peerServerCredentials, type TlsFiles } from './coordinator-client.js';
import { DataPool } from '../shared/data/data-pool.js';
import { HeartbeatThread } from './heartbeat.js';
import { PeerServer } from './peer-server.js';
import { Replica } from './replica.js';
import { RingAllReduce } from './ring-allreduce.js';
import { exchangeStep } from './step-exchange.js';
import type { StepTimes } from './progress-reporter.js';

export interface WorkerOptions {
  coordinator: string;
  token: string;
  gpu: number;
  backend: BackendChoice;
  requestedRank: number;
  /** Decode-and-augment threads. */
  dataThreads: number;
  /** This worker's copy of the dataset, read instead of receiving image bytes. */
  dataDir?: string;
  tls?: TlsFiles;
  /** Where the Peer service listens (--allreduce ring), host:port; default: loopback when the coordinator is, else every interface. */
  peerListen?: string;
  /** The address other workers reach the Peer service at, when it is not what the coordinator sees. */
  peerAddress?: string;
  heartbeatIntervalMs: number;
  connectTimeoutMs: number;
  log: (message: string) => void;
  /** Told once the coordinator gave this worker its rank. */
  onJoined?: (rank: number) => void;
  /** Told after every training step (a remote worker's console progress). */
  onStep?: (times: StepTimes) => void;
}

export interface WorkerOutcome {
  rank: number;
  stopReason: string;
  steps: number;
}

/** Whether host:port names this machine's loopback interface. */
function isLoopbackAddress(address: string): boolean {
  return /^(127\.|localhost:|\[::1\]:)/.test(address);
}

/** How long a failing worker tries to tell the coordinator why before it leaves anyway. */
const FAILURE_REPORT_DEADLINE_MS = 2000;

export async function runWorker(options: WorkerOptions): Promise<WorkerOutcome> {
  const backend = await selectBackend(options.backend);
  const client = new CoordinatorClient(options.coordinator, options.token, clientCredentials(options.tls));
  let heartbeat: HeartbeatThread | undefined;
  let pool: DataPool | undefined;
  let commandStream: ReturnType<CoordinatorClient['commands']> | undefined;
  let ref: WorkerRef | undefined;
  // Every worker offers a Peer service: the coordinator says after the join whether the run uses it.
  const peers = new PeerServer(options.token);
  let ring: RingAllReduce | undefined;
  try {
    const listen = options.peerListen ?? (isLoopbackAddress(options.coordinator) ? '127.0.0.1:0' : '0.0.0.0:0');
    const peerPort = await peers.listen(listen, peerServerCredentials(options.tls));
    const peerHost = listen.replace(/:\d+$/, '');
    const peerAddress = options.peerAddress ?? `${peerHost === '0.0.0.0' || peerHost === '[::]' ? '' : peerHost}:${peerPort}`;
    await client.waitForReady(options.connectTimeoutMs);
    const joined = await client.join({
      protocolVersion: PROTOCOL_VERSION,
      host: os.hostname(),
      // The GPU index only means something when the backend really runs on it.
      gpu: backend.device === 'gpu' ? options.gpu : -1,
      pid: process.pid,
      backend: backend.name,
      requestedRank: options.requestedRank,
      localData: options.dataDir !== undefined,
      peerAddress,
    });
    const member: WorkerRef = { runId: joined.runId, workerId: joined.workerId };
    ref = member;
    peers.setRun(joined.runId);
    options.onJoined?.(joined.rank);
    // Ping from the moment we are a member: building a big model and fetching its state takes
    // longer than the coordinator waits for a sign of life.
    heartbeat = new HeartbeatThread({
      address: options.coordinator,
      token: options.token,
      runId: member.runId,
      workerId: member.workerId,
      intervalMs: options.heartbeatIntervalMs,
      ...(options.tls ? { tls: options.tls } : {}),
    });
    const config: WorkerConfig = validateWorkerConfig(JSON.parse(joined.configJson) as WorkerConfig);
    const budgetBytes = memoryBudgetBytes(backend.name);
    const replica = new Replica(config, budgetBytes === undefined ? undefined : { budgetBytes, backend: backend.name });
    const manifest = await client.fetchState(member, (m) => replica.stateTargets(m, `coordinator ${options.coordinator}`));
    replica.adoptFetchedState(manifest);
    const allreduce = config.allreduce ?? 'star';
    if (allreduce === 'ring') ring = new RingAllReduce(peers, options.token, clientCredentials(options.tls));
    const exchange = { client, replica, member, rank: joined.rank, allreduce, ring };
    pool = new DataPool(options.dataThreads);
    const assembler = new BatchAssembler(config, pool, options.dataDir);
    commandStream = client.commands(member);
    // A stop (or the end of the stream) while a ring step waits for its peers ends that step at once.
    const stopRing = (why: string) => ring?.abort(new ProtocolError('RUN_STOPPED', why));
    commandStream.on('end', () => stopRing('the coordinator ended the command stream'));
    commandStream.on('error', () => stopRing('the command stream from the coordinator failed'));
    const commands = new CommandQueue<Batch>(commandStream, (command) => {
      if (command.kind === 'stop') stopRing(`the coordinator stopped the run: ${command.stop.reason}`);
      if (command.kind === 'trainStep') return assembler.assemble(command.trainStep.samples, command.trainStep.epoch);
      if (command.kind === 'evaluate') return assembler.assemble(command.evaluate.samples, undefined);
      return undefined;
    });
    let steps = 0;
    let lastExchangeSeconds = 0;
    let lastApplySeconds = 0;
    let lastTotalSeconds = 0;
    for await (const { command, prepared } of commands) {
      switch (command.kind) {
        case 'trainStep': {
          const order = command.trainStep;
          const t0 = performance.now();
          // Only the wait counts as data time: the preparation itself overlapped earlier steps.
          const batch = await prepared!;
          const t1 = performance.now();
          const lossScale = replica.lossScale;
          const stats = replica.computeGradients(batch, order.stepSeed);
          assembler.release(batch);
          const t2 = performance.now();
          const reduced = await exchangeStep(exchange, order, stats, batch.count, lossScale, {
            dataSeconds: (t1 - t0) / 1000,
            computeSeconds: (t2 - t1) / 1000,
            exchangeSeconds: lastExchangeSeconds,
            applySeconds: lastApplySeconds,
            totalSeconds: lastTotalSeconds,
          });
          const t3 = performance.now();
          replica.applyReduced(reduced);
          const t4 = performance.now();
          lastExchangeSeconds = (t3 - t2) / 1000;
          lastApplySeconds = (t4 - t3) / 1000;
          lastTotalSeconds = (t4 - t0) / 1000;
          steps++;
          options.onStep?.({
            step: order.step, epoch: order.epoch, samples: batch.count,
            dataSeconds: (t1 - t0) / 1000, computeSeconds: (t2 - t1) / 1000, exchangeSeconds: lastExchangeSeconds, applySeconds: lastApplySeconds,
          });
          break;
        }
        case 'evaluate': {
          const order = command.evaluate;
          const batch = await prepared!;
          const result = replica.evaluate(batch);
          assembler.release(batch);
          await client.report({
            ...member,
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
          await client.report({ ...member, kind: 'checksum', checksum: { step: command.checksum.step, sha256: replica.checksum() } });
          break;
        case 'stop':
          return { rank: joined.rank, stopReason: command.stop.reason, steps };
        default:
          throw new ProtocolError('PROTOCOL_INVALID', `unknown command ${JSON.stringify((command as { kind: unknown }).kind)} from the coordinator`);
      }
    }
    throw new ProtocolError('PROTOCOL_INVALID', `the coordinator at ${options.coordinator} ended the command stream without a stop`);
  } catch (error) {
    // Our last word, so the coordinator (and its user) read the cause first, not "the stream ended".
    // Our own failures only: a call the coordinator failed (the run stopped, another worker was
    // lost) it knows about already. Best effort: when the coordinator is unreachable too, the
    // error still reaches our own stderr.
    if (ref && !(error instanceof RpcError)) await client.reportFailure(ref, error, FAILURE_REPORT_DEADLINE_MS).catch(() => undefined);
    throw error;
  } finally {
    // Ends the membership at once when this worker fails: the coordinator sees the stream go.
    commandStream?.cancel();
    await heartbeat?.stop();
    ring?.close();
    await peers.close();
    client.close();
    await pool?.close();
  }
}
