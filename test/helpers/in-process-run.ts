// The coordinator's engine in one process, no tfjs, no sockets: the real World, StepEngine,
// ProtocolSession, Trainer, callbacks and RunEvents, with fakes for what they take as interfaces
// (engine-ports.ts) — a flat-array shadow model, a checkpoint writer that keeps what it was given,
// a sample source — and fake workers that speak to the protocol session as gRPC would.
//
// The fake model: weights w (n values) and "BatchNorm" state s (m values). Sample `id` is the
// vector x(id); its loss is ½|w - x(id)|², so a shard's mean-loss gradient is w - mean(x). A fake
// worker uploads S times that (S: the loss scale) and its shard's mean of x as the state, exactly
// as a real replica uploads its loss-scaled gradients and BatchNorm statistics.

import { AdamOptimizer } from '../../shared/adam.js';
import { encodeFp16 } from '../../shared/fp16/codec.js';
import { LossScaler } from '../../shared/loss-scaler.js';
import { bytesOf, chunkPayload, PROTOCOL_VERSION, type Command, type EvaluationResult, type ReducedHeader, type Sample } from '../../shared/wire/index.js';
import type { GradientHeader__Output } from '../../shared/wire/generated/emotrain/v1/GradientHeader.js';
import type { DownloadSink } from '../../coordinator/step-engine.js';
import type { CheckpointMeta, TrainingState } from '../../coordinator/checkpoint-store.js';
import { EarlyStopping, type EarlyStoppingOptions } from '../../coordinator/callbacks/early-stopping.js';
import { ModelCheckpoint } from '../../coordinator/callbacks/model-checkpoint.js';
import { ReduceLROnPlateau } from '../../coordinator/callbacks/reduce-lr-on-plateau.js';
import type { Clock } from '../../coordinator/clock.js';
import type { CheckpointWriter, SampleSource } from '../../coordinator/engine-ports.js';
import { FlatShadow, sha256Of } from '../../bench/exchange/flat-shadow.js';
import { PendingReplies } from '../../coordinator/pending-replies.js';
import { ProtocolSession } from '../../coordinator/protocol-session.js';
import { RunEvents, type RunEvent } from '../../coordinator/run-events.js';
import { StepEngine } from '../../coordinator/step-engine.js';
import { Trainer } from '../../coordinator/trainer.js';
import type { WorldPolicy } from '../../coordinator/world-keeper.js';
import { World, type CommandSink, type Member } from '../../coordinator/world.js';
import type { PlateauConfig, Precision } from '../../shared/config.js';
import { NUM_CLASSES } from '../../shared/classes.js';

export const WEIGHTS = 24;
export const STATE = 4;

/** The sample vector of sample `id`: values in [-0.75, 0.75], exactly representable. */
export function sampleVector(id: number): Float32Array {
  const x = new Float32Array(WEIGHTS);
  for (let i = 0; i < WEIGHTS; i++) x[i] = (((id * 31 + i * 17) % 13) - 6) / 8;
  return x;
}

/** A clock that moves 10 ms every time it is read, so every duration is positive and repeatable. */
export class SteppingClock implements Clock {
  private t = 1_700_000_000_000;
  now(): number {
    this.t += 10;
    return this.t;
  }
}

/** The fake model of these tests: WEIGHTS weights and STATE statistics, starting at 0.5. */
export class TestShadow extends FlatShadow {
  constructor() {
    super(WEIGHTS, STATE);
    this.weights.fill(0.5);
  }
}

export interface SavedCheckpoint {
  kind: 'best' | 'last';
  meta: CheckpointMeta;
  state?: TrainingState;
  weights: Float32Array;
}

export class KeptCheckpoints implements CheckpointWriter {
  readonly saved: SavedCheckpoint[] = [];
  constructor(private readonly shadow: TestShadow) {}
  async saveBest(meta: CheckpointMeta): Promise<void> {
    this.saved.push({ kind: 'best', meta, weights: this.shadow.weights.slice() });
  }
  async saveLast(meta: CheckpointMeta, state: TrainingState): Promise<void> {
    this.saved.push({ kind: 'last', meta, state, weights: this.shadow.weights.slice() });
  }
}

class LabelledSamples implements SampleSource {
  constructor(private readonly before?: (recipient: Member) => void) {}
  async samplesFor(recipient: Member, ids: readonly number[]): Promise<Sample[]> {
    this.before?.(recipient);
    return ids.map((id) => ({ id, label: id % NUM_CLASSES, image: Buffer.alloc(0), path: '', sha256: '' }));
  }
  forgetWorker(): void {}
}

/** What a fake worker reports for the evaluation of epoch `epoch` (1-based): its per-sample loss and whether a sample is right. */
export interface ValidationScript {
  loss(epoch: number): number;
  accuracy(epoch: number): number;
}

