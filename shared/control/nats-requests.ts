// The requests a person's command or a worker sends on the control plane: one connection that
// fails fast with a typed error (unlike the coordinator's, which never gives up), discovery of the
// runs on the server, a run's status, and a stop. Every reply is parsed as untrusted.

import { connect, Empty, type NatsConnection } from '@nats-io/transport-node';
import { ControlError, describeError } from '../errors.js';
import { encodeJson, parseAnnouncement, parseRunStatus, parseStopReply, type Announcement, type RunStatus, type StopReply, type StopRequest } from './messages.js';
import { isAuthError } from './nats-bus.js';
import { connectionOptions, describeNats, type NatsSettings } from './nats-settings.js';
import { DISCOVER_SUBJECT, runSubjects } from './subjects.js';

export async function openControlConnection(settings: NatsSettings, name: string, timeoutMs = 5000): Promise<NatsConnection> {
  try {
    return await connect({ ...connectionOptions(settings, name), timeout: timeoutMs, reconnect: false });
  } catch (error) {
    // The messages name the cause themselves; describeError would repeat a `cause`.
    if (isAuthError(error)) throw new ControlError('CONTROL_AUTH_FAILED', `NATS ${describeNats(settings)} refused our credentials: ${describeError(error)}`);
    throw new ControlError('CONTROL_UNREACHABLE', `cannot reach NATS ${describeNats(settings)}: ${describeError(error)}`);
  }
}

/** Every coordinator's announcement that arrives within `waitMs`; malformed ones are told to `invalid`. */
export async function gatherAnnouncements(connection: NatsConnection, waitMs: number, invalid: (message: string) => void): Promise<Announcement[]> {
  const found: Announcement[] = [];
  let replies: AsyncIterable<{ data: Uint8Array }>;
  try {
    replies = await connection.requestMany(DISCOVER_SUBJECT, Empty, { strategy: 'timer', maxWait: waitMs });
  } catch (error) {
    // No coordinator listens at all: the server answers "no responders".
    if (/no responders/i.test(describeError(error))) return found;
    throw new ControlError('CONTROL_UNREACHABLE', `discovery on ${DISCOVER_SUBJECT} failed: ${(error as Error).message}`);
  }
  try {
    for await (const reply of replies) {
      if (reply.data.length === 0) continue; // the "no responders" status message
      try {
        found.push(parseAnnouncement(reply.data, `announcement on ${DISCOVER_SUBJECT}`));
      } catch (error) {
        invalid(describeError(error));
      }
    }
  } catch (error) {
    if (!/no responders/i.test(describeError(error))) throw new ControlError('CONTROL_UNREACHABLE', `discovery on ${DISCOVER_SUBJECT} failed: ${(error as Error).message}`);
  }
  return found;
}

async function request(connection: NatsConnection, subject: string, body: Uint8Array, runId: string, timeoutMs: number) {
  try {
    return await connection.request(subject, body, { timeout: timeoutMs });
  } catch (error) {
    const text = (error as Error).message ?? String(error);
    if (/no responders/i.test(text)) throw new ControlError('CONTROL_NO_RUN', `no run ${runId} answers on NATS: nobody listens on ${subject}`);
    if (/timeout/i.test(text)) throw new ControlError('CONTROL_NO_RUN', `no run ${runId} answered on ${subject} within ${timeoutMs} ms`);
    throw new ControlError('CONTROL_UNREACHABLE', `${subject}: ${text}`);
  }
}

export async function requestStatus(connection: NatsConnection, runId: string, timeoutMs = 3000): Promise<RunStatus> {
  const subject = runSubjects(runId).status;
  const reply = await request(connection, subject, Empty, runId, timeoutMs);
  return parseRunStatus(reply.data, `status reply on ${subject}`);
}

export async function requestStop(connection: NatsConnection, runId: string, stop: StopRequest, timeoutMs = 3000): Promise<StopReply> {
  const subject = runSubjects(runId).stop;
  const reply = await request(connection, subject, encodeJson(stop), runId, timeoutMs);
  return parseStopReply(reply.data, `stop reply on ${subject}`);
}
