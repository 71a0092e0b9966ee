import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { moments, zScore } from '../../shared/detector/reference.js';
import { apiRoutes } from '../../functions/api.js';
import { analyzeRoutes } from '../../functions/analyze/routes.js';
import { statsRoutes } from '../../functions/stats/routes.js';
import { type TestApp, request, startApp } from '../support/app.js';
import { freePort } from '../../support/servers.js';

const cpu = [10, 12, 11, 13, 12, 11, 10, 12, 11, 13, 50];
let api: TestApp;

beforeAll(async () => {
  // Episodes on every run of flags: these few values then open one, and its keys are among those that expire.
  api = await startApp(apiRoutes, { SERIES_TTL_SECONDS: '3600', EPISODE_TRIGGER: 'flag' });
  for (const [i, value] of cpu.entries()) {
    const reply = await request(`${api.url}/ingest`, {
      body: { device_id: 'dev-a', timestamp: 1_700_000_000 + i, cpu: value, rps: 100 },
    });
    expect(reply.status).toBe(202);
  }
  await request(`${api.url}/ingest/batch`, { body: [{ device_id: 'dev-b', memory: 1 }, { device_id: 'dev-b', memory: 2 }] });
});
afterAll(() => api.close());

describe('GET /analyze', () => {
  it('with history=true, returns the values of the window the detector holds, oldest first', async () => {
    const app = await startApp(apiRoutes, { WINDOW_SIZE: '5', MIN_SAMPLES: '2' });
    try {
      const values = [3, 1, 4, 1, 5, 9, 2, 6];
      await request(`${app.url}/ingest/batch`, { body: values.map((v) => ({ device_id: 'hist', cpu: v, rps: -v })) });
      const reply = await request(`${app.url}/analyze?device=hist&metric=cpu&history=true`);
      expect(reply.body.series).toHaveLength(1);
      expect(reply.body.series[0]).toMatchObject({ metric: 'cpu', samples: 5, window: [1, 5, 9, 2, 6] });
      expect(reply.body.series[0].avg).toBeCloseTo(moments([1, 5, 9, 2, 6]).mean, 12);
      const all = await request(`${app.url}/analyze?device=hist&history=true`);
      expect(all.body.series.map((s: { window: number[] }) => s.window)).toEqual([[1, 5, 9, 2, 6], [-1, -5, -9, -2, -6]]);
      expect((await request(`${app.url}/analyze?device=hist`)).body.series[0]).not.toHaveProperty('window');
      expect((await request(`${app.url}/analyze?device=hist&history=false`)).body.series[0]).not.toHaveProperty('window');
      const bad = await request(`${app.url}/analyze?device=hist&history=yes`);
      expect(bad.status).toBe(400);
      expect(bad.body).toMatchObject({ error: 'invalid_query', details: [{ field: 'history', message: 'must be true or false' }] });
    } finally {
      await app.close();
    }
  });

  it('reports each series of a device against a recomputation', async () => {
    const reply = await request(`${api.url}/analyze?device=dev-a`);
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({ device_id: 'dev-a', window_size: 50, z_threshold: 2, min_samples: 10 });
    const [cpuSeries, rpsSeries] = reply.body.series;
    expect(cpuSeries).toMatchObject({ metric: 'cpu', value: 50, anomaly: true, samples: 11, count: 11, anomalies: 1 });
    expect(cpuSeries.avg).toBeCloseTo(moments(cpu).mean, 12);
    expect(cpuSeries.zscore).toBeCloseTo(zScore(50, cpu.slice(0, 10))!, 9);
    expect(cpuSeries.timestamp).toBe(new Date((1_700_000_000 + 10) * 1000).toISOString());
    expect(rpsSeries).toMatchObject({ metric: 'rps', value: 100, avg: 100, zscore: 0, anomaly: false, samples: 11 });
  });

  it('filters by metric, defaults to the "default" device, and answers empty for an unknown one', async () => {
    expect((await request(`${api.url}/analyze?device=dev-a&metric=rps`)).body.series.map((s: { metric: string }) => s.metric)).toEqual(['rps']);
    expect((await request(`${api.url}/analyze`)).body).toMatchObject({ device_id: 'default', series: [] });
    expect((await request(`${api.url}/analyze?device=nobody`)).body.series).toEqual([]);
  });

  it.each([
    ['device=a%20b', 'device'],
    ['metric=CPU', 'metric'],
  ])('refuses ?%s with 400 naming %s', async (query, field) => {
    const reply = await request(`${api.url}/analyze?${query}`);
    expect(reply.status).toBe(400);
    expect(reply.body).toMatchObject({ error: 'invalid_query', details: [{ field }] });
  });
});