export interface FakeWorkerOptions {
  /** Uploads Infinity in its gradients at these steps. */
  overflowAt?: number[];
  /** Disappears (its command stream closes) when it receives the command of this step. */
  dieAtStep?: number;
  /** Calls this after applying each step's result. */
  afterStep?: (step: number) => void;
  /** Breaks off its upload of this step once, after this many chunks, and then uploads it again. */
  breakUpload?: { step: number; afterChunks: number };
  /** Changes its gradient header before it uploads (a worker that sends bad fields). */
  tamperHeader?: (header: GradientHeader__Output) => GradientHeader__Output;
  /** Changes its evaluation report before it sends it. */
  tamperEvaluation?: (result: EvaluationResult) => EvaluationResult;
}

export class FakeWorker {
  readonly weights = new Float32Array(WEIGHTS);
  readonly state = new Float32Array(STATE);
  readonly optimizer = new AdamOptimizer(WEIGHTS);
  private lossScale = 1;
  private ref = { runId: '', workerId: '' };
  rank = -1;
  private readonly queue: Command[] = [];
  private wake: (() => void) | undefined;
  private closed = false;
  done: Promise<void> | undefined;
  failure: unknown;
  stepsApplied = 0;
  restarts = 0;
  private readonly brokenSteps = new Set<number>();
  /** Steps planned in an older world generation than this are void (an Abandon command said so). */
  private generation = 0;
  stepsAbandoned = 0;
  private sink: CommandSink | undefined;

  constructor(
    private readonly session: ProtocolSession,
    private readonly precision: Precision,
    private readonly validation: ValidationScript,
    private readonly options: FakeWorkerOptions = {},
  ) {}

  /** Joins, fetches the state, opens its command stream and starts obeying it. */
  async start(requestedRank: number): Promise<void> {
    const reply = await this.session.join({ protocolVersion: PROTOCOL_VERSION, host: 'fake', gpu: -1, pid: 1000 + requestedRank, backend: 'cpu', requestedRank, localData: false, peerAddress: '' }, 'in-process');
    this.ref = { runId: reply.runId, workerId: reply.workerId };
    this.rank = reply.rank;
    const { manifest, payload } = await this.session.state(this.ref);
    const [w, s, m, v] = payload;
    new Uint8Array(this.weights.buffer).set(w!);
    new Uint8Array(this.state.buffer).set(s!);
    new Uint8Array(this.optimizer.slots.m.buffer).set(m!);
    new Uint8Array(this.optimizer.slots.v.buffer).set(v!);
    this.optimizer.iteration = manifest.optimizerIteration;
    this.lossScale = manifest.lossScale;
    this.sink = {
      write: (command) => {
        // Acted on when it arrives, as the real worker's command queue does.
        if (command.kind === 'abandon') this.generation = Math.max(this.generation, command.abandon.generation);
        this.queue.push(command);
        this.wake?.();
        return true;
      },
      end: () => {
        this.closed = true;
        this.wake?.();
      },
      fail: (error) => {
        this.failure ??= error;
        this.closed = true;
        this.wake?.();
      },
    };
    this.session.openCommands(this.ref, this.sink);
    // A worker whose step was abandoned (the run failed) ends with the reason, as a real one would.
    this.done = this.obey().catch((error: unknown) => {
      this.failure = error;
    });
  }

  checksum(): string {
    return sha256Of(this.weights, this.state);
  }

  private async next(): Promise<Command | undefined> {
    while (this.queue.length === 0 && !this.closed) await new Promise<void>((resolve) => (this.wake = resolve));
    return this.queue.shift();
  }

  private async obey(): Promise<void> {
    for (let command = await this.next(); command; command = await this.next()) {
      if (command.kind === 'trainStep') {
        const { step, samples, generation } = command.trainStep;
        if (generation < this.generation) continue;
        if (step === this.options.dieAtStep) {
          this.closed = true;
          this.session.commandsClosed(this.ref, this.sink!, 'its command stream was cancelled (killed in the test)');
          return;
        }
        await this.trainStep(step, generation, samples.map((s) => s.id));
      } else if (command.kind === 'evaluate') {
        const { evaluationId, samples } = command.evaluate;
        const n = samples.length;
        const right = Math.round(this.validation.accuracy(evaluationId) * n);
        const confusion = new Array<number>(NUM_CLASSES * NUM_CLASSES).fill(0);
        samples.forEach((s, i) => (confusion[s.label * NUM_CLASSES + (i < right ? s.label : (s.label + 1) % NUM_CLASSES)]! += 1));
        const evaluation: EvaluationResult = {
          evaluationId, count: n, correct: right, confusion, sampleIds: [], probabilities: [], regularizationLoss: 0, sampleLosses: new Array<number>(n).fill(this.validation.loss(evaluationId)),
        };
        this.session.report({ ...this.ref, kind: 'evaluation', evaluation: this.options.tamperEvaluation?.(evaluation) ?? evaluation });
      } else if (command.kind === 'checksum') {
        this.session.report({ ...this.ref, kind: 'checksum', checksum: { step: command.checksum.step, requestId: command.checksum.requestId, sha256: this.checksum() } });
      } else if (command.kind === 'abandon') {
        continue;
      } else {
        return;
      }
    }
  }

