// The HTTP side of `emotrain serve` on fastify: the page (/), the API (POST /api/predict, the same
// JSON as `predict --json`), GET /healthz and GET /metrics. Every refusal is a 4xx (or 503) whose
// JSON body names the problem: {"error": {"code", "message"}}. The predictor, queue and metrics
// are given, so tests can build the server around any of them.

import multipart from '@fastify/multipart';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { EmotrainError, ServeError, type ErrorCode } from '../../shared/errors.js';
import { annotatePrediction, type PhotoPredictor } from '../predict/photo-predictor.js';
import { discardBody } from './discard-body.js';
import type { RequestQueue } from './request-queue.js';
import { ServeMetrics } from './serve-metrics.js';

export interface ServerDeps {
  predictor: PhotoPredictor;
  queue: RequestQueue;
  metrics: ServeMetrics;
  /** Largest photo accepted, in bytes (--max-bytes). */
  maxBytes: number;
  /** The page at /. */
  page: string;
  /** What /healthz says about the model. */
  model: Record<string, unknown>;
}

/** HTTP status of each refusal. */
const STATUS: Partial<Record<ErrorCode, number>> = {
  PHOTO_EMPTY: 400,
  REQUEST_INVALID: 400,
  PHOTO_TOO_LARGE: 413,
  REQUEST_TOO_LARGE: 413,
  REQUEST_CONTENT_TYPE: 415,
  PHOTO_UNSUPPORTED: 422,
  PHOTO_CORRUPT: 422,
  SERVER_BUSY: 503,
  SERVER_FAILED: 500,
};

/** How much of a too-large upload is read and thrown away so that its client gets the 413 (see discard-body.ts). */
const DISCARD_LIMIT_BYTES = 64 * 1024 * 1024;
const DISCARD_LIMIT_MS = 10_000;

const ACCEPTED = 'the photo\'s bytes as image/jpeg, image/png, image/bmp (any image/*) or application/octet-stream, or one file in multipart/form-data';

