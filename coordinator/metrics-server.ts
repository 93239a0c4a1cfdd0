// GET /metrics for Prometheus (SPEC §7), on loopback unless --metrics-host says otherwise.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigError } from '../shared/errors.js';

/**
 * The default port of /metrics. Not 9400: NVIDIA's dcgm-exporter listens there, and the README
 * tells users to run it beside us on GPU hosts (issue 13, point 4).
 */
export const DEFAULT_METRICS_PORT = 9478;

export interface MetricsSource {
  text(): Promise<string>;
  readonly contentType: string;
}

export class MetricsServer {
  private readonly server: Server;

  constructor(source: MetricsSource) {
    this.server = createServer((request, response) => {
      const path = new URL(request.url ?? '/', 'http://localhost').pathname;
      if (request.method !== 'GET' || path !== '/metrics') {
        response.writeHead(path === '/metrics' ? 405 : 404, { 'content-type': 'text/plain' });
        response.end(path === '/metrics' ? 'use GET\n' : 'emotrain serves /metrics\n');
        return;
      }
      source.text().then(
        (text) => {
          response.writeHead(200, { 'content-type': source.contentType });
          response.end(text);
        },
        (error: Error) => {
          response.writeHead(500, { 'content-type': 'text/plain' });
          response.end(`cannot collect metrics: ${error.message}\n`);
        },
      );
    });
  }

  /** Binds host:port (0: any free port) and returns the port. */
  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', (error: NodeJS.ErrnoException) => {
        const why = error.code === 'EADDRINUSE' ? 'is in use (another run?)' : `cannot be bound (${error.message})`;
        reject(new ConfigError('CONFIG_INVALID', `--metrics-host ${host} --metrics-port ${port} ${why}; pick another port, 0 for any, or --no-metrics`, { cause: error }));
      });
      this.server.listen(port, host, () => resolve((this.server.address() as AddressInfo).port));
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.closeAllConnections();
      this.server.close(() => resolve());
    });
  }
}
