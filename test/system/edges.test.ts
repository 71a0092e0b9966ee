import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyzeRoutes } from '../../functions/analyze/routes.js';
import { apiRoutes } from '../../functions/api.js';
import { statsRoutes } from '../../functions/stats/routes.js';
import { loadConfig } from '../../shared/config/load.js';
import { registry } from '../../shared/telemetry/metrics.js';
import { type TestApp, request, startApp } from '../support/app.js';
import { type Running, startRedis } from '../../support/servers.js';

// Behaviour at the edges, each pinned because a mutant there went unnoticed.
describe('the all-in-one target', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startApp(apiRoutes, { INGEST_TOKENS: 'ingest-token-0123456789' });
  });
  afterAll(() => app?.close());

  it('lists its paths at GET /, sorted, /metrics included, and ingests at POST /', async () => {
    const index = await request(`${app.url}/`);
    expect(index.body.service).toBe('iot-metrics-analytics');
    expect(index.body.paths).toEqual([...index.body.paths].sort());
    expect(index.body.paths).toEqual(expect.arrayContaining(['/ingest', '/ingest/batch', '/analyze', '/anomalies', '/stats', '/metrics', '/health']));
    expect(index.body.paths).not.toContain('/');
    const headers = { authorization: 'Bearer ingest-token-0123456789 ' }; // trailing whitespace is no part of a token
    expect((await request(`${app.url}/`, { body: { device_id: 'root', cpu: 1 }, headers })).status).toBe(202);
    expect((await request(`${app.url}/`, { body: { device_id: 'root', cpu: 1 } })).status).toBe(401);
  });

  it('answers 404 with the paths it has, and 405 with the methods a path accepts', async () => {
    const missing = await request(`${app.url}/nowhere`);
    expect(missing.status).toBe(404);
    expect(missing.body.message).toBe('No such path: /nowhere');
    expect(missing.body.details.paths).toEqual(expect.arrayContaining(['/ingest', '/stats']));
    const wrong = await request(`${app.url}/stats`, { method: 'DELETE' });
    expect(wrong.status).toBe(405);
    expect(wrong.body.message).toBe('/stats accepts GET');
    expect(wrong.headers.get('allow')).toBe('GET');
  });

  it('routes a path with a trailing slash as the path, cuts a long unknown path in its 404, and lists every method in Allow', async () => {
    const headers = { authorization: 'Bearer ingest-token-0123456789' };
    expect((await request(`${app.url}/ingest/`, { body: { device_id: 'slash', cpu: 1 }, headers })).status).toBe(202);
    const health = await request(`${app.url}/health/`);
    expect(health.status).toBe(200);
    expect(health.body).toEqual((await request(`${app.url}/health`)).body);
    const long = await request(`${app.url}/${'x'.repeat(300)}`);
    expect(long.body.message).toBe(`No such path: /${'x'.repeat(199)}`);
    // Unknown paths are counted under one label, not one each (any client could mint labels otherwise).
    const routes = (await registry.getSingleMetric('http_requests_total')!.get()).values.filter((v) => v.labels.status === '404').map((v) => v.labels.route);
    expect(routes).toContain('unmatched');
    expect(routes.some((r) => String(r).includes('xxx'))).toBe(false);
    // GET / lists the paths and POST / ingests: a third method is told both.
    const wrong = await request(`${app.url}/`, { method: 'PUT', body: {} });
    expect([wrong.status, wrong.body.message, wrong.headers.get('allow')]).toEqual([405, '/ accepts GET, POST', 'GET, POST']);
    // A POST with no body at all is told what to send.
    const empty = await request(`${app.url}/ingest`, { method: 'POST', headers });
    expect(empty.body).toEqual({ error: 'empty_body', message: 'The request has no body: send a JSON event or batch' });
  });

  it('answers GET /devices with exactly `limit` devices, the most recent first', async () => {
    const headers = { authorization: 'Bearer ingest-token-0123456789' };
    for (const d of ['d-1', 'd-2', 'd-3']) await request(`${app.url}/ingest`, { body: { device_id: d, cpu: 1 }, headers });
    const two = await request(`${app.url}/devices?limit=2`);
    expect(two.body.devices.map((d: { device_id: string }) => d.device_id)).toEqual(['d-3', 'd-2']);
  });
});

describe('rate-limit answers', () => {
  it('ask to retry after the whole seconds the bucket needs, and say so for a batch refused whole', async () => {
    const app = await startApp(apiRoutes, { RATE_LIMIT_PER_DEVICE: '0.5', RATE_LIMIT_BURST: '1' });
    try {
      expect((await request(`${app.url}/ingest`, { body: { device_id: 'quick', cpu: 1 } })).status).toBe(202);
      const single = await request(`${app.url}/ingest`, { body: { device_id: 'quick', cpu: 1 } });
      expect(single.status).toBe(429);
      // One token every 2 s: the next one is ~2 s away.
      expect(single.headers.get('retry-after')).toBe('2');
      expect(single.body.message).toBe('Device quick is over its rate limit of 0.5 events/s; retry in 2 s');
      const batch = await request(`${app.url}/ingest/batch`, { body: [{ device_id: 'quick', cpu: 1 }, { device_id: 'quick', cpu: 2 }] });
      expect(batch.status).toBe(429);
      expect(batch.body.details).toEqual({ rate_limited: [0, 1], retry_after_seconds: 4 });
      expect(batch.body.message).toMatch(/retry in 4 s$/);
      expect(batch.headers.get('retry-after')).toBe('4');
    } finally {
      await app.close();
    }
  });
});

