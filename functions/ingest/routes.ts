import type { Response } from '@google-cloud/functions-framework';
import type { Context } from '../../shared/context.js';
import { HttpError } from '../../shared/http/errors.js';
import { healthRoutes } from '../../shared/http/health.js';
import { batchBody, ingestBody } from '../../shared/http/parse.js';
import { jsonBody } from '../../shared/http/pipeline.js';
import { type Handler, type Routes, guarded } from '../../shared/http/routes.js';
import type { Reading } from '../../shared/schemas/event.js';
import { apiTime } from '../../shared/schemas/time.js';
import { countBatch, countEvent } from '../../shared/telemetry/metrics.js';

export function ingestRoutes({ config, store }: Context): Routes {
  const rateLimited = (device: string, retryAfterMs: number, details?: unknown) => {
    const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
    return new HttpError(
      429,
      'rate_limited',
      `Device ${device} is over its rate limit of ${config.rateLimitPerDevice} events/s; retry in ${seconds} s`,
      details ?? { retry_after_seconds: seconds },
      { 'Retry-After': String(seconds) },
    );
  };

  const recordBatch = async (readings: Reading[], res: Response) => {
    const outcome = await store.recordBatch(readings);
    countBatch(readings.length, outcome.counted);
    const refused = outcome.rateLimited.map((r) => r.index);
    const retryAfterSeconds = Math.max(1, ...outcome.rateLimited.map((r) => Math.ceil(r.retryAfterMs / 1000)));
    const limited = { rate_limited: refused, retry_after_seconds: retryAfterSeconds };
    if (refused.length === readings.length) throw rateLimited(readings[0]!.deviceId, retryAfterSeconds * 1000, limited);
    res.status(202).json({
      accepted: readings.length - refused.length,
      anomalies: outcome.anomalies,
      duplicates: outcome.duplicates,
      ...(refused.length > 0 ? limited : {}),
    });
  };

  const event: Handler = async (req, res) => {
    const body = ingestBody(jsonBody(req), Date.now(), config.maxBatch);
    if (body.kind === 'batch') return recordBatch(body.readings, res);
    const { reading } = body;
    const outcome = await store.recordOne(reading);
    if (outcome.status === 'rate_limited') throw rateLimited(reading.deviceId, outcome.retryAfterMs);
    const head = { device_id: reading.deviceId, timestamp: apiTime(reading.timestamp) };
    if (outcome.status === 'duplicate') {
      res.status(202).json({ ...head, duplicate: true, metrics: {} });
      return;
    }
    const metrics = Object.fromEntries(reading.metrics.map(([name], i) => [name, outcome.metrics[i]!]));
    countEvent(outcome.metrics.map((m, i) => [reading.metrics[i]![0], m.anomaly]));
    res.status(202).json({ ...head, metrics });
  };

  const batch: Handler = async (req, res) => recordBatch(batchBody(jsonBody(req), Date.now(), config.maxBatch), res);

  const write = (handler: Handler) => ({ POST: guarded(config.ingestTokens, handler) });
  return {
    '/': write(event),
    '/ingest': write(event),
    '/metrics-data': write(event),
    '/batch': write(batch),
    '/ingest/batch': write(batch),
    ...healthRoutes(store),
  };
}