  /** Uploads through the protocol session as the gRPC service would, again when the step restarts. */
  private async upload(step: number, generation: number, n: number, payload: Uint8Array[], received: Uint8Array): Promise<ReducedHeader | undefined> {
    const fp16 = this.precision === 'fp16';
    for (;;) {
      let verdict!: (header: ReducedHeader) => void;
      let failed!: (error: Error) => void;
      const outcome = new Promise<ReducedHeader>((resolve, reject) => {
        verdict = resolve;
        failed = reject;
      });
      outcome.catch(() => undefined); // awaited below; it may fail while chunks are still going up
      const sink: DownloadSink = {
        chunk: (chunk) => received.set(chunk.data, chunk.offset),
        verdict: (header, done) => {
          verdict(header);
          done();
        },
        fail: (error) => failed(error),
        pause: () => undefined,
        resume: () => undefined,
      };
      const header: GradientHeader__Output = {
        ...this.ref, step, generation, lossScale: this.lossScale, dtype: fp16 ? 'TENSOR_DTYPE_FLOAT16' : 'TENSOR_DTYPE_FLOAT32',
        gradientElements: WEIGHTS, stateElements: STATE, shardSize: n, lossSum: n * 0.5, correct: Math.floor(n / 2), regularizationLoss: 0, nonFinite: 0, segmentOffset: 0, segmentElements: 0,
        timings: { dataSeconds: 0.001, computeSeconds: 0.002, exchangeSeconds: 0.003, applySeconds: 0.004, totalSeconds: 0.01 },
      };
      const upload = this.session.beginUpload(this.options.tamperHeader?.(header) ?? header, 'in-process', sink);
      let sent = 0;
      const breakOff = this.options.breakUpload;
      let broke = false;
      for (const chunk of chunkPayload(payload, 40)) {
        if (breakOff && breakOff.step === step && sent === breakOff.afterChunks && this.brokenSteps.size === 0) {
          this.brokenSteps.add(step);
          upload.abort('broke off in the test');
          broke = true;
          break;
        }
        upload.write(chunk);
        sent++;
        // let other members' uploads interleave, as they do over the network
        await new Promise((resolve) => setImmediate(resolve));
      }
      if (broke) continue;
      upload.end();
      try {
        return await outcome;
      } catch (error) {
        const code = (error as { code?: string }).code;
        if (code === 'STEP_ABANDONED') return undefined;
        if (code !== 'STEP_RESTARTED') throw error;
        this.restarts++;
      }
    }
  }

  private async trainStep(step: number, generation: number, ids: number[]): Promise<void> {
    const n = ids.length;
    const gradient = new Float32Array(WEIGHTS);
    const state = new Float32Array(STATE);
    for (const id of ids) {
      const x = sampleVector(id);
      for (let i = 0; i < WEIGHTS; i++) gradient[i]! += (this.weights[i]! - x[i]!) / n;
      for (let i = 0; i < STATE; i++) state[i]! += x[i]! / n;
    }
    for (let i = 0; i < WEIGHTS; i++) gradient[i]! *= this.lossScale;
    if (this.options.overflowAt?.includes(step)) gradient[3] = Infinity;
    const fp16 = this.precision === 'fp16';
    const wire16 = new Uint16Array(WEIGHTS);
    if (fp16) encodeFp16(gradient, wire16);
    const payload = [fp16 ? bytesOf(wire16) : bytesOf(gradient), bytesOf(state)];
    const received = new Uint8Array(payload[0]!.byteLength + payload[1]!.byteLength);
    const header = await this.upload(step, generation, n, payload, received);
    if (!header) {
      // Abandoned by a world change: nothing was applied, and it is planned again.
      this.stepsAbandoned++;
      return;
    }
    const gradientBytes = received.subarray(0, payload[0]!.byteLength);
    const reduced = fp16 ? new Uint16Array(gradientBytes.slice().buffer) : new Float32Array(gradientBytes.slice().buffer);
    new Uint8Array(this.state.buffer).set(received.subarray(payload[0]!.byteLength));
    if (header.applied) {
      this.optimizer.step(this.weights, reduced, header.lossScale, header.learningRate);
      this.stepsApplied++;
    }
    this.lossScale = header.nextLossScale;
    this.options.afterStep?.(step);
  }
}

