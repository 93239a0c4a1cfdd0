// `emotrain serve --model RUN_DIR [--host 127.0.0.1] [--port 8080]`: the process shell around
// server.ts. It loads the model and the detector once, listens (a host other machines can reach
// needs --allow-remote: the app has no authentication), and on Ctrl-C (SIGINT) or SIGTERM stops
// taking requests, answers the ones it has, and exits 0.

import { ConfigError } from '../../shared/errors.js';
import { isLoopbackHost } from '../../shared/loopback.js';
import { resolveModelSource, type CheckpointKind } from '../../shared/checkpoint-source.js';
import { loadPredictor, type PredictorChoice } from '../predict/load-predictor.js';
import { servePage } from './page.js';
import { RequestQueue } from './request-queue.js';
import { buildServer } from './server.js';
import { ServeMetrics } from './serve-metrics.js';

export interface ServeOptions extends PredictorChoice {
  model: string;
  checkpoint: CheckpointKind;
  host: string;
  port: number;
  allowRemote: boolean;
  maxBytes: number;
  /** Requests that may wait while one is predicted. */
  queue: number;
  log: (line: string) => void;
}

export async function runServe(options: ServeOptions): Promise<number> {
  if (!isLoopbackHost(options.host) && !options.allowRemote) {
    throw new ConfigError(
      'CONFIG_INVALID',
      `--host ${options.host} can be reached from other machines and emotrain serve has no authentication: add --allow-remote to serve there anyway, or keep the default --host 127.0.0.1`,
    );
  }
  const source = resolveModelSource(options.model, options.checkpoint);
  const { predictor, runsOn, dispose } = await loadPredictor(source, options);
  const model = { dir: source.dir, name: source.meta.model, runId: source.meta.runId, epoch: source.meta.epoch, imageSize: source.meta.imageSize, preprocessing: source.meta.preprocessing };
  const app = await buildServer({
    predictor,
    queue: new RequestQueue(options.queue + 1),
    metrics: new ServeMetrics(),
    maxBytes: options.maxBytes,
    page: servePage({ model: `${source.meta.model} (${source.meta.runId}, epoch ${source.meta.epoch})`, detector: predictor.detectorName, runtime: options.runtime, maxBytes: options.maxBytes }),
    model,
  });
  const stopped = new Promise<string>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  try {
    let address: string;
    try {
      address = await app.listen({ host: options.host, port: options.port });
    } catch (cause) {
      const why = (cause as NodeJS.ErrnoException).code === 'EADDRINUSE' ? 'is in use' : `cannot be bound (${(cause as Error).message})`;
      throw new ConfigError('CONFIG_INVALID', `--host ${options.host} --port ${options.port} ${why}; pick another port (0: any free one)`, { cause });
    }
    options.log(
      `emotrain serve: listening on ${address} — model ${source.dir} (${source.meta.model}), detector ${predictor.detectorName}, on ${runsOn}; Ctrl-C stops`,
    );
    const signal = await stopped;
    options.log(`${signal}: answering the requests in hand, then stopping`);
    await app.close();
  } finally {
    await dispose();
  }
  options.log('stopped');
  return 0;
}
