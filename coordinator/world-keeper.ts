// The run's world as the trainer sees it (SPEC §8): who may be given work, and what a change of
// it does. A lost member voids the steps not yet decided (the step engine abandons them on every
// replica) and every reply still awaited; the run then waits for a world it may go on with —
// with --elastic, at least --min-workers members; otherwise all of them, a replacement taking the
// lost rank — and plans the same steps again, re-sharded over the members there are. A worker
// that joins while steps are in flight is admitted at the next step boundary: no step is sent
// ahead, the shadow settles, the joiner fetches the state of that boundary and opens its command
// stream, and the world grows.

import { Deferred } from '../shared/deferred.js';
import { TrainingError, WorldChanged, WorldError, isWorldChange } from '../shared/errors.js';
import type { SampleSource } from './engine-ports.js';
import type { PendingReplies } from './pending-replies.js';
import { isReportedFailure } from './protocol-session.js';
import type { RunEvents } from './run-events.js';
import type { StepEngine } from './step-engine.js';
import { describeMember, type Member, type World } from './world.js';

/** What the run does when its world changes (SPEC §8). */
export interface WorldPolicy {
  /** --elastic: go on with the members left (at least `minWorkers`) instead of waiting for a replacement. */
  elastic: boolean;
  /** --min-workers: below it an elastic run waits for joins. */
  minWorkers: number;
  /** --rejoin-timeout: how long a run that cannot go on waits for workers before it fails. */
  rejoinTimeoutMs: number;
  /** How long an admitted worker may take from fetching the state to opening its command stream. */
  admitTimeoutMs: number;
}

export const DEFAULT_WORLD_POLICY: WorldPolicy = { elastic: false, minWorkers: 1, rejoinTimeoutMs: 300_000, admitTimeoutMs: 120_000 };

/** Reports of one step failing on a worker (a broken ring) before the run gives up on that step. */
const MAX_STEP_FAILURES = 3;
/** A step failure report waits this long for the loss that likely caused it to be noticed. */
const STEP_FAILURE_GRACE_MS = 500;

/** A stop was asked for while the run waited for its world: it ends where it is. */
export class StopRequested extends Error {}

/** What the keeper needs of the run it serves (the trainer). */
export interface WorldKeeperHost {
  step(): number;
  stopReason(): string | undefined;
  /** The workers were told to stop: from then on they are expected to leave. */
  workersStopped(): boolean;
  /** What ended the run, once something did (the first failure; later errors follow from it). */
  failure(): Error | undefined;
  fail(error: Error): void;
  guard<T>(promise: Promise<T>): Promise<T>;
}

export interface WorldKeeperOptions {
  world: World;
  engine: StepEngine;
  samples: SampleSource;
  replies: PendingReplies;
  events: RunEvents;
  policy: WorldPolicy;
}

interface PendingAdmission {
  member: Member;
  resolve: () => void;
  reject: (error: Error) => void;
}

export class WorldKeeper {
  private readonly policy: WorldPolicy;
  /** Steps are being sent and reduced: a joiner waits for the next step boundary. */
  inFlight = false;
  private readonly pendingAdmissions: PendingAdmission[] = [];
  /** Admitted joiners that are fetching the state and have not opened their command stream yet. */
  private readonly admitted = new Set<Member>();
  /** Settles at every join, readiness, loss or stop request: what a wait for the world waits on. */
  private worldWake = new Deferred<void>();
  /** The ranks the last steps were planned over, and why the world changed since. */
  private plannedRanks: number[] | undefined;
  private changeReason: string | undefined;
  private readonly stepFailures = new Map<number, number>();

  constructor(
    private readonly options: WorldKeeperOptions,
    private readonly host: WorldKeeperHost,
  ) {
    this.policy = options.policy;
    const { world, events } = options;
    world.on('joined', (member) => {
      events.emit({
        event: 'worker_joined', rank: member.rank, host: member.host, gpu: member.gpu, pid: member.pid, backend: member.backend,
        local_data: member.localData, workers: world.memberCount, world: world.size, peer: member.peer,
      });
      this.wake();
    });
    world.on('ready', () => this.wake());
    world.on('lost', (member, reason) => this.memberLost(member, reason));
  }

