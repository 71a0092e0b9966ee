import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ingestRoutes } from '../../functions/ingest/routes.js';
import { statsRoutes } from '../../functions/stats/routes.js';
import { replay } from '../../shared/detector/reference.js';
import type { Reading } from '../../shared/schemas/event.js';
import { CALL_VALUES, planCalls } from '../../shared/store/call-plan.js';
import { keys } from '../../shared/store/keys.js';
import { runsByDevice } from '../../shared/store/record-script.js';
import { type TestApp, request, startApp } from '../support/app.js';
import { type Running, startRedis } from '../../support/servers.js';

// A Redis of this file's own: the tests count the commands it served.
let redis: Running;
let raw: Redis;
let app: TestApp;
const params = { windowSize: 50, zThreshold: 2, minSamples: 3 };
beforeAll(async () => {
  redis = await startRedis();
  raw = new Redis(redis.url);
  app = await startApp(ingestRoutes, { REDIS_URL: redis.url, MIN_SAMPLES: String(params.minSamples) });
});
afterAll(async () => {
  raw?.disconnect();
  await app?.close();
  await redis?.stop();
});
afterEach(() => vi.useRealTimers());

/** Script calls Redis has served since `resetstat()`. */
async function scriptCalls(): Promise<number> {
  const info = await raw.info('commandstats');
  return [...info.matchAll(/^cmdstat_(?:evalsha|eval|fcall):calls=(\d+)/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
}
const resetstat = () => raw.config('RESETSTAT');
const reading = (device: string, cpu: number, extra: Partial<Reading> = {}): Reading => ({ deviceId: device, timestamp: 1_700_000_000_000, metrics: [['cpu', cpu]], ...extra });
const baseline = (d: number) => [d, d + 2, d + 1, d + 3];

describe('single events arriving together (coalesced)', () => {
  it('answers concurrent requests of 40 devices each with its own result, equal to the reference', async () => {
    const devices = Array.from({ length: 40 }, (_, d) => d);
    const prefill = devices.flatMap((d) => baseline(d).map((cpu) => ({ device_id: `many-${d}`, cpu })));
    expect((await request(`${app.url}/batch`, { body: prefill })).status).toBe(202);
    const replies = await Promise.all(devices.map((d) => request(`${app.url}/ingest`, { body: { device_id: `many-${d}`, cpu: 10 * d + 7 } })));
    for (const d of devices) {
      const expected = replay([...baseline(d), 10 * d + 7], params).at(-1)!;
      expect(replies[d]!.status).toBe(202);
      expect(replies[d]!.body.device_id).toBe(`many-${d}`);
      expect(replies[d]!.body.metrics.cpu.avg).toBeCloseTo(expected.avg, 9);
      expect(replies[d]!.body.metrics.cpu.zscore).toBeCloseTo(expected.zscore!, 9);
      expect(replies[d]!.body.metrics.cpu.anomaly).toBe(expected.anomaly);
    }
    const totals = await app.context.store.totals();
    expect(totals.per_metric.cpu!.events).toBeGreaterThanOrEqual(40 * 5);
  });

  it('sends the single events of one turn of the event loop in one script call', async () => {
    const { store } = app.context;
    const before = await store.totals();
    await resetstat();
    const outcomes = await Promise.all(Array.from({ length: 60 }, (_, d) => store.recordOne(reading(`turn-${d}`, d))));
    // One record call, and one tally of what it applied (device index, totals, the new series).
    expect(await scriptCalls()).toBe(2);
    expect(outcomes.every((o) => o.status === 'applied')).toBe(true);
    expect((await store.totals()).events - before.events).toBe(60);
  });

  it('applies two events of one device sent together one after the other, as two requests would be', async () => {
    const { store } = app.context;
    const [first, second, again] = await Promise.all([
      store.recordOne(reading('pair', 1, { id: 'p-1' })),
      store.recordOne(reading('pair', 3, { id: 'p-2' })),
      store.recordOne(reading('pair', 5, { id: 'p-1' })),
    ]);
    expect(first).toMatchObject({ status: 'applied', metrics: [{ value: 1, avg: 1 }] });
    expect(second).toMatchObject({ status: 'applied', metrics: [{ value: 3, avg: 2 }] });
    expect(again).toEqual({ status: 'duplicate' });
    expect((await store.series('pair'))[0]).toMatchObject({ count: 2, samples: 2 });
  });

  it("fails only the request whose device's run failed; the others are applied and counted exactly", async () => {
    const { store } = app.context;
    const before = await store.totals();
    // A key of the wrong type makes record.lua fail for this device, inside a call shared with others.
    await raw.set(`${app.context.config.keyPrefix}${keys.window('broken', 'cpu')}`, 'not a list');
    const sent = ['ok-1', 'broken', 'ok-2', 'ok-3'].map((device, i) => request(`${app.url}/ingest`, { body: { device_id: device, cpu: i } }));
    const replies = await Promise.all(sent);
    expect(replies.map((r) => r.status)).toEqual([202, 500, 202, 202]);
    expect(replies[1]!.body).toEqual({ error: 'internal', message: 'Internal error' });
    for (const device of ['ok-1', 'ok-2', 'ok-3']) expect((await store.series(device))[0]).toMatchObject({ count: 1 });
    const after = await store.totals();
    expect(after.events - before.events).toBe(3);
    expect(after.per_metric.cpu!.events - before.per_metric.cpu!.events).toBe(3);

    // The same inside one call for certain: sent in one turn, only the broken device's promise fails.
    await resetstat();
    const settled = await Promise.allSettled(['ok-4', 'broken', 'ok-5'].map((device) => store.recordOne(reading(device, 1))));
    expect(await scriptCalls()).toBe(2);
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((await store.totals()).events - before.events).toBe(5);
  });
});

describe('the device index', () => {
  it('takes only devices that had an event applied: not one refused by its rate limit, nor one that sent only duplicates', async () => {
    const limited = await startApp(ingestRoutes, { REDIS_URL: redis.url, KEY_PREFIX: 'index:', RATE_LIMIT_PER_DEVICE: '1', RATE_LIMIT_BURST: '1' });
    try {
      const { store } = limited.context;
      expect((await store.recordBatch([reading('dup', 1, { id: 'e-1' })])).duplicates).toEqual([]);
      const known = async () => (await store.devices(100)).map((d) => d.device_id).sort();
      expect(await known()).toEqual(['dup']);
      await store.recordBatch([reading('greedy', 1), reading('greedy', 2)]); // two events, burst of one: refused whole
      await raw.zadd('index:' + keys.devices, 0, 'dup'); // make its score old, to see whether a resend moves it
      expect((await store.recordBatch([reading('dup', 1, { id: 'e-1' })])).duplicates).toEqual([0]);
      expect(await known()).toEqual([]);
      expect(Number(await raw.zscore('index:' + keys.devices, 'dup'))).toBe(0);
      expect((await store.totals()).events).toBe(1);
    } finally {
      await limited.close();
    }
  });
});

describe('record calls', () => {
  const runs = (sizes: number[]) =>
    runsByDevice(sizes.flatMap((n, d) => Array.from({ length: n }, (): Reading => ({ deviceId: `d${d}`, timestamp: 0, metrics: [['cpu', 1]] }))));

  it('carry whole runs in order, each call at most CALL_VALUES values unless one run alone is larger', () => {
    const calls = planCalls(runs([100, 100, 100, 500, 10, 246]), false, 256);
    expect(calls.map((call) => call.map((run) => run.device))).toEqual([['d0', 'd1'], ['d2'], ['d3'], ['d4', 'd5']]);
    expect(calls.map((call) => call.reduce((sum, run) => sum + run.values, 0))).toEqual([200, 100, 500, 256]);
    expect(planCalls(runs(Array.from({ length: 3 * CALL_VALUES }, () => 1)), false)).toHaveLength(3);
  });

  it('on Redis Cluster, never mix devices of different hash slots in one call', async () => {
    const { default: slot } = await import('cluster-key-slot');
    const names = Array.from({ length: 20_000 }, (_, i) => `dev-${i}`);
    const twins = names.filter((name) => slot(`{${name}}`) === slot('{dev-0}')).slice(0, 3);
    const devices = [...twins, ...names.slice(1, 200)];
    const many = runsByDevice(devices.map((device): Reading => ({ deviceId: device, timestamp: 0, metrics: [['cpu', 1]] })));
    const calls = planCalls(many, true);
    for (const call of calls) expect(new Set(call.map((run) => slot(`{${run.device}}`))).size).toBe(1);
    expect(calls.flat().map((run) => run.device).sort()).toEqual([...new Set(devices)].sort());
    // Devices of one slot share a call.
    expect(calls.find((call) => call[0]!.device === 'dev-0')!.map((run) => run.device)).toEqual(twins);
  });

  it('a batch of 1,000 devices is applied whole across its calls', async () => {
    const events = Array.from({ length: 1000 }, (_, i) => ({ device_id: `wide-${i}`, cpu: i, rps: 2 * i }));
    await resetstat();
    const reply = await request(`${app.url}/batch`, { body: events });
    expect(reply.status).toBe(202);
    expect(reply.body).toMatchObject({ accepted: 1000, duplicates: [] });
    // 2,000 values in calls of CALL_VALUES, and one tally.
    expect(await scriptCalls()).toBe(Math.ceil(2000 / CALL_VALUES) + 1);
    for (const i of [0, 499, 999]) expect(await app.context.store.series(`wide-${i}`)).toMatchObject([{ metric: 'cpu', value: i }, { metric: 'rps', value: 2 * i }]);
  });
});

describe('GET /stats counts', () => {
  it('equal a recount over every device after some devices expire', async () => {
    const stats = await startApp(statsRoutes, { REDIS_URL: redis.url, KEY_PREFIX: 'stats-count:', SERIES_TTL_SECONDS: '60' });
    const writer = await startApp(ingestRoutes, { REDIS_URL: redis.url, KEY_PREFIX: 'stats-count:', SERIES_TTL_SECONDS: '60' });
    try {
      const { store } = writer.context;
      const start = Date.now();
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(start - 120_000);
      await store.recordBatch(['gone-1', 'gone-2', 'back'].map((d) => ({ ...reading(d, 1), metrics: [['cpu', 1], ['rps', 2]] })));
      vi.setSystemTime(start - 30_000);
      await store.recordBatch([reading('recent', 1), { ...reading('back', 5), metrics: [['memory', 5]] }]);
      vi.setSystemTime(start);
      await store.recordBatch([reading('now', 1), reading('back', 9)]);

      // Live now: recent (cpu), back (cpu refreshed now, memory 30 s ago; its rps expired), now (cpu).
      const reply = await request(`${stats.url}/stats`);
      expect(reply.body).toMatchObject({ devices: 3, series: 4 });
      expect(reply.body).toMatchObject(await recount(writer, start));
    } finally {
      await stats.close();
      await writer.close();
    }
  });
});

/** The counts the slow way: every device in the index, and each one's live series. */
async function recount(app: TestApp, now: number): Promise<{ devices: number; series: number }> {
  const { config } = app.context;
  const live = now - config.seriesTtlSeconds * 1000;
  const devices = await raw.zrangebyscore(`${config.keyPrefix}${keys.devices}`, live, '+inf');
  let series = 0;
  for (const device of devices) series += await raw.zcount(`${config.keyPrefix}${keys.seriesIndex(device)}`, live, '+inf');
  return { devices: devices.length, series };
}