export interface InProcessRunOptions {
  workers: number;
  epochs: number;
  trainSize?: number;
  valSize?: number;
  globalBatch?: number;
  precision?: Precision;
  validation?: ValidationScript;
  plateau?: Partial<PlateauConfig>;
  earlyStopping?: Partial<EarlyStoppingOptions>;
  workerOptions?: (rank: number) => FakeWorkerOptions;
  initialLossScale?: number;
  /** The most members the run takes (default: `workers`); the others may join later. */
  worldSize?: number;
  /** What the run does when a member is lost (the trainer's default when not given). */
  policy?: WorldPolicy;
  /** Called each time the trainer reads a member's samples for a step (while it sends the step). */
  beforeSamples?: (recipient: Member) => void;
}

export interface InProcessRun {
  trainer: Trainer;
  session: ProtocolSession;
  shadow: TestShadow;
  checkpoints: KeptCheckpoints;
  events: RunEvent[];
  workers: FakeWorker[];
  world: World;
  replies: PendingReplies;
}

/** Trains `run` to its end once its world is there, then stops its fake workers; returns the outcome. */
export async function finishRun(run: InProcessRun) {
  await run.trainer.waitForWorld(1000);
  const outcome = await run.trainer.train();
  run.trainer.stopWorkers('the test is over');
  await Promise.all(run.workers.map((w) => w.done));
  await run.shadow.close();
  return outcome;
}

/** Sets up a run with `workers` fake workers, all joined and listening; call `trainer.train()`. */
export async function inProcessRun(options: InProcessRunOptions): Promise<InProcessRun> {
  const precision = options.precision ?? 'fp16';
  const trainSize = options.trainSize ?? 300;
  const valSize = options.valSize ?? 40;
  const clock = new SteppingClock();
  const world = new World(options.worldSize ?? options.workers, clock);
  const shadow = new TestShadow();
  const scaler = new LossScaler(precision === 'fp32' ? { initialScale: 1, growthInterval: Number.MAX_SAFE_INTEGER, maxScale: 1 } : { initialScale: options.initialLossScale ?? 1024 });
  const engine = new StepEngine(shadow, scaler, precision);
  const replies = new PendingReplies();
  const events = new RunEvents((name, error) => {
    throw new Error(`subscriber ${name} failed: ${String(error)}`);
  });
  const recorded: RunEvent[] = [];
  events.subscribe('test', (event) => recorded.push(event));
  const checkpoints = new KeptCheckpoints(shadow);
  const plateau = new ReduceLROnPlateau(1e-2, { mode: 'min', factor: 0.5, patience: 2, minDelta: 1e-4, cooldown: 0, minLr: 0, ...options.plateau });
  const ids = (from: number, count: number) => Array.from({ length: count }, (_, i) => from + i);
  const trainer = new Trainer({
    config: { runId: 'in-process', epochs: options.epochs, stepsPerEpoch: 0, globalBatch: options.globalBatch ?? 128, seed: 7, model: 'small-cnn', imageSize: 16, preprocessing: 'unit' },
    split: { train: ids(0, trainSize), val: ids(trainSize, valSize), test: [] },
    world,
    engine,
    shadow,
    samples: new LabelledSamples(options.beforeSamples),
    replies,
    checkpoints,
    events,
    clock,
    plateau,
    checkpoint: new ModelCheckpoint(),
    ...(options.earlyStopping ? { earlyStopping: new EarlyStopping(options.earlyStopping) } : {}),
    lossScalerState: () => scaler.snapshot(),
    ...(options.policy ? { policy: options.policy } : {}),
  });
  const session = new ProtocolSession({
    runId: 'in-process',
    workerConfig: { model: 'small-cnn', imageSize: 16, freeze: 'none', dropout: 0, l2: 0, seed: 7, precision, microBatch: 0, augment: false, preprocessing: 'unit' },
    world,
    engine,
    replies,
    shadow,
    position: () => trainer.position(),
    admit: (member) => trainer.admit(member),
    stepFailed: (member, step, generation, message) => trainer.stepFailed(member, step, generation, message),
  });
  const validation = options.validation ?? { loss: (epoch) => 1 / epoch, accuracy: (epoch) => Math.min(0.9, 0.3 + 0.1 * epoch) };
  const workers = Array.from({ length: options.workers }, (_, rank) => new FakeWorker(session, precision, validation, options.workerOptions?.(rank) ?? {}));
  for (const [rank, worker] of workers.entries()) await worker.start(rank);
  return { trainer, session, shadow, checkpoints, events: recorded, workers, world, replies };
}

export function eventsOf<K extends RunEvent['event']>(events: readonly RunEvent[], kind: K): Array<Extract<RunEvent, { event: K }>> {
  return events.filter((e): e is Extract<RunEvent, { event: K }> => e.event === kind);
}