describe('readiness when Redis is at maxmemory', () => {
  let redis: Running;
  let raw: Redis;
  beforeAll(async () => {
    redis = await startRedis();
    raw = new Redis(redis.url);
  });
  afterAll(async () => {
    raw?.disconnect();
    await redis?.stop();
  });

  it('stays ready for a function that only reads, and for a Redis that evicts instead of refusing', async () => {
    const analyze = await startApp(analyzeRoutes, { REDIS_URL: redis.url });
    const stats = await startApp(statsRoutes, { REDIS_URL: redis.url });
    const api = await startApp(apiRoutes, { REDIS_URL: redis.url });
    try {
      await raw.config('SET', 'maxmemory-policy', 'noeviction');
      await raw.config('SET', 'maxmemory', '1');
      expect(await request(`${analyze.url}/health/readiness`)).toMatchObject({ status: 200, body: { status: 'ok', store: 'full' } });
      expect(await request(`${stats.url}/health/readiness`)).toMatchObject({ status: 200, body: { status: 'ok', store: 'full' } });
      expect((await request(`${api.url}/health/readiness`)).status).toBe(503);
      await raw.config('SET', 'maxmemory-policy', 'allkeys-lru');
      expect(await request(`${api.url}/health/readiness`)).toMatchObject({ status: 200, body: { status: 'ok' } });
    } finally {
      await raw.config('SET', 'maxmemory', '0');
      await analyze.close();
      await stats.close();
      await api.close();
    }
  });
});

describe('configuration refusals', () => {
  it('show at most 40 characters of a bad value', () => {
    expect(() => loadConfig({ WINDOW_SIZE: '9'.repeat(40) })).toThrowError(`(got "${'9'.repeat(40)}")`);
    expect(() => loadConfig({ WINDOW_SIZE: '9'.repeat(41) })).toThrowError(`(got "${'9'.repeat(40)}…")`);
  });

  it('take up to 100 METRICS_DEVICES, trimmed, and refuse more', () => {
    expect(loadConfig({ METRICS_DEVICES: ' a , b,,c ' }).metricsDevices).toEqual(['a', 'b', 'c']);
    const hundred = Array.from({ length: 100 }, (_, i) => `d${i}`);
    expect(loadConfig({ METRICS_DEVICES: hundred.join(',') }).metricsDevices).toHaveLength(100);
    expect(() => loadConfig({ METRICS_DEVICES: [...hundred, 'd100'].join(',') })).toThrowError(/METRICS_DEVICES/);
  });
});

describe('configuration rules at their bounds', () => {
  it('take whole numbers within their range, both ends included, surrounding spaces ignored', () => {
    expect(loadConfig({ WINDOW_SIZE: '10000', MIN_SAMPLES: '10000' })).toMatchObject({ windowSize: 10_000, minSamples: 10_000 });
    expect(loadConfig({ WINDOW_SIZE: ' 2 ', MIN_SAMPLES: '2' })).toMatchObject({ windowSize: 2, minSamples: 2 });
    for (const bad of ['10001', '1', '5x', 'x5', '5.0', '1e3']) expect(() => loadConfig({ WINDOW_SIZE: bad }), bad).toThrowError(/WINDOW_SIZE must be an integer from 2 to 10000/);
    expect(() => loadConfig({ WINDOW_SIZE: '5', MIN_SAMPLES: '6' })).toThrowError('MIN_SAMPLES must not exceed WINDOW_SIZE (got 6 > 5)');
  });

  it('take positive numbers only, and name an empty one as unset', () => {
    expect(loadConfig({ Z_THRESHOLD: '0.5' }).zThreshold).toBe(0.5);
    expect(loadConfig({ Z_THRESHOLD: '' }).zThreshold).toBe(2);
    for (const bad of ['0', '-1', ' ', 'NaN', 'Infinity', 'x']) expect(() => loadConfig({ Z_THRESHOLD: bad }), bad).toThrowError(/Z_THRESHOLD must be a number greater than 0/);
  });

  it('take tokens of 16 characters or more, trimmed, and refuse shorter ones or inner spaces', () => {
    expect(loadConfig({ INGEST_TOKENS: ` ${'a'.repeat(16)} , ${'b'.repeat(20)}` }).ingestTokens).toEqual(['a'.repeat(16), 'b'.repeat(20)]);
    for (const bad of ['a'.repeat(15), `${'a'.repeat(10)} ${'a'.repeat(10)}`]) expect(() => loadConfig({ INGEST_TOKENS: bad })).toThrowError(/INGEST_TOKENS/);
  });
});
