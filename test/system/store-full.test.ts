import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiRoutes } from '../../functions/api.js';
import { keys } from '../../shared/store/keys.js';
import { registry } from '../../shared/telemetry/metrics.js';
import { type TestApp, request, startApp } from '../support/app.js';
import { type Running, startRedis } from '../../support/servers.js';

// A Redis of this file's own: the tests set its maxmemory.
let redis: Running;
let raw: Redis;
let app: TestApp;
beforeAll(async () => {
  redis = await startRedis();
  raw = new Redis(redis.url);
  app = await startApp(apiRoutes, { REDIS_URL: redis.url, KEY_PREFIX: 'full:', MAX_BATCH: '10000', MAX_BODY_BYTES: '4194304' });
});
afterAll(async () => {
  raw?.disconnect();
  await app?.close();
  await redis?.stop();
});

const usedMemory = async () => Number(/^used_memory:(\d+)/m.exec(await raw.info('memory'))![1]);
const refusedFull = async () => (await registry.getSingleMetric('events_refused_total')!.get()).values.find((v) => v.labels.reason === 'store_full')?.value ?? 0;
/** 1,500 devices, two events each, the two far apart in the batch (so each device is one run of two). */
const fleet = Array.from({ length: 3000 }, (_, i) => ({ device_id: `full-${i % 1500}`, cpu: i, rps: 2 * i }));

describe('Redis at maxmemory with noeviction', () => {
  it('refuses whole devices of a batch once memory runs out, says which, and takes them all once memory is freed', async () => {
    expect((await request(`${app.url}/ingest/batch`, { body: [{ device_id: 'warm', cpu: 1 }] })).status).toBe(202);
    const before = await app.context.store.totals();
    const counted = await refusedFull();
    await raw.config('SET', 'maxmemory-policy', 'noeviction');
    await raw.config('SET', 'maxmemory', String((await usedMemory()) + 400_000));

    const reply = await request(`${app.url}/ingest/batch`, { body: fleet });
    expect(reply.status).toBe(202);
    const refused: number[] = reply.body.store_full;
    expect(refused.length).toBeGreaterThan(0);
    expect(refused.length).toBeLessThan(3000);
    expect(reply.body.accepted).toBe(3000 - refused.length);
    expect(reply.body.retry_after_seconds).toBe(30);
    // By index, though refused device by device (a device's two events are 1,500 apart).
    expect(refused).toEqual([...refused].sort((a, b) => a - b));
    // Never half a device: both events of a device are refused, or both applied.
    const refusedDevices = new Set(refused.map((i) => fleet[i]!.device_id));
    expect(refused).toHaveLength(2 * refusedDevices.size);
    for (const device of ['full-0', 'full-749', 'full-1499']) {
      const series = await app.context.store.series(device);
      if (refusedDevices.has(device)) {
        expect(series).toEqual([]);
        expect(await raw.exists(`full:${keys.window(device, 'cpu')}`, `full:${keys.deviceState(device)}`)).toBe(0);
      } else {
        expect(series.map((s) => s.count)).toEqual([2, 2]);
      }
    }
    // The totals count exactly the events applied, and the refusals are counted for Prometheus.
    const totals = await app.context.store.totals();
    expect(totals.events - before.events).toBe(3000 - refused.length);
    expect((await refusedFull()) - counted).toBe(refused.length);

    // A single event is refused whole, with a clear code; the writer is not ready, but alive.
    const countedBefore = await refusedFull();
    const single = await request(`${app.url}/ingest`, { body: { device_id: 'late', cpu: 1 } });
    expect(single.status).toBe(503);
    expect((await refusedFull()) - countedBefore).toBe(1);
    expect(single.body).toMatchObject({ error: 'store_full' });
    expect(single.body.message).toMatch(/maxmemory/);
    expect(single.headers.get('retry-after')).toBe('30');
    expect(await app.context.store.series('late')).toEqual([]);
    expect((await request(`${app.url}/health/readiness`)).body).toMatchObject({ status: 'full', error: 'store_full' });
    expect((await request(`${app.url}/health/readiness`)).status).toBe(503);
    expect((await request(`${app.url}/health/liveness`)).status).toBe(200);
    // A batch refused whole is a 503 that still lists what was refused.
    const whole = await request(`${app.url}/ingest/batch`, { body: [{ device_id: 'late', cpu: 1 }, { device_id: 'later', cpu: 2 }] });
    expect(whole.status).toBe(503);
    expect(whole.body).toMatchObject({ error: 'store_full', details: { store_full: [0, 1] } });

    // Memory freed: the refused events are sent again and taken, each once.
    await raw.config('SET', 'maxmemory', '0');
    expect((await request(`${app.url}/health/readiness`)).status).toBe(200);
    const again = await request(`${app.url}/ingest/batch`, { body: refused.map((i) => fleet[i]) });
    expect(again.status).toBe(202);
    expect(again.body).toEqual({ accepted: refused.length, anomalies: [], alerts: [], duplicates: [] });
    for (const device of ['full-0', 'full-749', 'full-1499']) expect((await app.context.store.series(device)).map((s) => s.count)).toEqual([2, 2]);
    expect((await app.context.store.totals()).events - before.events).toBe(3000);
  });

  it('is ready under a maxmemory not reached, and under one reached where Redis may evict', async () => {
    try {
      await raw.config('SET', 'maxmemory-policy', 'noeviction');
      await raw.config('SET', 'maxmemory', String((await usedMemory()) + 100_000_000));
      expect((await request(`${app.url}/health/readiness`)).status).toBe(200);
      await raw.config('SET', 'maxmemory-policy', 'allkeys-lru');
      await raw.config('SET', 'maxmemory', String(await usedMemory()));
      expect((await request(`${app.url}/health/readiness`)).status).toBe(200);
    } finally {
      await raw.config('SET', 'maxmemory', '0');
      await raw.config('SET', 'maxmemory-policy', 'noeviction');
    }
  });
});
