// `emotrain status` and `emotrain stop` (SPEC §4, issue 13): a person's view of running runs
// through the NATS control plane, and a clean stop at the next step boundary, as Ctrl-C at the
// coordinator would. Without --run they find the runs on the server by discovery.

import os from 'node:os';
import type { NatsConnection } from '@nats-io/transport-node';
import { ControlError } from '../shared/errors.js';
import { formatRunStatus } from '../shared/control/format-status.js';
import type { Announcement, RunStatus } from '../shared/control/messages.js';
import { gatherAnnouncements, openControlConnection, requestStatus, requestStop } from '../shared/control/nats-requests.js';
import { describeNats, type NatsSettings } from '../shared/control/nats-settings.js';

const DISCOVERY_WAIT_MS = 1000;

export interface ControlCommandOptions {
  settings: NatsSettings;
  runId: string | undefined;
  json: boolean;
  write: (text: string) => void;
  warn: (line: string) => void;
}

async function withConnection<T>(settings: NatsSettings, use: (connection: NatsConnection) => Promise<T>): Promise<T> {
  const connection = await openControlConnection(settings, 'emotrain-cli');
  try {
    return await use(connection);
  } finally {
    await connection.close().catch(() => undefined);
  }
}

async function runsOnServer(connection: NatsConnection, options: ControlCommandOptions): Promise<Announcement[]> {
  const runs = await gatherAnnouncements(connection, DISCOVERY_WAIT_MS, (message) => options.warn(`ignoring a malformed announcement: ${message}`));
  if (runs.length === 0) throw new ControlError('CONTROL_NO_RUN', `no emotrain run answers on NATS ${describeNats(options.settings)}`);
  return runs.sort((a, b) => a.started_at.localeCompare(b.started_at));
}

export async function statusCommand(options: ControlCommandOptions): Promise<number> {
  const statuses = await withConnection(options.settings, async (connection) => {
    if (options.runId !== undefined) return [await requestStatus(connection, options.runId)];
    const runs = await runsOnServer(connection, options);
    const found: RunStatus[] = [];
    for (const run of runs) found.push(await requestStatus(connection, run.run_id));
    return found;
  });
  if (options.json) options.write(`${JSON.stringify(statuses.length === 1 ? statuses[0] : statuses, null, 2)}\n`);
  else options.write(statuses.map(formatRunStatus).join('\n'));
  return 0;
}

export async function stopCommand(options: ControlCommandOptions & { token: string | undefined; reason: string | undefined }): Promise<number> {
  const reply = await withConnection(options.settings, async (connection) => {
    let runId = options.runId;
    if (runId === undefined) {
      const runs = (await runsOnServer(connection, options)).filter((r) => r.state === 'waiting' || r.state === 'training');
      if (runs.length !== 1) {
        const names = runs.map((r) => r.run_id).join(', ');
        throw new ControlError('CONTROL_NO_RUN', runs.length === 0 ? 'no run on NATS is waiting or training' : `${runs.length} runs are going (${names}): name one with --run ID`);
      }
      runId = runs[0]!.run_id;
    }
    return requestStop(connection, runId, {
      ...(options.token !== undefined ? { token: options.token } : {}),
      ...(options.reason !== undefined ? { reason: options.reason } : {}),
      by: `${os.userInfo().username}@${os.hostname()}`,
    });
  });
  if (options.json) options.write(`${JSON.stringify(reply, null, 2)}\n`);
  if (!reply.accepted) throw new ControlError('STOP_REFUSED', `run ${reply.run_id} refused to stop: ${reply.message} [${reply.code}]`);
  if (!options.json) options.write(`${reply.message}\n`);
  return 0;
}