  /** A joiner waits to be admitted: the run should reach a step boundary. */
  get joinersWaiting(): boolean {
    return this.pendingAdmissions.length > 0;
  }

  /** `step` was decided: its failure reports no longer count. */
  stepDecided(step: number): void {
    this.stepFailures.delete(step);
  }

  /** Wakes every wait for the world (a join, readiness, loss or stop request). */
  wake(): void {
    const wake = this.worldWake;
    this.worldWake = new Deferred();
    wake.resolve();
  }

  /** Waits for the next world event, or until `deadlineMs` (real time); false on the deadline. */
  private async worldEventBefore(deadlineMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), Math.max(0, deadlineMs - Date.now()));
    });
    try {
      return await this.host.guard(Promise.race([this.worldWake.promise.then(() => true as const), expired]));
    } finally {
      clearTimeout(timer);
    }
  }

  private memberLost(member: Member, reason: string): void {
    const { events, world } = this.options;
    this.options.samples.forgetWorker(member.workerId);
    this.admitted.delete(member);
    const waiting = this.pendingAdmissions.findIndex((p) => p.member === member);
    if (waiting >= 0) this.pendingAdmissions.splice(waiting, 1)[0]!.reject(new WorldError('WORKER_LOST', `${describeMember(member)} was lost before it was admitted: ${reason}`));
    // `expected`: it left because the run was stopping, not because something went wrong
    const expected = this.host.stopReason() !== undefined || this.host.failure() !== undefined;
    events.emit({ event: 'worker_left', rank: member.rank, host: member.host, gpu: member.gpu, pid: member.pid, reason, expected, workers: world.memberCount });
    this.wake();
    // A member that never got work (it was still joining) leaves nothing to abandon.
    if (member.commands === undefined || this.host.workersStopped() || this.host.failure() !== undefined) return;
    // Until the workers are told to stop, the run may be waiting on this member's step — also
    // after a stop request: under Slurm, scancel signals the coordinator and its workers at once.
    // A worker that says why it failed would fail again: without --elastic the run ends with its words.
    if (!expected && !this.policy.elastic && isReportedFailure(reason)) this.host.fail(new WorldError('WORKER_LOST', `${describeMember(member)} was lost at step ${this.host.step()}: ${reason}`));
    else if (expected) this.host.fail(new TrainingError('RUN_STOPPED', `stopped at step ${this.host.step()} (${this.host.stopReason()}); ${describeMember(member)} left before the step finished: ${reason}`));
    else this.interrupt(`${describeMember(member)} was lost at step ${this.host.step()}: ${reason}`);
  }

  /**
   * Voids what the run is waiting on in the old world: the steps not yet decided (on every
   * replica: each is told to drop them), the replies still awaited. The trainer does it again in
   * the new world.
   */
  private interrupt(reason: string): void {
    const { engine, world, events } = this.options;
    const steps = engine.abandon(reason);
    this.options.replies.abandonAll(new WorldChanged(reason));
    const generation = engine.generation;
    for (const member of world.ready()) {
      try {
        world.send(member.rank, { kind: 'abandon', abandon: { generation, reason } });
      } catch {
        // Lost as well; its own loss says so.
      }
    }
    this.changeReason = reason;
    if (steps.length > 0) events.emit({ event: 'step_abandoned', steps, generation, reason });
  }

  /**
   * A worker could not finish `step` (its ring broke). Unless a loss explains it first (within a
   * short grace), the step is abandoned and planned again; the same step failing again and again
   * ends the run.
   */
  stepFailed(member: Member, step: number, generation: number, message: string): void {
    const { engine } = this.options;
    if (generation !== engine.generation || !engine.openSteps.includes(step)) return;
    const failures = (this.stepFailures.get(step) ?? 0) + 1;
    this.stepFailures.set(step, failures);
    const why = `${describeMember(member)} could not finish step ${step}: ${message}`;
    if (failures > MAX_STEP_FAILURES) {
      this.host.fail(new WorldError('WORKER_LOST', `step ${step} failed ${failures} times; the last time ${why}`));
      return;
    }
    setTimeout(() => {
      if (engine.generation === generation && this.host.failure() === undefined) this.interrupt(why);
    }, STEP_FAILURE_GRACE_MS).unref();
  }

  /**
   * Lets `member` fetch the state (ProtocolSession waits on it): at once when no step is in
   * flight, else at the next step boundary, where the run waits for it to open its command stream.
   */
  admit(member: Member): Promise<void> {
    if (!this.inFlight) {
      this.admitted.add(member);
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => this.pendingAdmissions.push({ member, resolve, reject }));
  }

  /** Admits every waiting joiner, then waits until each admitted one is ready (or is lost, or times out). */
  private async settleAdmissions(): Promise<void> {
    const { world } = this.options;
    for (const pending of this.pendingAdmissions.splice(0)) {
      this.admitted.add(pending.member);
      pending.resolve();
    }
    const deadline = Date.now() + this.policy.admitTimeoutMs;
    for (;;) {
      for (const member of this.admitted) if (member.commands !== undefined || world.byRank(member.rank) !== member) this.admitted.delete(member);
      if (this.admitted.size === 0) return;
      if (!(await this.worldEventBefore(deadline))) {
        for (const member of [...this.admitted]) {
          world.lose(member, `it fetched the state but did not open its command stream within ${Math.round(this.policy.admitTimeoutMs / 1000)} s`);
        }
      }
    }
  }

  private viable(ready: number): boolean {
    return this.policy.elastic ? ready >= this.policy.minWorkers : ready === this.options.world.size;
  }

  /**
   * Resolves once the run may plan work: the world is viable (see WorldPolicy) and every admitted
   * joiner is ready. Waits up to `timeoutMs` (the rejoin timeout unless given) and says what it
   * waits for; `initial`: the world forming at the start, which waits for every worker (an elastic
   * run starts with at least --min-workers when the time is up).
   */
  async awaitViableWorld(options: { initial?: boolean; timeoutMs?: number } = {}): Promise<void> {
    const { world, events, engine } = this.options;
    const timeoutMs = options.timeoutMs ?? this.policy.rejoinTimeoutMs;
    const deadline = Date.now() + timeoutMs;
    let announced = false;
    for (;;) {
      await this.settleAdmissions();
      if (this.host.stopReason() !== undefined) throw new StopRequested();
      const ready = world.ready().length;
      if (options.initial ? ready === world.size : this.viable(ready)) break;
      if (!announced && !options.initial) {
        announced = true;
        const needed = this.policy.elastic ? this.policy.minWorkers : world.size;
        events.emit({ event: 'waiting_for_workers', step: this.host.step(), workers: ready, needed, free_ranks: world.freeRanks(), timeout_seconds: timeoutMs / 1000, elastic: this.policy.elastic });
      }
      if (!(await this.worldEventBefore(deadline))) {
        const seconds = Math.round(timeoutMs / 1000);
        if (options.initial) {
          if (this.policy.elastic && this.viable(world.ready().length)) break;
          throw new WorldError('WORKER_LOST', `only ${world.memberCount} of ${world.size} workers joined within ${seconds} s`);
        }
        throw new WorldError(
          'WORKER_LOST',
          this.policy.elastic
            ? `only ${ready} workers are left at step ${this.host.step()}, fewer than --min-workers ${this.policy.minWorkers}, and no worker joined within ${seconds} s (--rejoin-timeout)`
            : `no worker took rank ${world.freeRanks().join(', ')} within ${seconds} s (--rejoin-timeout); the run cannot go on without all ${world.size} workers (or run it --elastic)`,
        );
      }
    }
    const ranks = world.ready().map((m) => m.rank);
    if (this.plannedRanks !== undefined && ranks.join(',') !== this.plannedRanks.join(',')) {
      events.emit({
        event: 'world_changed', generation: engine.generation, step: this.host.step(), from: this.plannedRanks.length, to: ranks.length, ranks,
        reason: this.changeReason ?? 'workers joined',
      });
    }
    this.plannedRanks = ranks;
    this.changeReason = undefined;
  }

  /** Runs `work` once the world is viable; again (from where it got) whenever the world changes under it. */
  async withWorld<T>(work: () => Promise<T>): Promise<T> {
    for (;;) {
      await this.awaitViableWorld();
      try {
        return await work();
      } catch (error) {
        // Once the run has failed, whatever breaks next (a send to a worker already gone) follows
        // from that failure, which is what the run ends with.
        const failure = this.host.failure();
        if (failure) throw failure;
        if (!isWorldChange(error)) throw error;
      }
    }
  }
}
