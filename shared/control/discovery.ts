// Which run a `worker --nats` joins (issue 13, point 1): from the announcements the coordinators
// on the NATS server sent, the one named by --run, or the only one that wants workers. Pure, so
// every case is tested without a server; worker/nats-discovery.ts asks and waits.

import { ControlError } from '../errors.js';
import type { Announcement } from './messages.js';

export type RunChoice = { kind: 'chosen'; run: Announcement } | { kind: 'wait'; why: string } | { kind: 'error'; error: ControlError };

function describeRun(run: Announcement): string {
  return `${run.run_id} (${run.state}, ${run.workers}/${run.world} workers)`;
}

export function chooseRun(announcements: Announcement[], runId: string | undefined): RunChoice {
  if (runId !== undefined) {
    const run = announcements.find((a) => a.run_id === runId);
    if (!run) return { kind: 'wait', why: `run ${runId} has not answered on NATS yet` };
    if (run.wants_workers) return { kind: 'chosen', run };
    if (run.state === 'finished' || run.state === 'stopped' || run.state === 'failed' || run.state === 'stopping') {
      return { kind: 'error', error: new ControlError('CONTROL_NO_RUN', `run ${runId} is ${run.state}: it takes no more workers`) };
    }
    return { kind: 'error', error: new ControlError('CONTROL_NO_RUN', `run ${runId} has all its ${run.world} workers (${run.state})`) };
  }
  const wanting = announcements.filter((a) => a.wants_workers);
  if (wanting.length === 1) return { kind: 'chosen', run: wanting[0]! };
  if (wanting.length > 1) {
    return {
      kind: 'error',
      error: new ControlError('CONTROL_NO_RUN', `${wanting.length} runs want workers: ${wanting.map(describeRun).join(', ')}; name one with --run ID`),
    };
  }
  const others = announcements.length > 0 ? ` (runs on this server: ${announcements.map(describeRun).join(', ')})` : '';
  return { kind: 'wait', why: `no run on NATS wants workers yet${others}` };
}
