// The workers of a run: who joined, with which rank, how to reach each with commands, and the
// moment one is lost (its command stream ended, its process exited, or its heartbeats stopped).
// A member is ready once its command stream is open (it opens it after fetching the state); only
// ready members are given work. `size` is the most members the run takes: the world may be
// smaller for a while (a member was lost and --elastic goes on without it, or a replacement is
// awaited), and grows again when workers join.

import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { ProtocolError, WorldChanged, WorldError } from '../shared/errors.js';
import type { Command, JoinRequest } from '../shared/wire/index.js';
import { systemClock, type Clock } from './clock.js';

export interface Member {
  rank: number;
  workerId: string;
  host: string;
  gpu: number;
  pid: number;
  backend: string;
  /** It reads samples from its own copy of the dataset: it is sent paths and hashes, not bytes. */
  localData: boolean;
  /** Where its Peer service is (host:port), for --allreduce ring; empty when it offered none. */
  peerAddress: string;
  peer: string;
  joinedAtMs: number;
  lastHeartbeatMs: number;
  commands: CommandSink | undefined;
}

/** Where a member's commands are written: its open Commands stream. */
export interface CommandSink {
  write(command: Command): boolean;
  end(): void;
  /** Ends the stream with this error: the member was expelled (it stalled, or the run gave up on it). */
  fail(error: Error): void;
}

export function describeMember(member: Pick<Member, 'rank' | 'host' | 'gpu' | 'pid'>): string {
  const device = member.gpu >= 0 ? `gpu ${member.gpu}` : 'cpu';
  return `worker ${member.rank} (${member.host}, ${device}, pid ${member.pid})`;
}

export interface WorldEvents {
  joined: [Member];
  /** Its command stream opened: it can be given work. */
  ready: [Member];
  lost: [Member, string];
}

export class World extends EventEmitter<WorldEvents> {
  private readonly members = new Map<number, Member>();
  private closed = false;

  constructor(
    readonly size: number,
    private readonly clock: Clock = systemClock,
  ) {
    super();
  }

  get memberCount(): number {
    return this.members.size;
  }

  get full(): boolean {
    return this.members.size === this.size;
  }

  /** Members in rank order. */
  list(): Member[] {
    return [...this.members.values()].sort((a, b) => a.rank - b.rank);
  }

  /** Members that can be given work (their command stream is open), in rank order. */
  ready(): Member[] {
    return this.list().filter((m) => m.commands !== undefined);
  }

  /** Ranks in [0, size) that no member holds. */
  freeRanks(): number[] {
    return Array.from({ length: this.size }, (_, rank) => rank).filter((rank) => !this.members.has(rank));
  }

  byRank(rank: number): Member | undefined {
    return this.members.get(rank);
  }

  byWorkerId(workerId: string): Member | undefined {
    for (const member of this.members.values()) if (member.workerId === workerId) return member;
    return undefined;
  }

  /**
   * Admits a worker, giving it the rank it asked for when free. One that asks for any rank gets
   * the highest free one, so that the low ranks a coordinator's own local workers ask for (0, 1,
   * ...) stay theirs; one whose rank is taken gets the lowest free rank.
   */
  join(request: JoinRequest, peer: string): Member {
    if (this.closed) throw new ProtocolError('PROTOCOL_INVALID', `the run is not accepting workers (from ${peer})`);
    if (this.full) throw new WorldError('WORLD_FULL', `the run already has its ${this.size} workers; refused ${request.host} pid ${request.pid}`);
    let rank = request.requestedRank;
    if (rank >= this.size) {
      throw new ProtocolError('PROTOCOL_INVALID', `requested rank ${rank} is outside the world of ${this.size} workers`);
    }
    if (rank < 0) {
      rank = this.size - 1;
      while (this.members.has(rank)) rank--;
    } else if (this.members.has(rank)) {
      rank = 0;
      while (this.members.has(rank)) rank++;
    }
    const now = this.clock.now();
    const member: Member = {
      rank,
      workerId: randomBytes(16).toString('hex'),
      host: request.host || peer,
      gpu: request.gpu,
      pid: request.pid,
      backend: request.backend,
      localData: request.localData === true,
      peerAddress: resolvePeerAddress(request.peerAddress, peer),
      peer,
      joinedAtMs: now,
      lastHeartbeatMs: now,
      commands: undefined,
    };
    this.members.set(rank, member);
    this.emit('joined', member);
    return member;
  }

  attachCommands(member: Member, sink: CommandSink): void {
    member.commands = sink;
    this.emit('ready', member);
  }

  send(rank: number, command: Command): void {
    const member = this.members.get(rank);
    // A member gone (or not ready) is a world change for whoever wanted to give it work.
    if (!member?.commands) throw new WorldChanged(`cannot send ${command.kind} to rank ${rank}: it has no open command stream`);
    member.commands.write(command);
  }

  heartbeat(member: Member): void {
    member.lastHeartbeatMs = this.clock.now();
  }

  /** Members whose last heartbeat is older than `timeoutMs`. */
  stalled(timeoutMs: number, nowMs = this.clock.now()): Member[] {
    return this.list().filter((m) => nowMs - m.lastHeartbeatMs > timeoutMs);
  }

  /**
   * Removes a member and tells everyone why; idempotent. Its command stream, if still open, ends
   * with the reason, so a worker that was only stalled learns it is out and may join again.
   */
  lose(member: Member, reason: string): void {
    if (this.members.get(member.rank) !== member) return;
    this.members.delete(member.rank);
    try {
      member.commands?.fail(new WorldError('WORKER_EXPELLED', `${describeMember(member)} is no longer a member of the run: ${reason}`));
    } catch {
      // The stream is already gone with its worker.
    }
    this.emit('lost', member, reason);
  }

  /** Stops admitting workers and ends every command stream. */
  close(): void {
    this.closed = true;
    for (const member of this.members.values()) {
      try {
        member.commands?.end();
      } catch {
        // The stream may already be gone with its worker; nothing left to end.
      }
    }
  }
}

/**
 * The address other workers reach a member's Peer service at: what it offered, with an empty or
 * wildcard host replaced by the address its connection to the coordinator came from.
 */
export function resolvePeerAddress(offered: string, connection: string): string {
  if (offered === '') return '';
  const match = /^(.*):(\d+)$/.exec(offered);
  if (!match) return offered;
  const [, host, port] = match;
  if (host !== '' && host !== '0.0.0.0' && host !== '[::]' && host !== '::') return offered;
  const seen = connection.replace(/^ipv[46]:/, '');
  const seenHost = /^(\[[^\]]+\]|[^:]+):\d+$/.exec(seen)?.[1] ?? seen;
  return `${seenHost}:${port}`;
}
