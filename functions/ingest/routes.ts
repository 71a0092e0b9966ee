import type { Request, Response } from '@google-cloud/functions-framework';
import type { Context } from '../../shared/context.js';
import { cloudEventBody, isCloudEvent } from '../../shared/http/cloudevent.js';
import { HttpError, STORE_FULL_RETRY_SECONDS, storeFull } from '../../shared/http/errors.js';
import { healthRoutes } from '../../shared/http/health.js';
import { batchBody, ingestBody } from '../../shared/http/parse.js';
import { deviceScope, jsonBody } from '../../shared/http/pipeline.js';
import { type Handler, type Routes, guarded } from '../../shared/http/routes.js';
import type { Reading } from '../../shared/schemas/event.js';
import { apiTime } from '../../shared/schemas/time.js';
import { StoreFullError } from '../../shared/store/errors.js';
import type { BatchOutcome } from '../../shared/store/store.js';
import type { Metrics } from '../../shared/telemetry/metrics.js';
import { senderRoutes } from './senders.js';

/** 429 for a device over its rate limit. */
function rateLimited(limit: number, device: string, retryAfterMs: number, details?: unknown): HttpError {
  const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  const message = `Device ${device} is over its rate limit of ${limit} events/s; retry in ${seconds} s`;
  return new HttpError(429, 'rate_limited', message, details ?? { retry_after_seconds: seconds }, { 'Retry-After': String(seconds) });
}

/** The answer to a batch: 202 with what was refused, or, when every event was refused, 503 (store full) or 429. */
function batchReply(metrics: Metrics, limit: number, readings: readonly Reading[], outcome: BatchOutcome) {
  const limited = outcome.rateLimited.map((r) => r.index);
  metrics.countRefused('rate_limited', limited.length);
  metrics.countRefused('store_full', outcome.storeFull.length);
  const retryAfterSeconds = Math.max(1, ...outcome.rateLimited.map((r) => Math.ceil(r.retryAfterMs / 1000)));
  const refusals = {
    ...(limited.length > 0 ? { rate_limited: limited, retry_after_seconds: retryAfterSeconds } : {}),
    ...(outcome.storeFull.length > 0 ? { store_full: outcome.storeFull, retry_after_seconds: Math.max(retryAfterSeconds, STORE_FULL_RETRY_SECONDS) } : {}),
  };
  if (limited.length + outcome.storeFull.length === readings.length) {
    if (outcome.storeFull.length > 0) throw storeFull(refusals);
    throw rateLimited(limit, readings[0]!.deviceId, retryAfterSeconds * 1000, refusals);
  }
  const accepted = readings.length - limited.length - outcome.storeFull.length;
  return { accepted, anomalies: outcome.anomalies, alerts: outcome.alerts, duplicates: outcome.duplicates, ...refusals };
}

/** A device token writes its own device only: an event of another device refuses the request whole (403). */
function checkScope(req: Request, readings: readonly Reading[], batch: boolean): void {
  const device = deviceScope(req);
  if (device === undefined) return;
  const others = readings.flatMap((reading, index) => (reading.deviceId === device ? [] : [index]));
  if (others.length === 0) return;
  const field = batch ? `[${others[0]}].device_id` : 'device_id';
  const message = `${field}: the token of device ${device} may not write device ${readings[others[0]!]!.deviceId}`;
  throw new HttpError(403, 'forbidden', message, batch ? { field, indexes: others } : { field });
}

export function ingestRoutes({ config, store, metrics: telemetry }: Context): Routes {
  const recordBatch = async (req: Request, readings: Reading[], res: Response) => {
    checkScope(req, readings, true);
    const outcome = await store.recordBatch(readings);
    telemetry.countBatch(readings.length, outcome.counted);
    res.status(202).json(batchReply(telemetry, config.rateLimitPerDevice, readings, outcome));
  };

  const event: Handler = async (req, res) => {
    const raw = jsonBody(req);
    const own = deviceScope(req);
    const body = isCloudEvent(req.headers) ? cloudEventBody(req.headers, raw, Date.now(), config.maxBatch, own) : ingestBody(raw, Date.now(), config.maxBatch, own);
    if (body.kind === 'batch') return recordBatch(req, body.readings, res);
    const { reading } = body;
    checkScope(req, [reading], false);
    const outcome = await store.recordOne(reading).catch((error: unknown) => {
      if (error instanceof StoreFullError) telemetry.countRefused('store_full', 1);
      throw error;
    });
    if (outcome.status === 'rate_limited') {
      telemetry.countRefused('rate_limited', 1);
      throw rateLimited(config.rateLimitPerDevice, reading.deviceId, outcome.retryAfterMs);
    }
    const head = { device_id: reading.deviceId, timestamp: apiTime(reading.timestamp) };
    if (outcome.status === 'duplicate') {
      res.status(202).json({ ...head, duplicate: true, metrics: {} });
      return;
    }
    const metrics = Object.fromEntries(reading.metrics.map(([name], i) => [name, outcome.metrics[i]!]));
    telemetry.countEvent(outcome.metrics.map((m, i) => [reading.metrics[i]![0], m.anomaly, m.episode]));
    res.status(202).json({ ...head, metrics });
  };

  const batch: Handler = async (req, res) => recordBatch(req, batchBody(jsonBody(req), Date.now(), config.maxBatch, deviceScope(req)), res);

  const write = (handler: Handler) => ({ POST: guarded(config.ingestTokens, handler, config.deviceTokenKeys) });
  return {
    '/': write(event),
    '/ingest': write(event),
    '/metrics-data': write(event),
    '/batch': write(batch),
    '/ingest/batch': write(batch),
    ...senderRoutes({ config, store, metrics: telemetry }),
    ...healthRoutes(store, { writes: true }),
  };
}
