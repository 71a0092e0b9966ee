import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { describe, expect, inject, it, vi } from 'vitest';
import { ingestRoutes } from '../../functions/ingest/routes.js';
import { createContext } from '../../shared/context.js';
import { createDispatcher, startDispatcher } from '../../shared/outbox/dispatcher.js';
import { keys } from '../../shared/store/keys.js';
import { registry } from '../../shared/telemetry/metrics.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeCertificates } from '../../support/certificates.js';
import { startFunction } from '../../support/functions.js';
import { freePort, startRedis, waitFor } from '../../support/servers.js';
import { startSink } from '../../support/sink.js';
import { request, startApp, testConfig } from '../support/app.js';
import { deliveredIds, episodeStream, expectedIds, sinkFixture } from '../support/episodes.js';

const fixture = sinkFixture();

/** An ingest app with K_SINK set, and a dispatcher over its outboxes (not started: drained by hand). */
async function delivering(env: Record<string, string> = {}, sinkUrl = fixture.sink.url) {
  // Episodes on every run of flags: a few values then make anomaly events (the delivery is what is tested here).
  const app = await startApp(ingestRoutes, { K_SINK: sinkUrl, EPISODE_TRIGGER: 'flag', ...env });
  fixture.apps.push(app);
  const dispatcher = () => createDispatcher(app.context.store.outbox, { ...app.context.config, sinkUrl });
  const ingest = async (device: string, episodes: number) => {
    const stream = episodeStream(device, episodes);
    expect((await request(`${app.url}/ingest/batch`, { body: stream.events })).status).toBe(202);
    return stream.spikes;
  };
  const inSet = async () => fixture.redis.smembers(`${app.context.config.keyPrefix}${keys.outboxDevices}`);
  return { app, dispatcher, ingest, inSet };
}

const metric = async (name: string, labels: Record<string, string> = {}) => {
  const values = (await registry.getSingleMetric(name)!.get()).values;
  const match = values.filter((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want));
  return match.reduce((sum, v) => sum + v.value, 0);
};