describe('GET /anomalies', () => {
  it('gives totals per metric, the detector settings and the most recent anomalies', async () => {
    const reply = await request(`${api.url}/anomalies`);
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({
      window_size: 50,
      z_threshold: 2,
      total: 1,
      per_metric: { cpu: { events: 11, anomalies: 1 }, rps: { events: 11, anomalies: 0 }, memory: { events: 2, anomalies: 0 } },
    });
    expect(reply.body.recent).toHaveLength(1);
    expect(reply.body.recent[0]).toMatchObject({ device_id: 'dev-a', metric: 'cpu', value: 50, timestamp: '2023-11-14T22:13:30.000Z' });
    const perDevice = await request(`${api.url}/anomalies?device=dev-a&limit=5`);
    expect(perDevice.body.recent).toEqual(reply.body.recent);
    expect((await request(`${api.url}/anomalies?device=dev-b`)).body.recent).toEqual([]);
  });

  it.each(['limit=0', 'limit=abc', 'limit=100000'])('refuses ?%s', async (query) => {
    const reply = await request(`${api.url}/anomalies?${query}`);
    expect(reply.status).toBe(400);
    expect(reply.body).toMatchObject({ error: 'invalid_query', details: [{ field: 'limit' }] });
  });
});

describe('GET /stats and /devices', () => {
  it('counts events, anomalies, devices and series, and shows the configuration', async () => {
    const reply = await request(`${api.url}/stats`);
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({
      events: 13,
      anomalies: 1,
      devices: 2,
      series: 3,
      config: { window_size: 50, z_threshold: 2, min_samples: 10, max_batch: 1000, series_ttl_seconds: 3600 },
    });
  });

  it('lists the known devices, most recent first', async () => {
    const reply = await request(`${api.url}/devices`);
    expect(reply.body.devices.map((d: { device_id: string }) => d.device_id)).toEqual(['dev-b', 'dev-a']);
  });

  it('sets an expiry on every key of a device, so idle series go away', async () => {
    const { config } = api.context;
    const redis = new Redis(config.redisUrl);
    const found = await redis.keys(`${config.keyPrefix}dev:*`);
    // dev-a: series index, anomaly list, episode ids and records (its flag opened an episode), state
    // hash, and the windows of cpu and rps; dev-b: series index (no anomaly yet, so none of those),
    // state hash, window of memory.
    expect(found.length).toBe(7 + 3);
    for (const key of found) {
      const ttl = await redis.ttl(key);
      expect(ttl, key).toBeGreaterThan(3500);
      expect(ttl, key).toBeLessThanOrEqual(3600);
    }
    redis.disconnect();
  });
});

describe('each function on its own root, and health', () => {
  it('serves analyze and stats on /', async () => {
    const analyze = await startApp(analyzeRoutes);
    const stats = await startApp(statsRoutes);
    try {
      expect((await request(`${analyze.url}/`)).body).toMatchObject({ device_id: 'default', series: [] });
      expect((await request(`${stats.url}/`)).body).toMatchObject({ events: 0, devices: 0 });
      const wrong = await request(`${stats.url}/stats`, { body: {} });
      expect(wrong.status).toBe(405);
      expect(wrong.headers.get('allow')).toBe('GET');
    } finally {
      await Promise.all([analyze.close(), stats.close()]);
    }
  });

  it('serves the Prometheus text of the process on GET /metrics (all-in-one)', async () => {
    const response = await fetch(`${api.url}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await response.text();
    expect(text).toMatch(/^http_requests_total\{function="test-[^"]+",method="POST",route="\/ingest",status="202"\} \d+/m);
    expect(text).toMatch(/^metrics_processed_total\{metric="cpu"\} \d+/m);
    expect(text).toContain('# TYPE http_request_duration_seconds histogram');
  });

  it.each(['/health', '/healthz', '/health/liveness', '/health/readiness'])('%s is 200 while Redis answers', async (path) => {
    expect(await request(`${api.url}${path}`)).toMatchObject({ status: 200, body: { status: 'ok' } });
  });

  it('answers 503 on health and reads when Redis is unreachable, without a stack trace', async () => {
    const port = await freePort();
    const down = await startApp(apiRoutes, { REDIS_URL: `redis://127.0.0.1:${port}` });
    try {
      const health = await request(`${down.url}/health`);
      expect(health.status).toBe(503);
      const stats = await request(`${down.url}/stats`);
      expect(stats.status).toBe(503);
      expect(stats.body).toEqual({ error: 'unavailable', message: 'The data store is unavailable; retry shortly' });
      expect(stats.headers.get('retry-after')).toBe('1');
      const ingest = await request(`${down.url}/ingest`, { body: { cpu: 1 } });
      expect(ingest.status).toBe(503);
    } finally {
      await down.close();
    }
  });
});
