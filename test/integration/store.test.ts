import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { moments } from '../../shared/detector/reference.js';
import { normalCdf, scoreOf } from '../../shared/detector/detection.js';
import { loadConfig } from '../../shared/config/load.js';
import { createContext } from '../../shared/context.js';
import { ingestRoutes } from '../../functions/ingest/routes.js';
import type { Reading } from '../../shared/schemas/event.js';
import { StoreFullError, StoreUnavailableError } from '../../shared/store/errors.js';
import { keys } from '../../shared/store/keys.js';
import { decodeState } from '../../shared/store/series-state.js';
import { createDetailedRecorder } from '../../shared/store/record-detailed.js';
import { registry } from '../../shared/telemetry/metrics.js';
import { request, startApp, testConfig } from '../support/app.js';
import { type DetailedStore, withDetailed } from '../support/detailed-store.js';

const opened: DetailedStore[] = [];
afterAll(() => Promise.all(opened.map((s) => s.close())));
function open(env: Record<string, string>): DetailedStore {
  const { config, store, metrics } = createContext(loadConfig(env));
  const detailed = withDetailed(store, config, metrics);
  opened.push(detailed);
  return detailed;
}
const readings = (device: string, values: number[]): Reading[] =>
  values.map((v, i) => ({ deviceId: device, timestamp: i, metrics: [['cpu', v]] }));

describe('the store', () => {
  it('trims and rebuilds a series when WINDOW_SIZE changes under it', async () => {
    const base = testConfig();
    const env = { REDIS_URL: base.redisUrl, KEY_PREFIX: base.keyPrefix, MIN_SAMPLES: '2' };
    const wide = open({ ...env, WINDOW_SIZE: '50' });
    const narrow = open({ ...env, WINDOW_SIZE: '10' });
    const values = Array.from({ length: 40 }, (_, i) => i * i);
    await wide.recordBatch(readings('resize', values));
    const [outcome] = await narrow.recordDetailed(readings('resize', [5]));
    const result = outcome?.status === 'applied' ? outcome.metrics[0] : undefined;
    const window = [...values.slice(-9), 5];
    expect(result!.avg).toBeCloseTo(moments(window).mean, 9);
    const [series] = await narrow.series('resize', 'cpu');
    expect(series).toMatchObject({ samples: 10, count: 41 });
  });

  it('takes back the event totals of a device whose script failed, and answers 500 without detail', async () => {
    const app = await startApp(ingestRoutes);
    const { config, store } = app.context;
    const raw = new Redis(config.redisUrl);
    const detailed = createDetailedRecorder(config, app.context.metrics);
    try {
      // A key of the wrong type makes the script fail for this device only, at its first write.
      await raw.set(`${config.keyPrefix}dev:{broken}:w:cpu`, 'not a list');
      const reply = await request(`${app.url}/batch`, { body: [{ device_id: 'fine', cpu: 1 }, { device_id: 'broken', cpu: 2, rps: 3 }] });
      expect(reply.status).toBe(500);
      expect(reply.body).toEqual({ error: 'internal', message: 'Internal error' });
      expect(await store.totals()).toEqual({ events: 1, anomalies: 0, episodes: 0, per_metric: { cpu: { events: 1, anomalies: 0, episodes: 0 } } });
      expect((await store.series('fine'))[0]).toMatchObject({ metric: 'cpu', count: 1 });
      expect(await store.series('broken')).toEqual([]);
      // A caller that answers as a whole (the detailed record) gets the script's error itself.
      await expect(detailed.recordDetailed([{ deviceId: 'broken', timestamp: Date.now(), metrics: [['cpu', 1]] }])).rejects.toThrow(/WRONGTYPE/);
    } finally {
      raw.disconnect();
      await detailed.close();
      await app.close();
    }
  });

  it('drops devices and series idle past the TTL from their indexes, at most once a minute', async () => {
    const base = testConfig();
    const prefix = `${base.keyPrefix}prune:`;
    const store = open({ REDIS_URL: base.redisUrl, KEY_PREFIX: prefix, SERIES_TTL_SECONDS: '3600' });
    const raw = new Redis(base.redisUrl, { keyPrefix: prefix });
    const members = async (key: string) => (await raw.zrange(key, '0', '-1')).sort();
    const idle = async (...names: string[]) => {
      for (const key of [keys.devices, keys.series]) for (const name of names) await raw.zadd(key, String(Date.now() - 2 * 3600_000), name);
    };
    try {
      await idle('idle');
      for (const key of [keys.devices, keys.series]) await raw.zadd(key, String(Date.now() - 600_000), 'recent');
      await store.recordBatch([{ deviceId: 'live', timestamp: Date.now(), metrics: [['cpu', 1]] }]);
      // The prune is not awaited by the write: wait for it.
      for (let i = 0; i < 50 && (await members(keys.devices)).includes('idle'); i++) await new Promise((r) => setTimeout(r, 20));
      expect(await members(keys.devices)).toEqual(['live', 'recent']);
      expect(await members(keys.series)).toEqual(['live/cpu', 'recent']);
      // Within the minute, the next write prunes nothing.
      await idle('idle-again');
      await store.recordBatch([{ deviceId: 'live', timestamp: Date.now(), metrics: [['cpu', 2]] }]);
      await new Promise((r) => setTimeout(r, 200));
      expect(await members(keys.devices)).toEqual(['idle-again', 'live', 'recent']);
    } finally {
      raw.disconnect();
    }
  });

  it('lists the totals per metric by name, without a metric left with only zeros by an earlier version', async () => {
    const base = testConfig();
    const prefix = `${base.keyPrefix}totals:`;
    const store = open({ REDIS_URL: base.redisUrl, KEY_PREFIX: prefix });
    await store.recordBatch([{ deviceId: 'names', timestamp: Date.now(), metrics: [['zeta', 1], ['alpha', 2], ['mid', 3]] }]);
    const raw = new Redis(base.redisUrl, { keyPrefix: prefix });
    try {
      // Earlier versions counted events before applying them and took back those refused.
      await raw.hset(keys.totals, 'events:gone', '0', 'anomalies:gone', '0');
      const totals = await store.totals();
      expect(Object.keys(totals.per_metric)).toEqual(['alpha', 'mid', 'zeta']);
      expect(totals).toMatchObject({ events: 1, anomalies: 0, episodes: 0 });
    } finally {
      raw.disconnect();
    }
  });
});

