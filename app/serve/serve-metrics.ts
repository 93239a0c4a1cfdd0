// Prometheus metrics of `emotrain serve` (prom-client; SPEC §7's naming, prefix emotrain_serve_):
// requests by route and status, their latency, faces found, the queue. Routes are the fixed set
// served, so labels stay bounded.

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export const SERVED_ROUTES = ['/', '/api/predict', '/healthz', '/metrics'] as const;

export class ServeMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({ name: 'emotrain_serve_requests_total', help: 'HTTP requests answered, by route and status code', labelNames: ['route', 'status'], registers: [this.registry] });
  readonly latency = new Histogram({
    name: 'emotrain_serve_request_duration_seconds',
    help: 'Time from a request arriving to its answer, by route',
    labelNames: ['route'],
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly faces = new Counter({ name: 'emotrain_serve_faces_total', help: 'Faces found in the photos predicted', registers: [this.registry] });
  readonly photos = new Counter({ name: 'emotrain_serve_photos_total', help: 'Photos predicted (answered 200)', registers: [this.registry] });
  readonly facesPerPhoto = new Histogram({
    name: 'emotrain_serve_faces_per_photo',
    help: 'Faces found per photo',
    buckets: [0, 1, 2, 3, 5, 10, 20],
    registers: [this.registry],
  });
  readonly admitted = new Gauge({ name: 'emotrain_serve_queue_requests', help: 'Prediction requests admitted: running or waiting for the model', registers: [this.registry] });
  readonly capacity = new Gauge({ name: 'emotrain_serve_queue_capacity', help: 'Prediction requests admitted at most (--queue + 1); more get 503', registers: [this.registry] });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'emotrain_serve_' });
  }

  /** The route label of a request path: one of SERVED_ROUTES, or "other". */
  static route(path: string): string {
    return (SERVED_ROUTES as readonly string[]).includes(path) ? path : 'other';
  }
}