describe('delivering anomaly events to K_SINK', () => {
  it('posts each event over one kept-alive connection, stamped with when its change was detected, and times the lag', async () => {
    const { app, dispatcher } = await delivering();
    // The spikes in one request, what closes their episodes in a later one: opened and closed at two times.
    const { events, spikes } = episodeStream('d-keep', 3);
    const split = events.length - 15;
    expect((await request(`${app.url}/ingest/batch`, { body: events.slice(0, split) })).status).toBe(202);
    await sleep(20);
    expect((await request(`${app.url}/ingest/batch`, { body: events.slice(split) })).status).toBe(202);
    const lag = { count: await metric('anomaly_events_delivery_lag_seconds', { le: '+Inf' }), sum: await lagSum() };
    const delivered = await metric('anomaly_events_total', { outcome: 'delivered' });
    await sleep(30);
    expect(await dispatcher().drain()).toEqual(new Map([['d-keep', 'drained']]));
    expect(deliveredIds(fixture.sink)).toEqual(expectedIds('d-keep', spikes));
    expect(new Set(fixture.sink.received.map((r) => r.method))).toEqual(new Set(['POST']));
    expect(new Set(fixture.sink.received.map((r) => r.port)).size).toBe(1);
    for (const r of fixture.sink.received) {
      const data = JSON.parse(r.body);
      expect(r.headers['ce-time']).toBe(data.status === 'closed' ? data.closed_at : data.detected_at);
    }
    const last = JSON.parse(fixture.sink.received[5]!.body);
    expect(Date.parse(last.closed_at) - Date.parse(last.detected_at)).toBeGreaterThanOrEqual(20);
    // Six deliveries, each at least the 30 ms after its append, none of them minutes.
    expect((await metric('anomaly_events_delivery_lag_seconds', { le: '+Inf' })) - lag.count).toBe(6);
    expect((await metric('anomaly_events_total', { outcome: 'delivered' })) - delivered).toBe(6);
    const added = (await lagSum()) - lag.sum;
    expect(added).toBeGreaterThanOrEqual(6 * 0.03);
    expect(added).toBeLessThan(60);
  });

  it('takes a 2xx as delivered and anything else as a failure', async () => {
    const { dispatcher, ingest } = await delivering({ OUTBOX_RETRY_MS: '60000' });
    const statuses: Record<string, number> = { 'd-200': 200, 'd-299': 299, 'd-300': 300, 'd-404': 404 };
    for (const device of Object.keys(statuses)) await ingest(device, 1);
    fixture.sink.answer((headers) => statuses[String(headers['ce-subject'])]!);
    const failed = await metric('anomaly_events_total', { outcome: 'failed' });
    const report = await dispatcher().drain();
    expect(Object.fromEntries(report)).toEqual({ 'd-200': 'drained', 'd-299': 'drained', 'd-300': 'failing', 'd-404': 'failing' });
    expect((await metric('anomaly_events_total', { outcome: 'failed' })) - failed).toBe(2);
  });

  it('counts a sink that refuses connections, or hangs past a quarter of the lease, as a failure', async () => {
    const closed = `http://127.0.0.1:${await freePort()}/`;
    const refused = await delivering({}, closed);
    await refused.ingest('d-refused', 1);
    expect(await refused.dispatcher().drain()).toEqual(new Map([['d-refused', 'failing']]));

    // A fixture.sink of its own, so that its late answers land nowhere else.
    const slow = await startSink();
    slow.answer(() => 202, 3000);
    try {
      const hanging = await delivering({ OUTBOX_LEASE_MS: '1000' }, slow.url);
      await hanging.ingest('d-hang', 1);
      const started = Date.now();
      expect(await hanging.dispatcher().drain()).toEqual(new Map([['d-hang', 'failing']]));
      // The delivery timed out at 250 ms.
      expect(Date.now() - started).toBeLessThan(1000);
    } finally {
      await slow.stop();
    }
  });

  it('stops a run at a quarter of the lease, and goes on with the rest in order in the next', async () => {
    const { dispatcher, ingest, inSet } = await delivering({ OUTBOX_LEASE_MS: '1000' });
    const spikes = await ingest('d-slow', 3);
    fixture.sink.answer(() => 202, 100);
    const d = dispatcher();
    expect(await d.drain()).toEqual(new Map([['d-slow', 'more']]));
    // 100 ms each: the run ends after the delivery that passes 250 ms.
    expect(fixture.sink.received.length).toBeGreaterThanOrEqual(2);
    expect(fixture.sink.received.length).toBeLessThanOrEqual(4);
    expect(await inSet()).toEqual(['d-slow']);
    while ((await inSet()).length > 0) await d.drain();
    expect(deliveredIds(fixture.sink)).toEqual(expectedIds('d-slow', spikes));
  });

  it('reads at most 50 entries a run: a device with more is drained over several', async () => {
    const { dispatcher, ingest } = await delivering();
    const spikes = await ingest('d-many', 30);
    const d = dispatcher();
    expect(await d.drain()).toEqual(new Map([['d-many', 'more']]));
    expect(fixture.sink.received).toHaveLength(50);
    expect(await d.drain()).toEqual(new Map([['d-many', 'drained']]));
    expect(deliveredIds(fixture.sink)).toEqual(expectedIds('d-many', spikes));
  });

  it('leaves a device another dispatcher holds for a quarter of the lease, then delivers it whole', async () => {
    const { app, dispatcher, ingest } = await delivering({ OUTBOX_LEASE_MS: '1000' });
    const spikes = await ingest('d-held', 2);
    const { outbox } = app.context.store;
    const held = await outbox.claim('d-held', 'another', 1000, 1);
    expect(held.kind).toBe('claimed');
    const d = dispatcher();
    expect(await d.drain()).toEqual(new Map([['d-held', 'busy']]));
    expect(await d.drain()).toEqual(new Map());
    // The other holder read one entry and died before delivering it: its lease is let go here.
    await outbox.settle('d-held', 'another', { delivered: [], retryMs: 1000, maxBackoffMs: 1000 });
    await sleep(300);
    expect(await d.drain()).toEqual(new Map([['d-held', 'drained']]));
    expect(deliveredIds(fixture.sink)).toEqual(expectedIds('d-held', spikes));
  });

  it('leaves a device waiting after a failure to every dispatcher, not only the one that failed', async () => {
    const { dispatcher, ingest } = await delivering({ OUTBOX_RETRY_MS: '60000' });
    await ingest('d-wait', 1);
    fixture.sink.answer(() => 500);
    expect(await dispatcher().drain()).toEqual(new Map([['d-wait', 'failing']]));
    fixture.sink.answer(() => 202);
    expect(await dispatcher().drain()).toEqual(new Map([['d-wait', 'waiting']]));
    expect(deliveredIds(fixture.sink)).toEqual([]);
  });

  it('dead-letters an entry with its stream id, counts each failure, and goes on in the next run', async () => {
    const { app, dispatcher, ingest } = await delivering({ OUTBOX_MAX_ATTEMPTS: '2', OUTBOX_RETRY_MS: '10' });
    const spikes = await ingest('d-dead', 1);
    const first = `d-dead/${spikes[0]}/cpu/opened`;
    fixture.sink.answer((headers) => (headers['ce-id'] === first ? 500 : 202));
    const failed = await metric('anomaly_events_total', { outcome: 'failed' });
    const d = dispatcher();
    expect(await d.drain()).toEqual(new Map([['d-dead', 'failing']]));
    await sleep(30);
    expect(await d.drain()).toEqual(new Map([['d-dead', 'more']]));
    expect(await d.drain()).toEqual(new Map([['d-dead', 'drained']]));
    expect((await metric('anomaly_events_total', { outcome: 'failed' })) - failed).toBe(1);
    expect(deliveredIds(fixture.sink)).toEqual([`d-dead/${spikes[0]}/cpu/closed`]);
    const [letter] = await fixture.redis.xrange(`${app.context.config.keyPrefix}${keys.deadLetters}`, '-', '+');
    const fields = Object.fromEntries(letter![1].flatMap((v, i, all) => (i % 2 === 0 ? [[v, all[i + 1]]] : [])));
    expect(fields.entry).toMatch(/^\d+-\d+$/);
    expect(fields.attempts).toBe('2');
  });
});

