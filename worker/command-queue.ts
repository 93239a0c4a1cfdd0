// The coordinator's commands, queued as they arrive and handed out in order. Each step's command
// is sent one step ahead (coordinator/trainer.ts) so that its data can be prepared while the
// current step computes: `prepare` is called the moment a command arrives, and the preparation
// runs in the data threads while the worker executes the commands before it.

import { requireOneof, type Command } from '../shared/wire/index.js';
import type { Command__Output } from '../shared/wire/generated/emotrain/v1/Command.js';

/** What the command stream offers: grpc-js's ClientReadableStream, or a stand-in in tests. */
export interface CommandSource {
  on(event: 'data', listener: (command: Command__Output) => void): unknown;
  on(event: 'end', listener: () => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
}

export interface QueuedCommand<Prepared> {
  command: Command;
  /** What `prepare` started for it when it arrived, if anything. */
  prepared: Promise<Prepared> | undefined;
}

export class CommandQueue<Prepared> implements AsyncIterable<QueuedCommand<Prepared>> {
  private readonly queued: Array<QueuedCommand<Prepared>> = [];
  private waiting: { resolve: (item: IteratorResult<QueuedCommand<Prepared>>) => void; reject: (error: Error) => void } | undefined;
  private ended = false;
  private failure: Error | undefined;

  constructor(source: CommandSource, prepare: (command: Command) => Promise<Prepared> | undefined) {
    source.on('data', (received) => {
      let command: Command;
      try {
        command = requireOneof(received, 'a command from the coordinator');
      } catch (error) {
        this.failure ??= error as Error;
        this.wake();
        return;
      }
      let prepared: Promise<Prepared> | undefined;
      try {
        prepared = prepare(command);
      } catch (error) {
        prepared = Promise.reject(error as Error);
      }
      // Its failure is reported when the command's turn comes, not as an unhandled rejection now.
      prepared?.catch(() => undefined);
      this.push({ command, prepared });
    });
    source.on('end', () => {
      this.ended = true;
      this.wake();
    });
    source.on('error', (error) => {
      this.failure ??= error;
      this.wake();
    });
  }

  /** Commands that arrived and were not handed out yet. */
  get length(): number {
    return this.queued.length;
  }

  /** Takes the commands not handed out yet that `voided` picks out of the queue (a world change voided them). */
  drop(voided: (command: Command) => boolean): Array<QueuedCommand<Prepared>> {
    const dropped = this.queued.filter((item) => voided(item.command));
    if (dropped.length > 0) this.queued.splice(0, this.queued.length, ...this.queued.filter((item) => !voided(item.command)));
    return dropped;
  }

  private push(item: QueuedCommand<Prepared>): void {
    this.queued.push(item);
    this.wake();
  }

  private wake(): void {
    const waiting = this.waiting;
    if (!waiting) return;
    const next = this.take();
    if (next) {
      this.waiting = undefined;
      if (next instanceof Error) waiting.reject(next);
      else waiting.resolve(next);
    }
  }

  /** The next result if there is one now: a command, the end, or the stream's error (after the commands before it). */
  private take(): IteratorResult<QueuedCommand<Prepared>> | Error | undefined {
    const item = this.queued.shift();
    if (item) return { value: item, done: false };
    if (this.failure) return this.failure;
    if (this.ended) return { value: undefined, done: true };
    return undefined;
  }

  [Symbol.asyncIterator](): AsyncIterator<QueuedCommand<Prepared>> {
    return {
      next: () => {
        const now = this.take();
        if (now instanceof Error) return Promise.reject(now);
        if (now) return Promise.resolve(now);
        return new Promise((resolve, reject) => {
          this.waiting = { resolve, reject };
        });
      },
    };
  }
}
