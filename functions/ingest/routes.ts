import type { Response } from '@google-cloud/functions-framework';
import { bearer } from '../../shared/http/auth.js';
import { readJson } from '../../shared/http/body.js';
import type { Context } from '../../shared/context.js';
import { healthRoutes } from '../../shared/http/health.js';
import { type Handler, HttpError, type Routes } from '../../shared/http/pipeline.js';
import { countProcessed, observeBatch } from '../../shared/telemetry/metrics.js';
import { batchBody, ingestBody } from '../../shared/http/parse.js';
import type { Reading } from '../../shared/schemas/event.js';
import type { BatchOutcome } from '../../shared/store/store.js';

export function ingestRoutes(context: Context): Routes {
  const { config, store } = context;

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
    countBatch(readings, outcome);
    observeBatch(readings.length);
    const refused = outcome.rateLimited;
    const retryAfterSeconds = Math.max(1, ...refused.map((r) => Math.ceil(r.retryAfterMs / 1000)));
    if (refused.length === readings.length) {
      throw rateLimited(readings[0]!.deviceId, retryAfterSeconds * 1000, {
        rate_limited: refused.map((r) => r.index),
        retry_after_seconds: retryAfterSeconds,
      });
    }
    res.status(202).json({
      accepted: readings.length - refused.length,
      anomalies: outcome.anomalies,
      duplicates: outcome.duplicates,
      ...(refused.length > 0 ? { rate_limited: refused.map((r) => r.index), retry_after_seconds: retryAfterSeconds } : {}),
    });
  };

  const event: Handler = async (req, res) => {
    const body = ingestBody(await readJson(req, config.maxBodyBytes), Date.now(), config.maxBatch);
    if (body.kind === 'batch') return recordBatch(body.readings, res);
    const { reading } = body;
    const outcome = await store.recordOne(reading);
    if (outcome.status === 'rate_limited') throw rateLimited(reading.deviceId, outcome.retryAfterMs);
    const head = { device_id: reading.deviceId, timestamp: new Date(reading.timestamp).toISOString() };
    if (outcome.status === 'duplicate') {
      res.status(202).json({ ...head, duplicate: true, metrics: {} });
      return;
    }
    const metrics = Object.fromEntries(reading.metrics.map(([name], i) => [name, outcome.metrics[i]!]));
    for (const [name] of reading.metrics) countProcessed(name, 1, metrics[name]!.anomaly ? 1 : 0);
    observeBatch(1);
    res.status(202).json({ ...head, metrics });
  };

  const batch: Handler = async (req, res) => {
    const readings = batchBody(await readJson(req, config.maxBodyBytes), Date.now(), config.maxBatch);
    return recordBatch(readings, res);
  };

  const guard = bearer(config.ingestTokens);
  return {
    '/': { POST: guard(event) },
    '/ingest': { POST: guard(event) },
    '/metrics-data': { POST: guard(event) },
    '/batch': { POST: guard(batch) },
    '/ingest/batch': { POST: guard(batch) },
    ...healthRoutes(context),
  };
}

/** Counts the values of the events applied now (not duplicates, not refused). */
function countBatch(readings: Reading[], outcome: BatchOutcome): void {
  const skipped = new Set([...outcome.duplicates, ...outcome.rateLimited.map((r) => r.index)]);
  const values = new Map<string, number>();
  readings.forEach((r, index) => {
    if (skipped.has(index)) return;
    for (const [name] of r.metrics) values.set(name, (values.get(name) ?? 0) + 1);
  });
  const flagged = new Map<string, number>();
  for (const a of outcome.anomalies) flagged.set(a.metric, (flagged.get(a.metric) ?? 0) + 1);
  for (const [name, n] of values) countProcessed(name, n, flagged.get(name) ?? 0);
}