describe('delivering to an https:// K_SINK', () => {
  it('verifies the sink against the trusted CAs (NODE_EXTRA_CA_CERTS for a private one)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'iot-sink-tls-'));
    const certificates = makeCertificates(dir);
    const secure = await startSink({ tls: certificates });
    const env = { REDIS_URL: inject('redisUrl'), K_SINK: secure.url, EPISODE_TRIGGER: 'flag' };
    const trusting = await startFunction('ingest', { ...env, KEY_PREFIX: 't:tls-a:', NODE_EXTRA_CA_CERTS: certificates.ca });
    const distrusting = await startFunction('ingest', { ...env, KEY_PREFIX: 't:tls-b:', NODE_EXTRA_CA_CERTS: certificates.otherCa });
    try {
      const trusted = episodeStream('d-tls', 1);
      expect((await request(`${trusting.url}/ingest/batch`, { body: trusted.events })).status).toBe(202);
      expect((await request(`${distrusting.url}/ingest/batch`, { body: episodeStream('d-untrusted', 1).events })).status).toBe(202);
      await waitFor('the deliveries over TLS', async () => secure.received.length === 2);
      expect(secure.received.map((r) => r.headers['ce-id'])).toEqual(expectedIds('d-tls', trusted.spikes));
      // The other process never got past the handshake: nothing of d-untrusted arrived.
      await sleep(500);
      expect(secure.received).toHaveLength(2);
    } finally {
      await Promise.all([trusting.stop(), distrusting.stop()]);
      await secure.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the outbox sweep', () => {
  it('finds an outbox among thousands of other keys, and finds nothing without failing', async () => {
    const { app, ingest } = await delivering();
    const { outbox } = app.context.store;
    expect(await outbox.sweep()).toBe(0);
    const prefix = app.context.config.keyPrefix;
    const filler = fixture.redis.pipeline();
    for (let i = 0; i < 3000; i++) filler.set(`${prefix}filler:${i}`, '1');
    await filler.exec();
    await ingest('d-swept', 1);
    await fixture.redis.del(`${prefix}${keys.outboxDevices}`);
    expect(await outbox.sweep()).toBe(1);
    expect(await fixture.redis.smembers(`${prefix}${keys.outboxDevices}`)).toEqual(['d-swept']);
  });
});

describe('a started dispatcher', () => {
  it('delivers by itself, sweeps at start, and exports its backlog', async () => {
    const { app, ingest } = await delivering({ OUTBOX_RETRY_MS: '60000' });
    const spikes = await ingest('d-auto', 1);
    await ingest('d-stuck', 1);
    const prefix = app.context.config.keyPrefix;
    await fixture.redis.del(`${prefix}${keys.outboxDevices}`);
    fixture.sink.answer((headers) => (headers['ce-subject'] === 'd-stuck' ? 503 : 202));
    const errors = vi.spyOn(console, 'error');
    const dispatcher = startDispatcher(app.context.store.outbox, { ...app.context.config, sinkUrl: fixture.sink.url });
    try {
      await waitFor('the deliveries', async () => deliveredIds(fixture.sink).length === 2);
      expect(deliveredIds(fixture.sink)).toEqual(expectedIds('d-auto', spikes));
      // d-stuck waits after its failure: one device in the backlog.
      await waitFor('the backlog', async () => (await registry.metrics()).split('\n').includes('anomaly_events_backlog_devices 1'));
    } finally {
      dispatcher.stop();
      errors.mockRestore();
    }
    // Redis never went away: no line about the dispatch (a failing fixture.sink is a metric, not a log line).
    expect(errors.mock.calls.filter(([line]) => String(line).includes('outbox dispatch'))).toEqual([]);
    // Stopped: what is written now stays in its outbox.
    await ingest('d-auto', 1);
    await sleep(600);
    expect(deliveredIds(fixture.sink)).toEqual(expectedIds('d-auto', spikes));
  });

  it('logs once when Redis goes away, and once when it is back', async () => {
    const server = await startRedis();
    const { store, config } = createContext(testConfig({ REDIS_URL: server.url, K_SINK: fixture.sink.url, EPISODE_TRIGGER: 'flag' }));
    const errors = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    const dispatcher = startDispatcher(store.outbox, { ...config, sinkUrl: fixture.sink.url });
    const lines = (message: string) => errors.mock.calls.map(([line]) => String(line)).filter((line) => line.includes(message));
    const logged = (message: string) => lines(message).length;
    try {
      // One sweep at start, the next a minute later: not one per poll.
      await sleep(1200);
      const admin = new Redis(server.url);
      const scans = /cmdstat_scan:calls=(\d+)/.exec(await admin.info('commandstats'))?.[1];
      admin.disconnect();
      expect(scans).toBe('1');
      await server.stop();
      await waitFor('the failure logged', async () => logged('outbox dispatch failed') === 1);
      await sleep(1000);
      expect(logged('outbox dispatch failed')).toBe(1);
      const again = await startRedis({ port: server.port });
      try {
        await waitFor('the recovery logged', async () => logged('outbox dispatch recovered') === 1);
        await sleep(600);
        expect(lines('outbox dispatch recovered').map((line) => JSON.parse(line).severity)).toEqual(['INFO']);
        expect(lines('outbox dispatch failed').map((line) => JSON.parse(line).severity)).toEqual(['WARNING']);
      } finally {
        dispatcher.stop();
        await store.close();
        await again.stop();
      }
    } finally {
      dispatcher.stop();
      errors.mockRestore();
    }
  });
});

async function lagSum(): Promise<number> {
  const values = (await registry.getSingleMetric('anomaly_events_delivery_lag_seconds')!.get()).values;
  return values.find((v) => (v as { metricName?: string }).metricName === 'anomaly_events_delivery_lag_seconds_sum')?.value ?? 0;
}
