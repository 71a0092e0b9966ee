import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ingestRoutes } from '../../functions/ingest/routes.js';
import { decodeState } from '../../shared/store/series-state.js';
import { registry } from '../../shared/telemetry/metrics.js';
import { rng } from '../../support/random.js';
import { type TestApp, request, snapshot, startApp } from '../support/app.js';
import { startFunction } from '../../support/functions.js';

const refusedLimited = async () =>
  (await registry.getSingleMetric('events_refused_total')!.get()).values.find((v) => v.labels.reason === 'rate_limited')?.value ?? 0;

describe('idempotent retries', () => {
  const prefix = `t:${randomUUID().slice(0, 8)}:`;
  let instances: Array<Awaited<ReturnType<typeof startFunction>>> = [];
  let redis: Redis;
  beforeAll(async () => {
    const env = { REDIS_URL: inject('redisUrl'), KEY_PREFIX: prefix };
    instances = await Promise.all([startFunction('ingest', env), startFunction('ingest', env), startFunction('stats', env)]);
    redis = new Redis(inject('redisUrl'));
  });
  afterAll(async () => {
    await Promise.all(instances.map((i) => i.stop()));
    redis.disconnect();
  });

  it('count each event once under a retry storm through two processes', async () => {
    const [a, b, stats] = instances;
    const r = rng(5);
    const devices = 10;
    const events = 100;
    const replies: Array<{ device: string; status: number; duplicate: boolean }> = [];
    await Promise.all(
      Array.from({ length: devices }, async (_, d) => {
        const device = `retry-${d}`;
        for (let v = 0; v < events; v++) {
          // Each event goes out 1-3 times, the copies at once, to either process.
          const copies = r.int(1, 3);
          const body = { device_id: device, id: `e-${v}`, cpu: v, rps: 2 * v };
          const sent = await Promise.all(
            Array.from({ length: copies }, (_, k) => request(`${(k % 2 ? a : b)!.url}/ingest`, { body })),
          );
          for (const reply of sent) replies.push({ device, status: reply.status, duplicate: reply.body.duplicate === true });
        }
      }),
    );
    expect(replies.every((x) => x.status === 202)).toBe(true);
    expect(replies.filter((x) => !x.duplicate)).toHaveLength(devices * events);
    expect(replies.filter((x) => x.duplicate).length).toBeGreaterThan(devices * events * 0.5);

    for (let d = 0; d < devices; d++) {
      const window = (await redis.lrange(`${prefix}dev:{retry-${d}}:w:cpu`, 0, -1)).map(Number);
      expect(window).toEqual(Array.from({ length: 50 }, (_, i) => events - 50 + i));
      const state = decodeState(await redis.hgetBuffer(`${prefix}dev:{retry-${d}}:state`, 'cpu'))!;
      expect(state.count).toBe(events);
    }
    const totals = await request(`${stats!.url}/stats`);
    expect(totals.body).toMatchObject({ events: devices * events, per_metric: { cpu: { events: devices * events }, rps: { events: devices * events } } });
  });

  it('apply a resent event again once its id has expired', async () => {
    const app = await startApp(ingestRoutes, { IDEMPOTENCY_TTL_SECONDS: '1' });
    try {
      const body = { device_id: 'expiring', id: 'same', cpu: 1 };
      expect((await request(`${app.url}/ingest`, { body })).body.duplicate).toBeUndefined();
      expect((await request(`${app.url}/ingest`, { body })).body).toMatchObject({ duplicate: true, metrics: {} });
      await new Promise((resolve) => setTimeout(resolve, 1100));
      expect((await request(`${app.url}/ingest`, { body })).body.duplicate).toBeUndefined();
      expect((await app.context.store.series('expiring'))[0]).toMatchObject({ count: 2 });
    } finally {
      await app.close();
    }
  });

  it('treat the same id twice in one batch as one event', async () => {
    const app = await startApp(ingestRoutes);
    try {
      const reply = await request(`${app.url}/batch`, {
        body: [{ device_id: 'twice', id: 'x', cpu: 1 }, { device_id: 'twice', id: 'x', cpu: 1 }, { device_id: 'twice', cpu: 2 }],
      });
      expect(reply.body).toMatchObject({ accepted: 3, duplicates: [1] });
      expect((await app.context.store.series('twice'))[0]).toMatchObject({ count: 2 });
      expect(await app.context.store.totals()).toMatchObject({ events: 2 });
    } finally {
      await app.close();
    }
  });

  it('list the duplicates of a batch by index, whichever device they belong to', async () => {
    const app = await startApp(ingestRoutes);
    try {
      // Applied device by device: 'first' (indexes 0, 3) before 'second' (1, 2).
      const body = [
        { device_id: 'first', id: 'a', cpu: 1 },
        { device_id: 'second', id: 'b', cpu: 1 },
        { device_id: 'second', id: 'b', cpu: 1 },
        { device_id: 'first', id: 'a', cpu: 1 },
      ];
      expect((await request(`${app.url}/batch`, { body })).body).toMatchObject({ accepted: 4, duplicates: [2, 3] });
      expect((await request(`${app.url}/batch`, { body })).body).toMatchObject({ duplicates: [0, 1, 2, 3] });
    } finally {
      await app.close();
    }
  });
});

