import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyzeRoutes } from '../../functions/analyze/routes.js';
import { ingestRoutes } from '../../functions/ingest/routes.js';
import { loadConfig } from '../../shared/config/load.js';
import { createHeadroom } from '../../shared/store/headroom.js';
import { registry } from '../../shared/telemetry/metrics.js';
import { observe } from '../../shared/telemetry/observe.js';
import { type TestApp, request, startApp } from '../support/app.js';
import { type Running, startRedis } from '../../support/servers.js';

// A Redis of this file's own, with `maxmemory 3mb` and noeviction: the tests fill and empty it.
const MAXMEMORY = 3 * 1024 * 1024;
let redis: Running;
let raw: Redis;
let ingest: TestApp;
let analyze: TestApp;
beforeAll(async () => {
  redis = await startRedis();
  raw = new Redis(redis.url);
  await raw.config('SET', 'maxmemory-policy', 'noeviction');
  await raw.config('SET', 'maxmemory', String(MAXMEMORY));
  ingest = await startApp(ingestRoutes, { REDIS_URL: redis.url, KEY_PREFIX: 'ready:' });
  analyze = await startApp(analyzeRoutes, { REDIS_URL: redis.url, KEY_PREFIX: 'ready:' });
});
afterAll(async () => {
  raw?.disconnect();
  await ingest?.close();
  await analyze?.close();
  await redis?.stop();
});

const used = async () => Number(/^used_memory:(\d+)/m.exec(await raw.info('memory'))![1]) / MAXMEMORY;
let fillers = 0;
/** Adds 8 kB strings until used_memory reaches `fraction` of maxmemory (Redis stays below it). */
async function fillTo(fraction: number): Promise<void> {
  while ((await used()) < fraction) await raw.set(`filler:${fillers++}`, 'x'.repeat(8192));
}
/** Deletes the newest strings until used_memory is below `fraction` of maxmemory. */
async function drainTo(fraction: number): Promise<void> {
  while ((await used()) >= fraction && fillers > 0) await raw.del(`filler:${--fillers}`);
}
/** Readiness probed `times` times, 100 ms apart, as a kubelet would more slowly. */
async function probes(app: TestApp, times = 10): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < times; i++) {
    statuses.push((await request(`${app.url}/health/readiness`)).status);
    await sleep(100);
  }
  return statuses;
}

describe('readiness near a full Redis (maxmemory 3mb, noeviction)', () => {
  it('turns 503 at 95% of maxmemory and stays so until usage is below 90%, for a writer', async () => {
    expect(await probes(ingest, 2)).toEqual([200, 200]);

    // Between 95% and 100%: small writes still fit, larger ones do not; not ready, on every probe.
    await fillTo(0.975);
    expect(await used()).toBeLessThan(1);
    expect(await probes(ingest)).toEqual(Array(10).fill(503));
    const reply = await request(`${ingest.url}/health/readiness`);
    expect(reply.body).toMatchObject({ status: 'full', error: 'store_full' });
    expect(reply.body.message).toMatch(/near maxmemory \(READY_MEMORY_HIGH\)/);
    expect((await request(`${ingest.url}/health/liveness`)).status).toBe(200);

    // Back between 90% and 95%: still not ready (no flapping at the edge).
    await drainTo(0.925);
    expect(await used()).toBeGreaterThanOrEqual(0.9);
    expect(await probes(ingest, 5)).toEqual(Array(5).fill(503));

    // Below 90%: ready again, and stays ready while usage climbs back under 95%.
    await drainTo(0.85);
    expect(await probes(ingest, 3)).toEqual([200, 200, 200]);
    await fillTo(0.925);
    expect(await probes(ingest, 3)).toEqual([200, 200, 200]);
    await drainTo(0.5);
  });

  it('exports the share of maxmemory used, for the alert that fires before the wall', async () => {
    const stop = observe('readiness-test', ingest.context, { seriesGauges: false });
    const gauge = async () => Number(/^iot_redis_memory_used_ratio (\S+)$/m.exec(await registry.metrics())?.[1]);
    try {
      await fillTo(0.875);
      expect(await gauge()).toBeGreaterThanOrEqual(0.86);
      expect(await gauge()).toBeLessThan(0.95);
      await raw.config('SET', 'maxmemory-policy', 'allkeys-lru');
      expect(await gauge()).toBe(0);
    } finally {
      stop();
      await raw.config('SET', 'maxmemory-policy', 'noeviction');
      await drainTo(0.5);
    }
  });

  it('keeps a reader ready above the high mark, saying the store is full', async () => {
    await fillTo(0.975);
    try {
      const reply = await request(`${analyze.url}/health/readiness`);
      expect(reply.status).toBe(200);
      expect(reply.body).toEqual({ status: 'ok', store: 'full' });
    } finally {
      await drainTo(0.5);
    }
    expect((await request(`${analyze.url}/health/readiness`)).body).toEqual({ status: 'ok' });
  });
});

describe('createHeadroom', () => {
  it('is short from the high mark until below the low mark, and keeps its state on an unknown reading', () => {
    const headroom = createHeadroom(0.95, 0.9);
    const readings = [0, 0.94, undefined, 0.95, 0.999, undefined, 0.9, 0.8999, 0.94, 1.2, 0];
    expect(readings.map((r) => headroom.short(r))).toEqual([false, false, false, true, true, true, true, false, false, true, false]);
  });
});

describe('READY_MEMORY_HIGH and READY_MEMORY_LOW', () => {
  it('default to 95% and 90% of maxmemory', () => {
    const config = loadConfig({});
    expect([config.readyMemoryHigh, config.readyMemoryLow]).toEqual([0.95, 0.9]);
  });

  it.each([
    [{ READY_MEMORY_HIGH: '1.5' }, 'READY_MEMORY_HIGH must be a number from 0.5 to 1 (got "1.5")'],
    [{ READY_MEMORY_LOW: '0.2' }, 'READY_MEMORY_LOW must be a number from 0.5 to 1 (got "0.2")'],
    [{ READY_MEMORY_LOW: '0.95' }, 'READY_MEMORY_LOW must be below READY_MEMORY_HIGH (got 0.95 >= 0.95)'],
    [{ READY_MEMORY_HIGH: '0.8', READY_MEMORY_LOW: '0.85' }, 'READY_MEMORY_LOW must be below READY_MEMORY_HIGH (got 0.85 >= 0.8)'],
  ])('refuse %o with one line', (env, message) => {
    expect(() => loadConfig(env)).toThrowError(`Invalid configuration: ${message}`);
  });
});
