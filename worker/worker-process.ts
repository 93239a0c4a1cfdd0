// The worker's life (SPEC §2): join, fetch the model state, then obey the coordinator's commands
// — train a step, evaluate a shard, report a checksum, stop — until the command stream ends.
// Commands are queued as they arrive and a shard's data is prepared in the data threads from the
// moment its command arrives, so the next step's batch is ready when the current step is done.
//
// A world change (SPEC §8) reaches a worker as an Abandon command: the steps of older generations
// are void, so queued ones are dropped, the one in progress is undone (its BatchNorm statistics put
// back) and the coordinator plans them again. When the coordinator goes away (killed, restarted
// with --resume) or expels this worker, the session ends and the worker joins again — asking for
// its old rank, keeping its built model when the run's configuration is the same — until the stop
// or the --reconnect-timeout.

import os from 'node:os';
import type { BackendChoice } from '../shared/config.js';
import { validateWorkerConfig, type WorkerConfig } from '../shared/config.js';
import { ConfigError, EmotrainError, ProtocolError, describeError } from '../shared/errors.js';
import { PROTOCOL_VERSION, RpcError, type WorkerRef } from '../shared/wire/index.js';
import { rpcError } from '../shared/wire/status.js';
import { memoryBudgetBytes } from '../shared/backend/memory-fit.js';
import { selectBackend } from '../shared/backend/select-backend.js';
import { BatchAssembler, type Batch } from '../shared/data/batch-assembler.js';
import { CommandQueue } from './command-queue.js';
import { CoordinatorClient, type TlsFiles } from './coordinator-client.js';
import { DataPool } from '../shared/data/data-pool.js';
import { HeartbeatThread } from './heartbeat.js';
import { PeerServer } from './peer-server.js';
import { Replica } from './replica.js';
import { RingAllReduce } from './ring-allreduce.js';
import { RingFailure, exchangeStep, type StepExchangeContext } from './step-exchange.js';
import type { Command, TrainStep } from '../shared/wire/index.js';
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
  /**
   * How long to keep trying to join again once the coordinator went away or expelled this worker;
   * 0: leave at once (a local worker the coordinator started is restarted by it instead).
   */
  reconnectTimeoutMs: number;
  log: (message: string) => void;
  /** Told every time the coordinator gave this worker its rank (again, after a rejoin). */
  onJoined?: (rank: number) => void;
  /** Told after every training step (a remote worker's console progress). */
  onStep?: (times: StepTimes) => void;
}

export interface WorkerOutcome {
  rank: number;
  stopReason: string;
  steps: number;
  /** How often this worker joined the run (1 when it never had to join again). */
  sessions: number;
}

/** Whether host:port names this machine's loopback interface. */
function isLoopbackAddress(address: string): boolean {
  return /^(127\.|localhost:|\[::1\]:)/.test(address);
}

/** How long a failing worker tries to tell the coordinator why before it leaves anyway. */
const FAILURE_REPORT_DEADLINE_MS = 2000;
/** Pauses between attempts to join again: doubling from the first, up to the last. */
const REJOIN_BACKOFF_MS = [250, 500, 1000, 2000, 4000];

/** The session ended without a stop, in a way that joining again can mend. */
class SessionEnded extends EmotrainError {
  constructor(message: string) {
    super('WORKER_EXPELLED', message);
  }
}

/** The stream's error as an error with our code (grpc-js hands a ServiceError). */
function asCoded(error: unknown): unknown {
  if (error instanceof EmotrainError || !(error instanceof Error)) return error;
  return typeof (error as { code?: unknown }).code === 'number' ? rpcError('the command stream from the coordinator', error) : error;
}

/** Whether joining again can mend `error`: the coordinator went away, or let this worker go. */
function canRejoin(error: unknown): boolean {
  const code = (asCoded(error) as { code?: unknown }).code;
  return code === 'RPC_UNAVAILABLE' || code === 'RPC_CANCELLED' || code === 'WORKER_EXPELLED' || code === 'WORLD_FULL' || code === 'WORKER_LOST';
}

