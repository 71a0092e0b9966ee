import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { moments } from '../../shared/detector/reference.js';
import { decodeState } from '../../shared/store/series-state.js';
import { startFunction } from '../../support/functions.js';
import { request } from '../support/app.js';

const prefix = `t:${randomUUID().slice(0, 8)}:`;
const env = { REDIS_URL: inject('redisUrl'), KEY_PREFIX: prefix, WINDOW_SIZE: '50' };
let instances: Array<Awaited<ReturnType<typeof startFunction>>> = [];
let redis: Redis;

beforeAll(async () => {
  instances = await Promise.all([startFunction('ingest', env), startFunction('ingest', env), startFunction('stats', env)]);
  redis = new Redis(inject('redisUrl'));
});
afterAll(async () => {
  await Promise.all(instances.map((i) => i.stop()));
  redis.disconnect();
});

describe('two function processes sharing one Redis', () => {
  it('keep one series exact under 20 concurrent clients × 500 events, across a SCRIPT FLUSH and a FUNCTION FLUSH', async () => {
    const [a, b, stats] = instances as [typeof instances[0], typeof instances[0], typeof instances[0]];
    const clients = 20;
    const perClient = 500;
    let sent = 0;
    const flushedAt: number[] = [];
    const statuses = new Map<number, number>();

    const flusher = (async () => {
      for (const at of [2_000, 6_000]) {
        while (sent < at) await new Promise((r) => setTimeout(r, 1));
        await redis.script('FLUSH');
        await redis.function('FLUSH');
        flushedAt.push(sent);
      }
    })();

    await Promise.all(
      Array.from({ length: clients }, async (_, c) => {
        for (let i = 0; i < perClient; i++) {
          const target = (c + i) % 2 === 0 ? a : b;
          const reply = await request(`${target.url}/ingest`, { body: { device_id: 'shared', cpu: c * 1000 + i, rps: 1 } });
          statuses.set(reply.status, (statuses.get(reply.status) ?? 0) + 1);
          sent++;
        }
      }),
    );
    await flusher;

    expect(Object.fromEntries(statuses)).toEqual({ 202: clients * perClient });
    expect(flushedAt).toHaveLength(2);
    expect(flushedAt[0]).toBeLessThan(clients * perClient);

    const state = decodeState(await redis.hgetBuffer(`${prefix}dev:{shared}:state`, 'cpu'))!;
    const window = (await redis.lrange(`${prefix}dev:{shared}:w:cpu`, 0, -1)).map(Number);
    expect(Number(state.count)).toBe(clients * perClient);
    expect(window).toHaveLength(50);
    expect(Number(state.n)).toBe(50);
    expect(new Set(window).size).toBe(50); // every value is unique: nothing applied twice
    expect(Math.abs(Number(state.avg) - moments(window).mean)).toBeLessThanOrEqual(1e-9 * moments(window).mean);
    expect(Number(state.last)).toBe(window[49]);

    const rps = decodeState(await redis.hgetBuffer(`${prefix}dev:{shared}:state`, 'rps'))!;
    expect(Number(rps.count)).toBe(clients * perClient);
    const totals = await request(`${stats.url}/stats`);
    expect(totals.body).toMatchObject({
      events: clients * perClient,
      devices: 1,
      series: 2,
      per_metric: { cpu: { events: clients * perClient }, rps: { events: clients * perClient, anomalies: 0 } },
    });
    expect(totals.body.anomalies).toBe(Number(state.anomalies) + Number(rps.anomalies));
  });

  it('applies a batch spanning many devices in one request, exactly once each', async () => {
    const [a] = instances;
    const events = Array.from({ length: 1000 }, (_, i) => ({ device_id: `fleet-${i % 250}`, cpu: i, memory: i % 7 }));
    const reply = await request(`${a!.url}/ingest/batch`, { body: events });
    expect(reply.status).toBe(202);
    expect(reply.body.accepted).toBe(1000);
    for (const d of [0, 17, 249]) {
      const window = (await redis.lrange(`${prefix}dev:{fleet-${d}}:w:cpu`, 0, -1)).map(Number);
      expect(window).toEqual([d, d + 250, d + 500, d + 750]);
    }
  });
});
