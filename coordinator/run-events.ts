// What happens in a run, as one typed stream (STYLE.md "Events and callbacks"). The trainer, the
// protocol session and the process shell emit; events.jsonl, the console and Prometheus subscribe
// NATS (control-plane.ts). Subscribers only listen: a subscriber that throws is reported and the
// run goes on. Field names are the JSON of events.jsonl (SPEC §6), so a subscriber that records or
// publishes an event writes it as it is.

import type { EpochMetrics } from '../shared/run-directory.js';

/** A worker's share of one step, with its phase timings (exchange/apply/total are of its previous step). */
export interface WorkerStepReport {
  rank: number;
  host: string;
  gpu: number;
  samples: number;
  timings: { data_seconds: number; compute_seconds: number; exchange_seconds: number; apply_seconds: number; total_seconds: number } | null;
}

export interface RunStartInfo {
  run_id: string;
  listen: string;
  metrics: string | null;
  world: number;
  step: number;
  epochs: number;
  epochs_completed: number;
  learning_rate: number;
  loss_scale: number;
  best_val_accuracy: number | null;
}

export type RunEvent =
  | ({ event: 'run_started' } & RunStartInfo)
  /** changed_settings: what --resume changed, as said on the console ("epochs 3 → 5"; config.json keeps the run's first settings). */
  | ({ event: 'run_resumed'; changed_settings: string[] } & RunStartInfo)
  | { event: 'dataset_file_skipped'; path: string; reason: string; kind: string }
  | {
      event: 'weights_loaded';
      path: string;
      kind: string;
      files: Array<{ path: string; bytes: number; sha256: string }>;
      /** Every layer of the model is in exactly one of these lists. */
      loaded: string[];
      fresh: Array<{ layer: string; reason: string }>;
      no_weights: string[];
      /** Layers of the source this model does not have. */
      unused: string[];
    }
  /** `peer`: the network address the worker's Join came from. */
  | { event: 'worker_joined'; rank: number; host: string; gpu: number; pid: number; backend: string; local_data: boolean; workers: number; world: number; peer: string }
  | { event: 'worker_left'; rank: number; host: string; gpu: number; pid: number; reason: string; expected: boolean; workers: number }
  /** A local worker process was started (`restart` 0) or started again after it was lost. */
  | { event: 'worker_started'; rank: number; pid: number; restart: number; max_restarts: number; reason: string | null }
  /** A local worker that has not joined is stopped or slow to start; it is killed (and restarted if it may be). */
  | { event: 'worker_stalled'; rank: number; pid: number; reason: string }
  /** Steps not yet decided were voided on every replica by a world change; they are planned again. */
  | { event: 'step_abandoned'; steps: number[]; generation: number; reason: string }
  /** The run cannot go on with the workers it has; it waits (at most timeout_seconds) for joins. */
  | { event: 'waiting_for_workers'; step: number; workers: number; needed: number; free_ranks: number[]; timeout_seconds: number; elastic: boolean }
  /** Steps are planned over a different set of members from here on. */
  | { event: 'world_changed'; generation: number; step: number; from: number; to: number; ranks: number[]; reason: string }
  | {
      event: 'step_completed';
      step: number;
      epoch: number;
      epochs: number;
      step_in_epoch: number;
      steps_in_epoch: number;
      applied: boolean;
      batch: number;
      seconds: number;
      workers: WorkerStepReport[];
      bytes_up: number;
      bytes_down: number;
      loss_scale: number;
      next_loss_scale: number;
      learning_rate: number;
      /** Running mean loss and accuracy of the epoch so far. */
      epoch_loss: number;
      epoch_accuracy: number;
      images_per_second: number;
      epoch_eta_seconds: number;
      eta_seconds: number;
    }
  | { event: 'step_skipped'; step: number; epoch: number; reason: string; loss_scale_before: number; loss_scale_after: number; skipped_total: number }
  | { event: 'loss_scale_increased'; step: number; from: number; to: number }
  | { event: 'validation_completed'; epoch: number; split: string; count: number; loss: number; accuracy: number; confusion: number[] }
  | { event: 'replicas_verified'; step: number; sha256: string; workers: number }
  | ({ event: 'epoch_end' } & EpochMetrics & {
      epochs: number;
      steps: number;
      step: number;
      seconds: number;
      samples_per_worker: number[];
      /** Mean seconds per step of each phase, over the epoch and the members. */
      phase_seconds: { data: number; compute: number; exchange: number; apply: number; total: number };
    })
  | { event: 'lr_reduced'; epoch: number; from: number; to: number; monitor: string }
  | { event: 'checkpoint_saved'; kind: 'best' | 'last'; epoch: number; step: number; val_accuracy?: number; previous_best?: number | null; restored_from_epoch?: number }
  | { event: 'early_stopped'; epoch: number; monitor: string; best: number; best_epoch: number; patience: number }
  | { event: 'weights_restored'; epoch: number; from_epoch: number; monitor: string; best: number }
  | { event: 'warning'; code: string; message: string }
  /** The coordinator's own event loop did not run for this long (stopped, suspended, blocked): the workers' silence in it is excused. */
  | { event: 'coordinator_stalled'; seconds: number }
  /** The NATS control plane is (again) reachable; its losses are `warning`s (NATS_UNREACHABLE, NATS_DISCONNECTED). */
  | { event: 'control_plane'; state: 'connected' | 'reconnected'; server: string; outage_seconds: number | null }
  | { event: 'run_finished'; epochs: number; best_val_accuracy: number; step: number; early_stopped: boolean }
  | { event: 'run_stopped'; epochs: number; step: number; reason: string }
  | { event: 'run_failed'; step: number; error: string; code: string };

export type RunEventName = RunEvent['event'];
export type RunEventOf<K extends RunEventName> = Extract<RunEvent, { event: K }>;

/** Events that are the moment-to-moment progress of a run, not its record: not written to events.jsonl. */
export const TRANSIENT_EVENTS: ReadonlySet<RunEventName> = new Set(['step_completed']);

export type RunEventSubscriber = (event: RunEvent) => void;

export class RunEvents {
  private readonly subscribers: Array<{ name: string; deliver: RunEventSubscriber }> = [];

  /** `failed` hears about a subscriber that threw; by default it goes to stderr. */
  constructor(private readonly failed: (name: string, error: unknown) => void = (name, error) => process.stderr.write(`${name}: ${String(error)}\n`)) {}

  subscribe(name: string, deliver: RunEventSubscriber): () => void {
    const entry = { name, deliver };
    this.subscribers.push(entry);
    return () => {
      const i = this.subscribers.indexOf(entry);
      if (i >= 0) this.subscribers.splice(i, 1);
    };
  }

  emit(event: RunEvent): void {
    for (const { name, deliver } of this.subscribers) {
      try {
        deliver(event);
      } catch (error) {
        this.failed(name, error);
      }
    }
  }
}
