// The run directory's record of a run (SPEC §6), as a subscriber of its events: every event but the
// step-by-step progress goes to events.jsonl as it is, and each epoch_end also adds its row to
// metrics.csv (written first, so the row exists when the event says the epoch ended).

import { METRICS_COLUMNS, type EpochMetrics, type RunDirectory } from '../shared/run-directory.js';
import { TRANSIENT_EVENTS, type RunEventSubscriber } from './run-events.js';

export function runRecordWriter(runDir: RunDirectory): RunEventSubscriber {
  return (event) => {
    if (TRANSIENT_EVENTS.has(event.event)) return;
    if (event.event === 'epoch_end') {
      const row = Object.fromEntries(METRICS_COLUMNS.map((column) => [column, event[column]])) as EpochMetrics;
      runDir.appendMetrics(row);
    }
    runDir.event(event);
  };
}