describe('request bodies', () => {
  it('refuses a body over MAX_BODY_BYTES with 413, declared or chunked', async () => {
    const app = await startApp(ingestRoutes, { MAX_BODY_BYTES: '2048' });
    try {
      const big = JSON.stringify(Array.from({ length: 200 }, (_, i) => ({ device_id: `d${i}`, cpu: i })));
      const declared = await request(`${app.url}/batch`, { raw: big });
      expect(declared.status).toBe(413);
      expect(declared.body).toMatchObject({ error: 'payload_too_large', details: { limit_bytes: 2048 } });
      const chunks = new ReadableStream({
        start(controller) {
          for (let i = 0; i < 10; i++) controller.enqueue(new TextEncoder().encode(big.slice(i * 500, (i + 1) * 500)));
          controller.close();
        },
      });
      const chunked = await fetch(`${app.url}/batch`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: chunks,
        duplex: 'half',
      } as RequestInit);
      expect(chunked.status).toBe(413);
      expect(await app.context.store.totals()).toMatchObject({ events: 0 });
      const small = await request(`${app.url}/batch`, { raw: big.slice(0, 1000).replace(/,\{[^}]*$/, ']') });
      expect(small.status).toBe(202);
    } finally {
      await app.close();
    }
  });
});

describe('the store errors', () => {
  it('say what failed, by name and with the cause in the message', () => {
    const away = new StoreUnavailableError(new Error('connect ECONNREFUSED'));
    expect(away).toMatchObject({ name: 'StoreUnavailableError', message: 'the data store is unavailable: connect ECONNREFUSED' });
    const full = new StoreFullError('OOM command not allowed');
    expect(full).toMatchObject({ name: 'StoreFullError', message: 'the data store is full: OOM command not allowed', cause: 'OOM command not allowed' });
  });
});