describe('the per-device rate limit', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startApp(ingestRoutes, { RATE_LIMIT_PER_DEVICE: '2', RATE_LIMIT_BURST: '5' });
  });
  afterAll(() => app.close());

  it('takes a burst, then answers 429 with Retry-After and stores nothing more', async () => {
    const statuses: number[] = [];
    let refused: Awaited<ReturnType<typeof request>> | undefined;
    const counted = await refusedLimited();
    for (let i = 0; i < 8; i++) {
      const reply = await request(`${app.url}/ingest`, { body: { device_id: 'chatty', cpu: i } });
      statuses.push(reply.status);
      if (reply.status === 429) refused = reply;
    }
    expect(statuses.slice(0, 5)).toEqual([202, 202, 202, 202, 202]);
    expect(statuses.slice(5).every((s) => s === 429)).toBe(true);
    expect(refused!.body).toMatchObject({ error: 'rate_limited', details: { retry_after_seconds: 1 } });
    expect(refused!.headers.get('retry-after')).toBe('1');
    expect((await refusedLimited()) - counted).toBe(3); // events_refused_total{reason="rate_limited"}
    expect((await app.context.store.series('chatty'))[0]).toMatchObject({ count: 5 });
    // Another device has its own bucket.
    expect((await request(`${app.url}/ingest`, { body: { device_id: 'quiet', cpu: 1 } })).status).toBe(202);
  });

  it('refuses a batch for one device beyond its burst whole, and only the over-limit device of a mixed batch', async () => {
    const totals = await app.context.store.totals();
    let counted = await refusedLimited();
    const whole = await request(`${app.url}/batch`, { body: Array.from({ length: 6 }, (_, i) => ({ device_id: 'bulk', cpu: i })) });
    expect(whole.status).toBe(429);
    expect(whole.body.details.rate_limited).toEqual([0, 1, 2, 3, 4, 5]);
    expect((await refusedLimited()) - counted).toBe(6); // every event of the batch, under its reason
    // Nothing of it is stored; the totals counted in advance are taken back. (The device index does
    // list the device: it is written with the request, before the outcome is known.)
    expect(await app.context.store.series('bulk')).toEqual([]);
    expect(Object.keys(await snapshot(app.context.config)).filter((k) => k.includes('{bulk}'))).toEqual([]);
    expect(await app.context.store.totals()).toEqual(totals);

    // Tokens come back at 2/s: drain 'chatty' again just before the mixed batch, however long the
    // steps above took on a busy machine.
    for (let i = 0; i < 20; i++) {
      if ((await request(`${app.url}/ingest`, { body: { device_id: 'chatty', cpu: 0 } })).status === 429) break;
    }
    const chatty = (await app.context.store.series('chatty'))[0]!.count;
    expect(chatty).toBeGreaterThanOrEqual(5);
    counted = await refusedLimited();
    const mixed = await request(`${app.url}/batch`, {
      body: [{ device_id: 'fresh', cpu: 1 }, { device_id: 'chatty', cpu: 9 }, { device_id: 'fresh', cpu: 2 }],
    });
    expect(mixed.status).toBe(202);
    expect(mixed.body).toMatchObject({ accepted: 2, rate_limited: [1], retry_after_seconds: 1 });
    expect((await refusedLimited()) - counted).toBe(1);
    // Two drained devices interleaved: refused device by device, listed by index.
    for (const device of ['drained-x', 'drained-y']) {
      expect((await request(`${app.url}/batch`, { body: Array.from({ length: 5 }, (_, i) => ({ device_id: device, cpu: i })) })).status).toBe(202);
    }
    const interleaved = await request(`${app.url}/batch`, {
      body: [{ device_id: 'drained-x', cpu: 1 }, { device_id: 'drained-y', cpu: 1 }, { device_id: 'drained-x', cpu: 2 }],
    });
    expect(interleaved.status).toBe(429);
    expect(interleaved.body.details.rate_limited).toEqual([0, 1, 2]);
    expect((await app.context.store.series('fresh'))[0]).toMatchObject({ count: 2 });
    expect((await app.context.store.series('chatty'))[0]).toMatchObject({ count: chatty });
  });
});