export async function buildServer(deps: ServerDeps): Promise<FastifyInstance> {
  const { queue, metrics, maxBytes } = deps;
  // A slow client cannot hold a place in the queue for long.
  const app = Fastify({ bodyLimit: maxBytes, requestTimeout: 60_000, forceCloseConnections: 'idle', logger: false });
  metrics.capacity.set(queue.capacity);

  // Only photos: not fastify's default JSON and text parsers, so those types are refused as such.
  app.removeAllContentTypeParsers();
  for (const type of [/^image\//, 'application/octet-stream']) {
    app.addContentTypeParser(type, { parseAs: 'buffer', bodyLimit: maxBytes }, (_request, body, done) => done(null, body));
  }
  await app.register(multipart, { limits: { fileSize: maxBytes, files: 1, fields: 10, parts: 11 } });

  const started = new WeakMap<FastifyRequest, number>();
  /** Gives a request's place in the queue back, once, however the request ends. */
  const giveBack = new WeakMap<FastifyRequest, () => void>();
  app.addHook('onRequest', async (request) => {
    started.set(request, performance.now());
  });
  app.addHook('onResponse', async (request, reply) => {
    const route = ServeMetrics.route(request.routeOptions.url ?? '');
    metrics.requests.inc({ route, status: String(reply.statusCode) });
    metrics.latency.observe({ route }, (performance.now() - (started.get(request) ?? performance.now())) / 1000);
  });

  app.setErrorHandler(async (error: FastifyError | EmotrainError, request, reply) => {
    const refusal = asServeError(error, request, maxBytes);
    if (refusal.code === 'REQUEST_TOO_LARGE') {
      // The rest of the body costs no memory and no place in the queue while it is read.
      giveBack.get(request)?.();
      await discardBody(request.raw, DISCARD_LIMIT_BYTES, DISCARD_LIMIT_MS);
    }
    return refuse(reply, refusal);
  });
  app.setNotFoundHandler((request, reply) =>
    refuse(reply, new ServeError('REQUEST_INVALID', `no ${request.method} ${request.url.split('?')[0]}: emotrain serve has GET /, POST /api/predict, GET /healthz and GET /metrics`), 404),
  );

  app.get('/', async (_request, reply) => reply.type('text/html; charset=utf-8').send(deps.page));

  app.get('/healthz', async () => ({
    status: 'ok',
    model: deps.model,
    detector: deps.predictor.detectorName,
    runtime: deps.predictor.classifier.runtime,
    queue: queue.state,
    memory: { rssBytes: process.memoryUsage().rss },
    uptimeSeconds: Math.round(process.uptime()),
  }));

  app.get('/metrics', async (_request, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));

  app.post<{ Querystring: { annotate?: string; name?: string } }>(
    '/api/predict',
    {
      // Admission before the body is read: a full queue costs no memory.
      onRequest: async (request, reply) => {
        if (!queue.tryEnter()) {
          const { capacity } = queue.state;
          reply.header('retry-after', '1');
          throw new ServeError('SERVER_BUSY', `the server is busy: ${capacity} photos are being predicted or waiting (--queue ${capacity - 1}); try again in a moment`);
        }
        metrics.admitted.set(queue.state.admitted);
        // However the request ends (answered, failed, the client gone), its place is given back once.
        let given = false;
        const leave = (): void => {
          if (given) return;
          given = true;
          queue.leave();
          metrics.admitted.set(queue.state.admitted);
        };
        giveBack.set(request, leave);
        reply.raw.once('close', leave);
      },
    },
    async (request) => {
      const { bytes, name } = await uploadedPhoto(request, maxBytes);
      const annotate = request.query.annotate === 'true' || request.query.annotate === '1';
      const answer = await queue.run(async () => {
        const { prediction, photo } = await deps.predictor.predict(bytes, name);
        return annotate ? { ...prediction, annotatedImage: `data:image/jpeg;base64,${Buffer.from(annotatePrediction(photo, prediction).jpeg).toString('base64')}` } : prediction;
      });
      metrics.photos.inc();
      metrics.faces.inc(answer.faces.length);
      metrics.facesPerPhoto.observe(answer.faces.length);
      return answer;
    },
  );
  return app;
}

/** The photo's bytes and name, from a raw body or a multipart upload. */
async function uploadedPhoto(request: FastifyRequest<{ Querystring: { name?: string } }>, maxBytes: number): Promise<{ bytes: Uint8Array; name: string }> {
  const name = request.query.name?.slice(0, 200) || 'the uploaded photo';
  if (request.isMultipart()) {
    const part = await request.file();
    if (part === undefined) throw new ServeError('REQUEST_INVALID', 'the multipart request has no file: send the photo as a file field (curl -F photo=@face.jpg)');
    const bytes = await part.toBuffer();
    return { bytes, name: part.filename || name };
  }
  if (!(request.body instanceof Buffer)) {
    throw new ServeError('REQUEST_CONTENT_TYPE', `the request has no content-type: send ${ACCEPTED}`);
  }
  if (request.body.length > maxBytes) throw tooManyBytes(maxBytes);
  return { bytes: request.body, name };
}

function tooManyBytes(maxBytes: number): ServeError {
  return new ServeError('REQUEST_TOO_LARGE', `the photo is larger than the ${maxBytes} bytes allowed (--max-bytes ${maxBytes})`);
}

/** Fastify's and the multipart plugin's own errors, in the app's words. */
function asServeError(error: FastifyError | EmotrainError, request: FastifyRequest, maxBytes: number): EmotrainError {
  if (error instanceof EmotrainError) return error;
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
    case 'FST_REQ_FILE_TOO_LARGE':
      return tooManyBytes(maxBytes);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_INVALID_MULTIPART_CONTENT_TYPE':
      return new ServeError('REQUEST_CONTENT_TYPE', `content-type ${request.headers['content-type'] ?? '(none)'} is not accepted: send ${ACCEPTED}`);
    case 'FST_FILES_LIMIT':
    case 'FST_PARTS_LIMIT':
      return new ServeError('REQUEST_INVALID', 'send one photo per request');
    default:
      if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) return new ServeError('REQUEST_INVALID', error.message);
      return new ServeError('SERVER_FAILED', `the server failed: ${error.message}`);
  }
}

function refuse(reply: FastifyReply, error: EmotrainError, status = STATUS[error.code] ?? 500): FastifyReply {
  return reply.status(status).send({ error: { code: error.code, message: error.message } });
}