/** What outlives a session: the built model and the data path, while the run's configuration stays the same. */
interface Kept {
  configJson: string;
  replica: Replica;
  assembler: BatchAssembler;
}

export async function runWorker(options: WorkerOptions): Promise<WorkerOutcome> {
  const backend = await selectBackend(options.backend);
  // Every worker offers a Peer service: the coordinator says after the join whether the run uses it.
  const peers = new PeerServer(options.token);
  let pool: DataPool | undefined;
  const totals = { steps: 0, sessions: 0 };
  let rank = options.requestedRank;
  let kept: Kept | undefined;
  /** When the coordinator was last seen going away (while trying to join again). */
  let lostAt: number | undefined;
  try {
    const listen = options.peerListen ?? (isLoopbackAddress(options.coordinator) ? '127.0.0.1:0' : '0.0.0.0:0');
    const peerPort = await peers.listen(listen, options.tls);
    const peerHost = listen.replace(/:\d+$/, '');
    const peerAddress = options.peerAddress ?? `${peerHost === '0.0.0.0' || peerHost === '[::]' ? '' : peerHost}:${peerPort}`;
    for (let attempt = 0; ; attempt++) {
      const client = new CoordinatorClient(options.coordinator, options.token, options.tls);
      try {
        const waitMs = lostAt === undefined ? options.connectTimeoutMs : Math.max(1000, lostAt + options.reconnectTimeoutMs - Date.now());
        await client.waitForReady(waitMs);
        const outcome = await runSession(options, {
          client,
          backend,
          peers,
          peerAddress,
          rank,
          kept,
          pool: () => (pool ??= new DataPool(options.dataThreads)),
          onJoined: (joinedRank) => {
            rank = joinedRank;
            lostAt = undefined;
            attempt = 0;
            totals.sessions++;
          },
          onKeep: (next) => (kept = next),
          onStep: () => totals.steps++,
        });
        return { rank, stopReason: outcome, steps: totals.steps, sessions: totals.sessions };
      } catch (error) {
        // Before the first join, --connect-timeout bounds the wait (a wrong address fails with it).
        if (totals.sessions === 0 || options.reconnectTimeoutMs <= 0 || !canRejoin(error)) throw asCoded(error);
        lostAt ??= Date.now();
        const waited = Date.now() - lostAt;
        if (waited >= options.reconnectTimeoutMs) {
          throw new RpcError('RPC_UNAVAILABLE', `gave up joining the coordinator at ${options.coordinator} again after ${Math.round(waited / 1000)} s (--reconnect-timeout): ${describeError(asCoded(error))}`, 14, { cause: error });
        }
        const pause = REJOIN_BACKOFF_MS[Math.min(attempt, REJOIN_BACKOFF_MS.length - 1)]!;
        options.log(`left the run (${describeError(asCoded(error))}); joining the coordinator at ${options.coordinator} again as rank ${rank} (giving up after ${Math.round(options.reconnectTimeoutMs / 1000)} s)`);
        await new Promise((resolve) => setTimeout(resolve, pause));
      } finally {
        client.close();
      }
    }
  } finally {
    await peers.close();
    await pool?.close();
  }
}

interface SessionContext {
  client: CoordinatorClient;
  backend: Awaited<ReturnType<typeof selectBackend>>;
  peers: PeerServer;
  peerAddress: string;
  /** The rank to ask for: the one this worker had before, on a rejoin. */
  rank: number;
  kept: Kept | undefined;
  pool: () => DataPool;
  onJoined: (rank: number) => void;
  onKeep: (kept: Kept) => void;
  onStep: () => void;
}

