import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestRoutes } from '../../functions/ingest/routes.js';
import { keys } from '../../shared/store/keys.js';
import { type Reply, type TestApp, request, startApp } from '../support/app.js';
import { waitFor } from '../../support/servers.js';

/**
 * Sends `send` every 20 ms until it is answered 202, or gives up at `deadline` (ms since the epoch),
 * returning the last reply. A refused call takes no token, so polling does not delay the refill.
 */
async function acceptedBy(deadline: number, send: () => Promise<Reply>): Promise<Reply> {
  for (;;) {
    const reply = await send();
    if (reply.status !== 429 || Date.now() >= deadline) return reply;
    await sleep(20);
  }
}

describe('the rate-limit bucket refills over time', () => {
  // 10 events/s and a burst of 5: one token every 100 ms, the whole burst in 500 ms. The bucket key
  // lives 1.5 s after its last accepted call; every check below gives up 300 ms before that, so a
  // bucket that came back only because its key expired cannot pass.
  const RATE = 10;
  const BURST = 5;
  const DEADLINE_MS = (BURST * 1000) / RATE + 1000 - 300;
  let app: TestApp;
  beforeAll(async () => {
    app = await startApp(ingestRoutes, { RATE_LIMIT_PER_DEVICE: String(RATE), RATE_LIMIT_BURST: String(BURST) });
  });
  afterAll(() => app.close());

  const one = (device: string, cpu: number) => () => request(`${app.url}/ingest`, { body: { device_id: device, cpu } });
  const batch = (device: string, n: number) => () =>
    request(`${app.url}/batch`, { body: Array.from({ length: n }, (_, i) => ({ device_id: device, cpu: i })) });
  const indices = (n: number) => Array.from({ length: n }, (_, i) => i);

  it('accepts a refused device again once a token has come back', async () => {
    const drained = Date.now();
    expect((await batch('refill', BURST)()).status).toBe(202);
    // The whole burst takes 500 ms to come back: asked for again right away, it is refused.
    const refused = await batch('refill', BURST)();
    expect(refused.status).toBe(429);
    expect(refused.body).toMatchObject({ error: 'rate_limited', details: { rate_limited: indices(BURST) } });

    const again = await acceptedBy(drained + DEADLINE_MS, one('refill', 7));
    expect(again.status, 'still refused after the refill time').toBe(202);
    expect(again.body.metrics.cpu).toMatchObject({ value: 7 });
    expect((await app.context.store.series('refill', 'cpu'))[0]).toMatchObject({ count: BURST + 1, value: 7 });
  });

  it('refills up to the burst, and never beyond it', async () => {
    const drained = Date.now();
    expect((await batch('full', BURST)()).status).toBe(202);
    const whole = await acceptedBy(drained + DEADLINE_MS, batch('full', BURST));
    expect(whole.status, 'the full burst did not come back').toBe(202);
    expect(whole.body).toMatchObject({ accepted: BURST });

    // Longer than a whole burst takes to come back: still no more than the burst.
    await sleep((BURST * 1000) / RATE + 200);
    const over = await batch('full', BURST + 1)();
    expect(over.status).toBe(429);
    expect(over.body.details.rate_limited).toEqual(indices(BURST + 1));
    expect((await app.context.store.series('full', 'cpu'))[0]).toMatchObject({ count: 2 * BURST });
  });
});

