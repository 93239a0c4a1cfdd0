// `emotrain status` for a person: a run's state, progress, latest metrics, ETA and world in a few
// lines (`--json` prints the RunStatus itself, for scripts).

import type { RunStatus } from './messages.js';

function duration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${rest}` : `${m}:${rest}`;
}

const fixed = (value: number | null, digits: number) => (value === null ? '-' : value.toFixed(digits));

export function formatRunStatus(status: RunStatus): string {
  const lines: string[] = [];
  const where = status.state === 'waiting' ? `waiting for workers (${status.world.members.length}/${status.world.size})` : status.state;
  const reason = status.reason ? ` (${status.reason})` : '';
  lines.push(`run ${status.run_id}: ${where}${reason}`);
  lines.push(
    `  epoch ${status.epoch}/${status.epochs}, step ${status.step}` +
      (status.steps_in_epoch > 0 ? ` (${status.step_in_epoch}/${status.steps_in_epoch} in the epoch)` : '') +
      (status.state === 'training' || status.state === 'stopping' ? `, ETA ${duration(status.eta_seconds)}` : ''),
  );
  lines.push(
    `  loss ${fixed(status.loss, 4)}  accuracy ${fixed(status.accuracy, 4)}  lr ${status.learning_rate.toExponential(2)}  loss scale ${status.loss_scale}` +
      (status.images_per_second === null ? '' : `  ${status.images_per_second.toFixed(1)} img/s`),
  );
  if (status.last_epoch) {
    const e = status.last_epoch;
    lines.push(`  epoch ${e.epoch}: val_loss ${e.val_loss.toFixed(4)}  val_accuracy ${e.val_accuracy.toFixed(4)}; best val_accuracy ${fixed(status.best_val_accuracy, 4)}`);
  }
  lines.push(`  world: ${status.world.members.length}/${status.world.size} workers; gRPC ${status.grpc.join(', ') || '-'}${status.wants_workers ? ' (wants workers)' : ''}`);
  for (const m of status.world.members) {
    const device = m.gpu >= 0 ? `gpu ${m.gpu}` : 'cpu';
    lines.push(`    rank ${m.rank}  ${m.host}  ${device}  ${m.backend}  pid ${m.pid}${m.local_data ? '  (own dataset copy)' : ''}`);
  }
  lines.push(`  as of ${status.updated_at}`);
  return `${lines.join('\n')}\n`;
}