/** One membership: join, fetch the state, obey commands; resolves with the stop's reason. */
async function runSession(options: WorkerOptions, session: SessionContext): Promise<string> {
  const { client, backend, peers } = session;
  let heartbeat: HeartbeatThread | undefined;
  let commandStream: ReturnType<CoordinatorClient['commands']> | undefined;
  let ref: WorkerRef | undefined;
  let ring: RingAllReduce | undefined;
  try {
    const joined = await client.join({
      protocolVersion: PROTOCOL_VERSION,
      host: os.hostname(),
      // The GPU index only means something when the backend really runs on it.
      gpu: backend.device === 'gpu' ? options.gpu : -1,
      pid: process.pid,
      backend: backend.name,
      requestedRank: session.rank,
      localData: options.dataDir !== undefined,
      peerAddress: session.peerAddress,
    });
    const member: WorkerRef = { runId: joined.runId, workerId: joined.workerId };
    ref = member;
    session.onJoined(joined.rank);
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
    let kept = session.kept;
    if (kept?.configJson !== joined.configJson) {
      kept?.replica.model.dispose();
      const config: WorkerConfig = validateWorkerConfig(JSON.parse(joined.configJson) as WorkerConfig);
      requirePeerCertificate(config, options.tls);
      const budgetBytes = memoryBudgetBytes(backend.name);
      const replica = new Replica(config, budgetBytes === undefined ? undefined : { budgetBytes, backend: backend.name });
      kept = { configJson: joined.configJson, replica, assembler: new BatchAssembler(config, session.pool(), options.dataDir) };
      session.onKeep(kept);
    }
    const { replica, assembler } = kept;
    const config = replica.config;
    // Before the first await: a faster predecessor's ring stream may come at any moment now.
    peers.setRun(joined.runId, config.streamIdleTimeoutMs);
    const manifest = await client.fetchState(member, (m) => replica.stateTargets(m, `coordinator ${options.coordinator}`));
    replica.adoptFetchedState(manifest);
    const allreduce = config.allreduce ?? 'star';
    if (allreduce === 'ring') ring = new RingAllReduce(peers, options.token, options.tls);
    const exchange: StepExchangeContext = { client, replica, member, rank: joined.rank, allreduce, ring };
    commandStream = client.commands(member);
    // A stop (or the end of the stream) while a ring step waits for its peers ends that step at once.
    const stopRing = (why: string) => ring?.abort(new ProtocolError('RUN_STOPPED', why));
    commandStream.on('end', () => stopRing('the coordinator ended the command stream'));
    commandStream.on('error', () => stopRing('the command stream from the coordinator failed'));
    /** Steps planned in an older world generation than this are void. */
    let generation = 0;
    const isVoid = (command: Command) => command.kind === 'trainStep' && command.trainStep.generation < generation;
    const release = (prepared: Promise<Batch> | undefined) => void prepared?.then((batch) => assembler.release(batch), () => undefined);
    const commands: CommandQueue<Batch> = new CommandQueue<Batch>(commandStream, (command) => {
      if (command.kind === 'stop') stopRing(`the coordinator stopped the run: ${command.stop.reason}`);
      if (command.kind === 'abandon' && command.abandon.generation > generation) {
        generation = command.abandon.generation;
        for (const dropped of commands.drop(isVoid)) release(dropped.prepared);
        peers.advanceGeneration(generation);
        ring?.abort(new ProtocolError('STEP_ABANDONED', `the world changed: ${command.abandon.reason}`));
      }
      if (command.kind === 'trainStep') return assembler.assemble(command.trainStep.samples, command.trainStep.epoch);
      if (command.kind === 'evaluate') return assembler.assemble(command.evaluate.samples, undefined);
      return undefined;
    });
    let lastExchangeSeconds = 0;
    let lastApplySeconds = 0;
    let lastTotalSeconds = 0;
    for await (const { command, prepared } of commands) {
      switch (command.kind) {
        case 'trainStep': {
          const order = command.trainStep;
          if (order.generation < generation) {
            release(prepared);
            break;
          }
          const t0 = performance.now();
          // Only the wait counts as data time: the preparation itself overlapped earlier steps.
          const batch = await prepared!;
          const t1 = performance.now();
          const lossScale = replica.lossScale;
          replica.beginStep();
          const stats = replica.computeGradients(batch, order.stepSeed);
          assembler.release(batch);
          const t2 = performance.now();
          if (order.generation < generation) {
            replica.abandonStep();
            break;
          }
          let reduced;
          try {
            reduced = await exchangeStep(exchange, order, stats, batch.count, lossScale, {
              dataSeconds: (t1 - t0) / 1000,
              computeSeconds: (t2 - t1) / 1000,
              exchangeSeconds: lastExchangeSeconds,
              applySeconds: lastApplySeconds,
              totalSeconds: lastTotalSeconds,
            });
          } catch (error) {
            if (!(await stepWasAbandoned(error, { client, member, order, generation: () => generation }))) throw error;
            replica.abandonStep();
            break;
          }
          const t3 = performance.now();
          replica.applyReduced(reduced);
          const t4 = performance.now();
          lastExchangeSeconds = (t3 - t2) / 1000;
          lastApplySeconds = (t4 - t3) / 1000;
          lastTotalSeconds = (t4 - t0) / 1000;
          session.onStep();
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
          await client.report({ ...member, kind: 'checksum', checksum: { step: command.checksum.step, requestId: command.checksum.requestId, sha256: replica.checksum() } });
          break;
        case 'abandon':
          break; // acted on when it arrived
        case 'stop':
          return command.stop.reason;
        default:
          throw new ProtocolError('PROTOCOL_INVALID', `unknown command ${JSON.stringify((command as { kind: unknown }).kind)} from the coordinator`);
      }
    }
    throw new SessionEnded(`the coordinator at ${options.coordinator} ended the command stream without a stop`);
  } catch (error) {
    // Our last word, so the coordinator (and its user) read the cause first, not "the stream ended".
    // Our own failures only: a call the coordinator failed (the run stopped, another worker was
    // lost) it knows about already. Best effort: when the coordinator is unreachable too, the
    // error still reaches our own stderr.
    const coded = asCoded(error);
    if (ref && !(coded instanceof RpcError) && !(coded instanceof SessionEnded)) await client.reportFailure(ref, coded, FAILURE_REPORT_DEADLINE_MS).catch(() => undefined);
    throw coded;
  } finally {
    // Ends the membership at once when this worker fails: the coordinator sees the stream go.
    commandStream?.cancel();
    await heartbeat?.stop();
    ring?.close();
  }
}

/**
 * Whether the exchange of `order` failed because the step will not be decided — the coordinator
 * abandoned it, or the ring broke and the coordinator then abandoned it. A ring that broke after
 * the coordinator decided the step leaves this replica without the whole result: the session ends
 * so that the worker joins again and fetches the state.
 */
async function stepWasAbandoned(
  error: unknown,
  context: { client: CoordinatorClient; member: WorkerRef; order: TrainStep; generation: () => number },
): Promise<boolean> {
  const code = (error as { code?: unknown }).code;
  if (code === 'STEP_ABANDONED') return true;
  if (!(error instanceof RingFailure)) return false;
  const cause = error.failure as { code?: unknown };
  if (cause.code === 'RUN_STOPPED') throw error.failure;
  const { order } = context;
  if (cause.code !== 'STEP_ABANDONED' && context.generation() === order.generation) {
    // Tell the coordinator, which abandons the step unless a lost member explains it first.
    await context.client
      .report({ ...context.member, kind: 'stepFailure', stepFailure: { step: order.step, generation: order.generation, message: describeError(error.failure) } })
      .catch(() => undefined);
  }
  if (!error.verdict) return true;
  try {
    await error.verdict;
  } catch (verdictError) {
    if ((verdictError as { code?: unknown }).code === 'STEP_ABANDONED') return true;
    throw verdictError;
  }
  throw new SessionEnded(`step ${order.step} was decided while this worker's ring was broken (${describeError(error.failure)}): joining again to fetch the state`);
}

/**
 * A ring run over TLS: peers reach this worker's peer port with TLS and verify it with the run's
 * CA, so the worker must serve it with a certificate of its own. Without one it would serve
 * plaintext that no peer can talk to, and every step would fail at its first hop.
 */
function requirePeerCertificate(config: WorkerConfig, tls: TlsFiles | undefined): void {
  if (config.allreduce !== 'ring' || !tls || (tls.cert && tls.key)) return;
  throw new ConfigError(
    'CONFIG_INVALID',
    'this run reduces peer to peer over TLS (--allreduce ring): start the worker with --tls-cert and --tls-key as well, a certificate signed by the run\'s CA for the address its peers reach it at, so that it can serve its peer port; or run the coordinator with --allreduce star',
  );
}
