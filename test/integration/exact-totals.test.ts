import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { apiRoutes } from '../../functions/api.js';
import { tallyFunction } from '../../shared/store/scripts.js';
import { type CutProxy, startCutProxy } from '../../support/cut-proxy.js';
import { type TestApp, request, startApp } from '../support/app.js';

// The bookkeeping call that follows the record calls of a write is FCALL of tally.lua's function.

let proxy: CutProxy;
let app: TestApp;
beforeAll(async () => {
  proxy = await startCutProxy(Number(new URL(inject('redisUrl')).port));
  // Episodes opened by the flag, so that a short stream has some to count.
  app = await startApp(apiRoutes, { REDIS_URL: proxy.url, REDIS_COMMAND_TIMEOUT_MS: '500', EPISODE_TRIGGER: 'flag' });
});
afterAll(async () => {
  await app?.close();
  await proxy?.close();
});

/** Sends requests one after the other and counts the events acknowledged (202). */
async function acknowledged(bodies: ReadonlyArray<{ path: string; body: unknown; events: number }>): Promise<number> {
  let acked = 0;
  for (const { path, body, events } of bodies) {
    const reply = await request(`${app.url}${path}`, { body });
    if (reply.status === 202) acked += path.endsWith('batch') ? reply.body.accepted : events;
  }
  return acked;
}

async function stats() {
  return (await request(`${app.url}/stats`)).body;
}

describe('totals when the connection is cut between the record call and the bookkeeping', () => {
  it('counts every acknowledged single event exactly once', async () => {
    const before = await stats();
    const sends = Array.from({ length: 12 }, (_, i) => ({ path: '/ingest', body: { device_id: 'cut-one', cpu: 50 + (i % 3), rps: i }, events: 1 }));
    const first = await acknowledged(sends.slice(0, 6));
    proxy.arm(tallyFunction.name);
    const rest = await acknowledged(sends.slice(6));
    expect(proxy.cuts).toBe(1);
    const after = await stats();
    expect(first + rest).toBe(12);
    expect(after.events - before.events).toBe(12);
    expect(after.per_metric.cpu.events - (before.per_metric.cpu?.events ?? 0)).toBe(12);
    expect(after.per_metric.rps.events - (before.per_metric.rps?.events ?? 0)).toBe(12);
    const series = (await request(`${app.url}/analyze?device=cut-one&metric=cpu`)).body.series[0];
    expect(series.count).toBe(12);
  });

  it('counts every acknowledged event of a batch, its anomalies and episodes exactly once', async () => {
    const before = await stats();
    const steady = Array.from({ length: 120 }, (_, i) => ({ device_id: `cut-b-${i % 10}`, temp: 20 + (i % 2) }));
    const spike = Array.from({ length: 10 }, (_, i) => ({ device_id: `cut-b-${i}`, temp: 500 }));
    await acknowledged([{ path: '/ingest/batch', body: steady, events: 120 }]);
    const mid = await stats();
    proxy.arm(tallyFunction.name);
    const reply = await request(`${app.url}/ingest/batch`, { body: spike });
    expect(proxy.cuts).toBe(2);
    expect(reply.body).toMatchObject({ accepted: 10 });
    expect(reply.body.alerts.length).toBeGreaterThan(0);
    const after = await stats();
    expect(after.events - before.events).toBe(130);
    expect(after.per_metric.temp.events).toBe(130);
    // Every device's spike is flagged: ten anomalies counted though their bookkeeping call was cut.
    expect(after.anomalies - mid.anomalies).toBe(10);
    expect(after.per_metric.temp.anomalies).toBe(10);
    expect(after.per_metric.temp.episodes - mid.per_metric.temp.episodes).toBe(reply.body.alerts.length);
  });
});
