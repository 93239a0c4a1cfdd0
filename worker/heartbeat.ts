// Liveness pings from a separate thread. A training step keeps the worker's main thread busy for
// seconds at a time, so pings from it would stall exactly when the worker is healthy; a thread of
// its own keeps pinging until the process really stops (killed, frozen, or out of the run).

import { Worker } from 'node:worker_threads';
import { taskModuleUrl } from '../shared/thread-pool.js';

export interface HeartbeatOptions {
  address: string;
  token: string;
  runId: string;
  workerId: string;
  intervalMs: number;
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer };
}

export class HeartbeatThread {
  private readonly thread: Worker;

  constructor(options: HeartbeatOptions) {
    this.thread = new Worker(new URL(taskModuleUrl(import.meta.url, './heartbeat-thread.js')), { workerData: options });
    // Never keep the process alive just for pings.
    this.thread.unref();
  }

  async stop(): Promise<void> {
    await this.thread.terminate();
  }
}
