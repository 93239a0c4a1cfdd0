// The NATS subjects of the control plane (issue 13, point 1; README "Control plane"). One run's
// subjects share the prefix `emotrain.run.<runId>.`, so a NATS account's permissions can be given
// per run; discovery has one subject for every run on the server.

import { ConfigError } from '../errors.js';

export const SUBJECT_ROOT = 'emotrain';
/** Request: every coordinator on the server answers with its announcement. */
export const DISCOVER_SUBJECT = `${SUBJECT_ROOT}.discover`;
/** Publication: a coordinator's announcement, when it starts and whenever it starts or stops wanting workers. */
export const ANNOUNCE_SUBJECT = `${SUBJECT_ROOT}.announce`;

export interface RunSubjects {
  /** Every RunEvent of the run, as JSON, in the order the run emitted them. */
  events: string;
  /** Request: the run's live status. */
  status: string;
  /** Request: stop at the next step boundary. */
  stop: string;
}

// A subject token may not contain '.', the wildcards '*' and '>', whitespace or control characters.
const SUBJECT_TOKEN = /^[A-Za-z0-9_\-:@+=~%]+$/;

/** Throws unless `runId` can be one token of a subject. */
export function checkRunIdForSubjects(runId: string): void {
  if (!SUBJECT_TOKEN.test(runId) || runId.length > 200) {
    throw new ConfigError(
      'CONFIG_INVALID',
      `run id ${JSON.stringify(runId)} cannot name a NATS subject: with --nats it may hold letters, digits and _ - : @ + = ~ % only (no '.', '*', '>' or spaces), at most 200 characters`,
    );
  }
}

export function runSubjects(runId: string): RunSubjects {
  checkRunIdForSubjects(runId);
  const prefix = `${SUBJECT_ROOT}.run.${runId}`;
  return { events: `${prefix}.events`, status: `${prefix}.status`, stop: `${prefix}.stop` };
}
