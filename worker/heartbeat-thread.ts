// Runs in a worker thread (see heartbeat.ts): opens its own channel and streams a ping every
// interval until terminated. Failures are silent here on purpose: the coordinator is the one that
// decides a worker is gone, and the main thread learns it from its command stream.

import { workerData } from 'node:worker_threads';
import { CoordinatorClient, clientCredentials } from './coordinator-client.js';
import type { HeartbeatOptions } from './heartbeat.js';

const options = workerData as HeartbeatOptions;
// Buffers cross into a thread as plain Uint8Arrays (structured clone); grpc wants Buffers back.
const asBuffer = (bytes: Uint8Array | undefined) => (bytes ? Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) : undefined);
const tls = options.tls ? { ca: asBuffer(options.tls.ca), cert: asBuffer(options.tls.cert), key: asBuffer(options.tls.key) } : undefined;
const client = new CoordinatorClient(options.address, options.token, clientCredentials(tls));
const stream = client.heartbeat();
stream.on('error', () => undefined);
const ping = () => stream.write({ runId: options.runId, workerId: options.workerId, sentAtMs: Date.now() });
ping();
setInterval(ping, options.intervalMs);
