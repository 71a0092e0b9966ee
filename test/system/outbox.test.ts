import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, inject, it } from 'vitest';
import { ingestRoutes } from '../../functions/ingest/routes.js';
import { ANOMALY_EVENT_SOURCE, ANOMALY_EVENT_TYPES } from '../../shared/outbox/anomaly-event.js';
import { createDispatcher } from '../../shared/outbox/dispatcher.js';
import { keys } from '../../shared/store/keys.js';
import { registry } from '../../shared/telemetry/metrics.js';
import { startFunction } from '../../support/functions.js';
import { waitFor } from '../../support/servers.js';
import { type TestApp, request, startApp } from '../support/app.js';
import { deliveredIds, episodeStream, expectedIds, sinkFixture } from '../support/episodes.js';

const ids = deliveredIds;

const fixture = sinkFixture();

async function ingestApp(env: Record<string, string>): Promise<TestApp> {
  // Episodes on every run of flags: a few values then make anomaly events (the outbox is what is tested here).
  const app = await startApp(ingestRoutes, { EPISODE_TRIGGER: 'flag', ...env });
  fixture.apps.push(app);
  return app;
}

describe('anomaly events out (K_SINK)', () => {
  it('are written to the outbox in the record call and delivered as documented CloudEvents, in order', async () => {
    const app = await ingestApp({ K_SINK: fixture.sink.url, K_CE_OVERRIDES: '{"extensions":{"cluster":"edge1"}}' });
    const { events, spikes } = episodeStream('pump-1', 2);
    const reply = await request(`${app.url}/ingest/batch`, { body: events });
    expect(reply.status).toBe(202);
    expect(reply.body.alerts).toHaveLength(2);
    // Nothing delivered yet: the record call only appended to the outbox, and announced the device.
    const prefix = app.context.config.keyPrefix;
    expect(await fixture.redis.xlen(`${prefix}${keys.outbox('pump-1')}`)).toBe(4);
    expect(await fixture.redis.smembers(`${prefix}${keys.outboxDevices}`)).toEqual(['pump-1']);

    const dispatcher = createDispatcher(app.context.store.outbox, { ...app.context.config, sinkUrl: fixture.sink.url });
    expect(await dispatcher.drain()).toEqual(new Map([['pump-1', 'drained']]));
    expect(ids(fixture.sink)).toEqual(expectedIds('pump-1', spikes));
    const [opened, closed] = fixture.sink.received;
    expect(opened!.headers).toMatchObject({
      'ce-specversion': '1.0', 'ce-type': ANOMALY_EVENT_TYPES.opened, 'ce-source': ANOMALY_EVENT_SOURCE, 'ce-subject': 'pump-1',
      'ce-time': new Date(reply.body.alerts[0].detected_at).toISOString(), 'ce-cluster': 'edge1', 'content-type': 'application/json',
    });
    const data = JSON.parse(opened!.body);
    expect(data).toMatchObject({
      episode_id: `${spikes[0]}/cpu`, device_id: 'pump-1', metric: 'cpu', status: 'open', value: 100,
      start: new Date(spikes[0]!).toISOString(), end: null, score: reply.body.alerts[0].score, likelihood: reply.body.alerts[0].likelihood,
    });
    expect(data.z).toBeGreaterThan(2);
    expect(data.avg).toBeCloseTo((12 * 10.5 + 100) / 13, 9);
    expect(closed!.headers['ce-type']).toBe(ANOMALY_EVENT_TYPES.closed);
    expect(JSON.parse(closed!.body)).toMatchObject({ status: 'closed', end: new Date(spikes[0]!).toISOString(), peak: { value: 100 } });
    expect(Math.abs(JSON.parse(closed!.body).z)).toBeLessThan(2);

    // Delivered entries leave the stream; the device leaves the set; a second pass finds nothing.
    expect(await fixture.redis.xlen(`${prefix}${keys.outbox('pump-1')}`)).toBe(0);
    expect(await dispatcher.drain()).toEqual(new Map());
    expect(fixture.sink.received).toHaveLength(4);
  });

  it('are delivered once by two dispatchers draining at once: the lease of a device keeps the other away', async () => {
    const app = await ingestApp({ K_SINK: fixture.sink.url });
    const streams = ['fan-1', 'fan-2'].map((device) => ({ device, ...episodeStream(device, 2) }));
    for (const { events } of streams) await request(`${app.url}/ingest/batch`, { body: events });
    fixture.sink.answer(() => 202, 20);
    const settings = { ...app.context.config, sinkUrl: fixture.sink.url };
    const [a, b] = [createDispatcher(app.context.store.outbox, settings), createDispatcher(app.context.store.outbox, settings)];
    const reports = await Promise.all([a.drain(), b.drain()]);
    const outcomes = reports.flatMap((r) => [...r.values()]).sort();
    // Each device drained by one of them; the other found it leased (or already taken out of the set).
    expect(outcomes.filter((o) => o === 'drained')).toHaveLength(2);
    expect(outcomes.filter((o) => o !== 'drained' && o !== 'busy')).toEqual([]);
    for (const { device, spikes } of streams) expect(ids(fixture.sink).filter((id) => id.startsWith(`${device}/`))).toEqual(expectedIds(device, spikes));
    // The one that found a device leased put it back in the set: a later pass finds nothing more to send.
    const delivered = fixture.sink.received.length;
    const busy = reports.findIndex((r) => [...r.values()].includes('busy'));
    const other = [a, b][busy === 0 ? 1 : 0]!;
    for (const outcome of (await other.drain()).values()) expect(outcome).toBe('drained');
    expect(fixture.sink.received).toHaveLength(delivered);
    expect(await fixture.redis.scard(`${app.context.config.keyPrefix}${keys.outboxDevices}`)).toBe(0);
  });

  it('are not written at all without K_SINK', async () => {
    const app = await ingestApp({});
    expect((await request(`${app.url}/ingest/batch`, { body: episodeStream('pump-2', 1).events })).body.alerts).toHaveLength(1);
    const prefix = app.context.config.keyPrefix;
    expect(await fixture.redis.exists(`${prefix}${keys.outbox('pump-2')}`)).toBe(0);
    expect(await fixture.redis.scard(`${prefix}${keys.outboxDevices}`)).toBe(0);
  });

  it('are found by the sweep when the announcement was lost (a pod died before its tally)', async () => {
    const app = await ingestApp({ K_SINK: fixture.sink.url });
    const { events, spikes } = episodeStream('pump-3', 1);
    await request(`${app.url}/ingest/batch`, { body: events });
    const prefix = app.context.config.keyPrefix;
    await fixture.redis.del(`${prefix}${keys.outboxDevices}`);
    const dispatcher = createDispatcher(app.context.store.outbox, { ...app.context.config, sinkUrl: fixture.sink.url });
    expect(await dispatcher.drain()).toEqual(new Map());
    expect(await app.context.store.outbox.sweep()).toBe(1);
    await dispatcher.drain();
    expect(ids(fixture.sink)).toEqual(expectedIds('pump-3', spikes));
  });

  it('are retried with backoff while the sink fails, then dead-lettered; the next events go on', async () => {
    const app = await ingestApp({ K_SINK: fixture.sink.url, OUTBOX_MAX_ATTEMPTS: '3', OUTBOX_RETRY_MS: '50' });
    const { events, spikes } = episodeStream('pump-4', 2);
    await request(`${app.url}/ingest/batch`, { body: events });
    const first = `pump-4/${spikes[0]}/cpu/opened`;
    fixture.sink.answer((headers) => (headers['ce-id'] === first ? 500 : 202));
    const dead = () => registry.getSingleMetric('anomaly_events_total')!.get().then((m) => m.values.find((v) => v.labels.outcome === 'dead_lettered')!.value);
    const deadBefore = await dead();
    const dispatcher = createDispatcher(app.context.store.outbox, { ...app.context.config, sinkUrl: fixture.sink.url });

    expect(await dispatcher.drain()).toEqual(new Map([['pump-4', 'failing']]));
    // Backoff: at once, nothing is tried again.
    expect(await dispatcher.drain()).toEqual(new Map());
    const started = Date.now();
    while (fixture.sink.received.filter((r) => r.headers['ce-id'] === first).length < 3) {
      await dispatcher.drain();
      await sleep(10);
    }
    // 50 ms, then 100 ms between the three attempts.
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    await dispatcher.drain();
    expect(fixture.sink.received.map((r) => [r.headers['ce-id'], r.status])).toEqual([
      [first, 500], [first, 500], [first, 500],
      ...expectedIds('pump-4', spikes).slice(1).map((id) => [id, 202]),
    ]);
    const letters = await fixture.redis.xrange(`${app.context.config.keyPrefix}${keys.deadLetters}`, '-', '+');
    expect(letters).toHaveLength(1);
    const fields = Object.fromEntries(letters[0]![1].flatMap((v, i, all) => (i % 2 === 0 ? [[v, all[i + 1]]] : [])));
    expect(fields).toMatchObject({ device: 'pump-4', attempts: '3', error: 'sink answered 500' });
    expect(JSON.parse(fields.event!)).toMatchObject({ id: first, type: ANOMALY_EVENT_TYPES.opened, subject: 'pump-4', data: { value: 100 } });
    expect((await dead()) - deadBefore).toBe(1);
  });

  it('lose nothing when the delivering process is killed mid-stream: a new one delivers the rest, repeats keep their id', async () => {
    const env = { REDIS_URL: inject('redisUrl'), KEY_PREFIX: `t:${randomUUID().slice(0, 8)}:`, K_SINK: fixture.sink.url, OUTBOX_LEASE_MS: '1000', EPISODE_TRIGGER: 'flag' };
    const streams = ['valve-1', 'valve-2', 'valve-3'].map((device) => ({ device, ...episodeStream(device, 6) }));
    // Slow answers, so that the kill lands while events are in flight.
    fixture.sink.answer(() => 202, 40);
    const first = await startFunction('ingest', env);
    for (const { events } of streams) expect((await request(`${first.url}/ingest/batch`, { body: events })).status).toBe(202);
    await waitFor('a few deliveries', async () => fixture.sink.received.length >= 6);
    first.process.kill('SIGKILL');
    await new Promise((resolve) => first.process.once('exit', resolve));
    const atKill = fixture.sink.received.length;
    const total = streams.length * 12;
    expect(atKill).toBeLessThan(total);

    const second = await startFunction('ingest', env);
    try {
      await waitFor('every event delivered', async () => new Set(ids(fixture.sink)).size >= total);
    } finally {
      await second.stop();
    }
    for (const { device, spikes } of streams) {
      const got = ids(fixture.sink).filter((id) => id.startsWith(`${device}/`));
      // In order per device, first deliveries and repeats alike: a repeat is the same id again.
      expect([...new Set(got)]).toEqual(expectedIds(device, spikes));
      const bodies = new Map<string, string>();
      for (const r of fixture.sink.received.filter((r) => String(r.headers['ce-id']).startsWith(`${device}/`))) {
        const id = String(r.headers['ce-id']);
        expect(bodies.get(id) ?? r.body, id).toBe(r.body);
        bodies.set(id, r.body);
      }
    }
  });
});