describe('the store timings', () => {
  it('time a record call as record (a reply for every value) or record_batch (only anomalies)', async () => {
    const base = testConfig();
    const store = open({ REDIS_URL: base.redisUrl, KEY_PREFIX: `${base.keyPrefix}timings:` });
    const count = async (operation: string) =>
      ((await registry.getSingleMetric('redis_operation_duration_seconds')!.get()).values as Array<{ labels: Record<string, string>; metricName?: string; value: number }>)
        .find((v) => v.metricName === 'redis_operation_duration_seconds_count' && v.labels.operation === operation)?.value ?? 0;
    const before = { record: await count('record'), batch: await count('record_batch') };
    await store.recordDetailed([{ deviceId: 'timed', timestamp: Date.now(), metrics: [['cpu', 1]] }]);
    expect([await count('record') - before.record, await count('record_batch') - before.batch]).toEqual([1, 0]);
    await store.recordBatch([{ deviceId: 'timed', timestamp: Date.now(), metrics: [['cpu', 2]] }]);
    expect([await count('record') - before.record, await count('record_batch') - before.batch]).toEqual([1, 1]);
  });
});

describe('the packed series state', () => {
  const packed = (...doubles: number[]) => {
    const buffer = Buffer.alloc(8 * doubles.length);
    doubles.forEach((d, i) => buffer.writeDoubleLE(d, 8 * i));
    return buffer;
  };
  // version, n, k, s1, s2, e1, e2, w, count, anomalies, refreshed, last, sh, mu, v, lc, same, ep, cool,
  // episodes, avg, z, bits (1 anomaly, 2 scored), ts, updated, d, variance; then the baseline method's 12
  const base = [6, 10, 11, 0, 10, 0, 0, 50, 500, 7, 1000, 12, 0.5, 0.1, 0.01, 200, 1, 0, 0, 3, 11, 2.5, 3, 5000, 6000, 0.2, 0.04];
  const method = [40, 11, 0.1, 2, 0.3, 0, 12, 1, 0.05, 13, 11.5, 40];

  it('reads layout v6, with and without an open episode: the score and likelihood from z, the scored bit, d and the variance', () => {
    const closed = decodeState(packed(...base, ...method))!;
    expect(closed).toMatchObject({ version: 6, n: 10, w: 50, count: 500, anomalies: 7, last: 12, lc: 200, episodes: 3, ep: 0, avg: 11, z: 2.5, anomaly: 1, ts: 5000, updated: 6000, start: 0 });
    expect([closed.score, closed.likelihood]).toEqual([scoreOf(2.5, true), normalCdf(0.2 / Math.sqrt(0.04))]);
    const open = decodeState(packed(...base.slice(0, 17), 1, 0, 4, ...base.slice(20), ...method, 777, 1, 778, 0.9, 20, 779, 19, 0.8, 0.6, 780))!;
    expect(open).toMatchObject({ ep: 1, episodes: 4, avg: 11, start: 777, calm: 1, last_unusual: 778, peak: 0.9, peak_value: 20, peak_at: 779, open_value: 19, open_score: 0.8, open_likelihood: 0.6, opened_at: 780 });
    // Scored but not flagged; then neither scored (score 0) nor past the likelihood's learning (0.5).
    expect(decodeState(packed(...base.slice(0, 22), 2, ...base.slice(23), ...method))).toMatchObject({ anomaly: 0, score: scoreOf(2.5, true) });
    expect(decodeState(packed(...base.slice(0, 22), 0, ...base.slice(23, 26), 0, ...method))).toMatchObject({ anomaly: 0, score: 0, likelihood: 0.5 });
  });

  it('reads nothing from a missing value, another layout or an unknown length (npm run migrate rewrites older layouts)', () => {
    expect(decodeState(null)).toBeUndefined();
    expect(decodeState(Buffer.alloc(0))).toBeUndefined();
    expect(decodeState(packed(4, ...base.slice(1)))).toBeUndefined(); // v4: the 27 alone
    expect(decodeState(packed(5, ...base.slice(1), ...method))).toBeUndefined(); // v5 of the same length
    expect(decodeState(packed(3, ...Array.from({ length: 36 }, () => 1)))).toBeUndefined(); // v3
    expect(decodeState(packed(1, ...Array.from({ length: 16 }, () => 1)))).toBeUndefined(); // v1
    expect(decodeState(packed(...base))).toBeUndefined(); // v6 without the method's numbers
    expect(decodeState(packed(...base, ...method, 1))).toBeUndefined();
    expect(decodeState(packed(6, 1, 2))).toBeUndefined();
  });
});
