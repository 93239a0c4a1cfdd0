// Runs in a worker thread (see heartbeat.ts): opens its own channel and streams a ping every
// interval until terminated. Failures are not reported from here: the coordinator is the one that
// decides a worker is gone, and the main thread learns it from its command stream.

import { workerData } from 'node:worker_threads';
import { CoordinatorClient } from './coordinator-client.js';
import type { HeartbeatOptions } from './heartbeat.js';

const options = workerData as HeartbeatOptions;
// Buffers cross into a thread as plain Uint8Arrays (structured clone); grpc wants Buffers back.
const asBuffer = (bytes: Uint8Array | undefined) => (bytes ? Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) : undefined);
const tls = options.tls ? { ca: asBuffer(options.tls.ca), cert: asBuffer(options.tls.cert), key: asBuffer(options.tls.key) } : undefined;
const client = new CoordinatorClient(options.address, options.token, tls);
// A stream that ends (the coordinator closed it as idle after a stop of its own, restarted, a
// network blip) is opened again with backoff: pings must not stop silently while the worker is
// still a member. The end comes as the call's status, to the callback given to heartbeat().
const BACKOFF_MS = [250, 500, 1000, 2000];
let failures = 0;
let stream: ReturnType<CoordinatorClient['heartbeat']> | undefined;
function open(): void {
  const current = client.heartbeat(() => reopen(current));
  stream = current;
  current.on('error', () => reopen(current));
  ping();
}
/** `ended` is over: open the next stream, once, unless a newer one is already open. */
function reopen(ended: ReturnType<CoordinatorClient['heartbeat']>): void {
  if (stream !== ended) return;
  stream = undefined;
  setTimeout(open, BACKOFF_MS[Math.min(failures++, BACKOFF_MS.length - 1)]);
}
function ping(): void {
  if (!stream) return;
  if (stream.write({ runId: options.runId, workerId: options.workerId, sentAtMs: Date.now() })) failures = 0;
}
open();
setInterval(ping, options.intervalMs);