describe('the expiry of a series is pushed back by its writes', () => {
  // The minimum TTL, 60 s: the expiry is refreshed when its last refresh is older than 1%, 600 ms.
  const TTL_MS = 60_000;
  const REFRESH_MS = TTL_MS / 100;
  let app: TestApp;
  let redis: Redis;
  beforeAll(async () => {
    app = await startApp(ingestRoutes, { SERIES_TTL_SECONDS: String(TTL_MS / 1000), EPISODE_TRIGGER: 'flag' });
    redis = new Redis(app.context.config.redisUrl);
  });
  afterAll(async () => {
    redis.disconnect();
    await app.close();
  });

  // The key layout of docs/development.md ("How state is kept"), under this file's KEY_PREFIX.
  const seriesKeys = (device: string) => {
    const p = app.context.config.keyPrefix;
    return { window: `${p}dev:{${device}}:w:cpu`, state: `${p}dev:{${device}}:state`, index: `${p}dev:{${device}}:series` };
  };
  const pttls = async (device: string) => {
    const k = seriesKeys(device);
    return { window: await redis.pttl(k.window), state: await redis.pttl(k.state), index: await redis.pttl(k.index) };
  };

  it('sets every key of a new series to expire after SERIES_TTL_SECONDS', async () => {
    expect((await request(`${app.url}/ingest`, { body: { device_id: 'fresh', cpu: 1 } })).status).toBe(202);
    for (const [key, ttl] of Object.entries(await pttls('fresh'))) {
      expect(ttl, key).toBeGreaterThan(TTL_MS * 0.9);
      expect(ttl, key).toBeLessThanOrEqual(TTL_MS);
    }
  });

  it('refreshes the expiry of every key once the last refresh is older than 1% of the TTL', async () => {
    const k = seriesKeys('refreshed');
    expect((await request(`${app.url}/ingest`, { body: { device_id: 'refreshed', cpu: 1 } })).status).toBe(202);
    const firstScore = Number(await redis.zscore(k.index, 'cpu'));
    // Wait until more than the refresh interval (plus a margin) has gone by since the keys were set.
    await waitFor('the refresh interval to pass', async () => (await redis.pttl(k.state)) < TTL_MS - REFRESH_MS - 100);
    const before = await pttls('refreshed');

    expect((await request(`${app.url}/ingest`, { body: { device_id: 'refreshed', cpu: 2 } })).status).toBe(202);
    const after = await pttls('refreshed');
    for (const key of ['window', 'state', 'index'] as const) {
      expect(after[key], `PTTL of the ${key} key was not pushed back up`).toBeGreaterThan(before[key]);
      expect(after[key], key).toBeLessThanOrEqual(TTL_MS);
    }
    // The index scores the metric by the time of its last refresh.
    expect(Number(await redis.zscore(k.index, 'cpu')) - firstScore).toBeGreaterThan(REFRESH_MS);
    expect((await app.context.store.series('refreshed'))[0]).toMatchObject({ count: 2, value: 2 });
  });

  it("expires a series that stops while its device goes on: its state is no longer read, and its fields leave the device's hash", async () => {
    const k = seriesKeys('aging');
    const stateOf = async () => (await redis.hgetallBuffer(k.state)) as Record<string, Buffer>;
    expect((await request(`${app.url}/ingest/batch`, { body: [1, 2, 3].map((cpu) => ({ device_id: 'aging', cpu })) })).status).toBe(202);
    // As the TTL would leave it: refreshed (and indexed) longer ago than the TTL, its window expired.
    const old = Date.now() - TTL_MS - 1000;
    const aged = Buffer.from((await stateOf()).cpu!);
    aged.writeDoubleLE(old, 10 * 8);
    await redis.hset(k.state, 'cpu', aged);
    await redis.zadd(k.index, old, 'cpu');
    await redis.del(k.window);
    expect(await app.context.store.series('aging', 'cpu')).toEqual([]);
    // Another metric of the device: its refresh clears the expired series from the index and the hash.
    expect((await request(`${app.url}/ingest`, { body: { device_id: 'aging', mem: 5 } })).status).toBe(202);
    expect(Object.keys(await stateOf())).toEqual(['mem']);
    expect(await redis.zrange(k.index, '0', '-1')).toEqual(['mem']);
    expect((await app.context.store.series('aging')).map((v) => v.metric)).toEqual(['mem']);
    // The metric again: a new series, as after its keys expired.
    expect((await request(`${app.url}/ingest`, { body: { device_id: 'aging', cpu: 7 } })).status).toBe(202);
    expect((await app.context.store.series('aging', 'cpu'))[0]).toMatchObject({ count: 1, samples: 1, value: 7 });
  });

  it('starts a series again over a state older than the TTL that no clean-up has removed yet', async () => {
    const k = seriesKeys('stale');
    expect((await request(`${app.url}/ingest/batch`, { body: [1, 2, 3].map((cpu) => ({ device_id: 'stale', cpu })) })).status).toBe(202);
    const aged = Buffer.from((await redis.hgetBuffer(k.state, 'cpu'))!);
    aged.writeDoubleLE(Date.now() - TTL_MS - 1000, 10 * 8);
    await redis.hset(k.state, 'cpu', aged);
    await redis.del(k.window);
    expect((await request(`${app.url}/ingest`, { body: { device_id: 'stale', cpu: 9 } })).status).toBe(202);
    expect((await app.context.store.series('stale', 'cpu'))[0]).toMatchObject({ count: 1, samples: 1, value: 9, anomalies: 0 });
  });

  it("sets the device's episode list and records to expire when made, and pushes them back with its series", async () => {
    const p = app.context.config.keyPrefix;
    const episodeKeys = [`${p}${keys.deviceEpisodes('episodic')}`, `${p}${keys.deviceEpisodeRecords('episodic')}`];
    const ttls = () => Promise.all(episodeKeys.map((key) => redis.pttl(key)));
    // Ten equal values, then at once (within the refresh interval: no series refresh) another, flagged
    // against their zero variance: it opens an episode, and the list made for it gets the TTL.
    const events = Array.from({ length: 10 }, () => ({ device_id: 'episodic', cpu: 1 }));
    expect((await request(`${app.url}/ingest/batch`, { body: events })).status).toBe(202);
    expect((await request(`${app.url}/ingest`, { body: { device_id: 'episodic', cpu: 2 } })).body.metrics.cpu.episode).toBe('opened');
    for (const ttl of await ttls()) {
      expect(ttl).toBeGreaterThan(TTL_MS * 0.9);
      expect(ttl).toBeLessThanOrEqual(TTL_MS);
    }
    await waitFor('the refresh interval to pass', async () => (await redis.pttl(episodeKeys[0]!)) < TTL_MS - REFRESH_MS - 100);
    const before = await ttls();
    // A usual value: the episode stays open and nothing of it is stored, but the series' refresh pushes its keys back.
    expect((await request(`${app.url}/ingest`, { body: { device_id: 'episodic', cpu: 1 } })).status).toBe(202);
    const after = await ttls();
    after.forEach((ttl, i) => expect(ttl, episodeKeys[i]).toBeGreaterThan(before[i]!));
  });
});
