import type { Response } from '@google-cloud/functions-framework';
import { readJson } from '../../shared/body.js';
import type { Context } from '../../shared/context.js';
import { healthRoutes } from '../../shared/health.js';
import type { Handler, Routes } from '../../shared/http.js';
import { countProcessed, observeBatch } from '../../shared/metrics.js';
import { batchBody, ingestBody } from '../../shared/requests.js';
import type { Reading } from '../../shared/schemas.js';

export function ingestRoutes(context: Context): Routes {
  const { config, store } = context;

  const recordBatch = async (readings: Reading[], res: Response) => {
    const anomalies = await store.recordBatch(readings);
    countBatch(readings, anomalies);
    observeBatch(readings.length);
    res.status(202).json({ accepted: readings.length, anomalies });
  };

  const event: Handler = async (req, res) => {
    const body = ingestBody(await readJson(req, config.maxBodyBytes), Date.now(), config.maxBatch);
    if (body.kind === 'batch') return recordBatch(body.readings, res);
    const { reading } = body;
    const results = await store.recordOne(reading);
    const metrics = Object.fromEntries(reading.metrics.map(([name], i) => [name, results[i]!]));
    for (const [name] of reading.metrics) countProcessed(name, 1, metrics[name]!.anomaly ? 1 : 0);
    observeBatch(1);
    res.status(202).json({ device_id: reading.deviceId, timestamp: new Date(reading.timestamp).toISOString(), metrics });
  };

  const batch: Handler = async (req, res) => {
    const readings = batchBody(await readJson(req, config.maxBodyBytes), Date.now(), config.maxBatch);
    return recordBatch(readings, res);
  };

  return {
    '/': { POST: event },
    '/ingest': { POST: event },
    '/metrics-data': { POST: event },
    '/batch': { POST: batch },
    '/ingest/batch': { POST: batch },
    ...healthRoutes(context),
  };
}

function countBatch(readings: Reading[], anomalies: ReadonlyArray<{ metric: string }>): void {
  const values = new Map<string, number>();
  for (const r of readings) for (const [name] of r.metrics) values.set(name, (values.get(name) ?? 0) + 1);
  const flagged = new Map<string, number>();
  for (const a of anomalies) flagged.set(a.metric, (flagged.get(a.metric) ?? 0) + 1);
  for (const [name, n] of values) countProcessed(name, n, flagged.get(name) ?? 0);
}
