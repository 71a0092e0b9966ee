import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiRoutes } from '../../functions/api.js';
import { ingestRoutes } from '../../functions/ingest/routes.js';
import { createDispatcher } from '../../shared/outbox/dispatcher.js';
import { startSink } from '../../support/sink.js';
import { deliveredIds, episodeStream, expectedIds } from '../support/episodes.js';
import { moments, replay } from '../../shared/detector/reference.js';
import { type TestApp, request, startApp } from '../support/app.js';
import { type RedisCluster, startRedisCluster } from '../../support/cluster.js';

let cluster: RedisCluster;
let app: TestApp;
beforeAll(async () => {
  cluster = await startRedisCluster();
  app = await startApp(apiRoutes, { REDIS_CLUSTER_NODES: cluster.nodes, WINDOW_SIZE: '20', MIN_SAMPLES: '5' });
}, 60_000);
afterAll(async () => {
  await app?.close();
  await cluster?.stop();
});

describe('on a three-master Redis Cluster', () => {
  it('ingests the seed payloads and answers analyze, anomalies, stats and health', async () => {
    expect((await request(`${app.url}/ingest`, { body: { timestamp: '2024-01-15T10:30:00Z', cpu: 75.5, rps: 1250 } })).status).toBe(202);
    expect((await request(`${app.url}/metrics-data`, { body: { timestamp: 1234567890, cpu: 45.5, rps: 105.3, memory: 50.2, latency: 25.1 } })).status).toBe(202);
    const analyze = await request(`${app.url}/analyze`);
    expect(analyze.body.series.map((s: { metric: string }) => s.metric)).toEqual(['cpu', 'latency', 'memory', 'rps']);
    expect(analyze.body.series[0]).toMatchObject({ value: 45.5, avg: 60.5, samples: 2 });
    expect((await request(`${app.url}/health`)).status).toBe(200);
  });

  it('runs the record script unchanged: results equal the reference, anomalies are listed', async () => {
    const values = Array.from({ length: 120 }, (_, i) => (i % 37 === 36 ? 500 : 50 + ((i * 7) % 11)));
    const expected = replay(values, { windowSize: 20, zThreshold: 2, minSamples: 5 });
    for (const [i, cpu] of values.entries()) {
      const reply = await request(`${app.url}/ingest`, { body: { device_id: 'cluster-ref', cpu } });
      const got = reply.body.metrics.cpu;
      expect(got.avg).toBeCloseTo(expected[i]!.avg, 9);
      expect(got.anomaly).toBe(expected[i]!.anomaly);
    }
    const anomalies = await request(`${app.url}/anomalies?device=cluster-ref`);
    expect(anomalies.body.recent).toHaveLength(expected.filter((o) => o.anomaly).length);
  });

  it('applies a batch spanning 500 devices across every master, exactly once each', async () => {
    const events = Array.from({ length: 1000 }, (_, i) => ({ device_id: `fleet-${i % 500}`, id: `b-${i}`, cpu: i, memory: i % 9 }));
    const reply = await request(`${app.url}/ingest/batch`, { body: events });
    expect(reply.status).toBe(202);
    expect(reply.body).toMatchObject({ accepted: 1000, duplicates: [] });
    const again = await request(`${app.url}/ingest/batch`, { body: events.slice(0, 10) });
    expect(again.body.duplicates).toHaveLength(10);
    for (const d of [0, 123, 499]) {
      const series = await request(`${app.url}/analyze?device=fleet-${d}&metric=cpu`);
      expect(series.body.series[0]).toMatchObject({ value: d + 500, samples: 2, count: 2 });
      expect(series.body.series[0].avg).toBeCloseTo(moments([d, d + 500]).mean, 12);
    }
    const stats = await request(`${app.url}/stats`);
    // default (4 series), cluster-ref (1), 500 fleet devices (2 each); the ten resent events do not count.
    expect(stats.body).toMatchObject({ devices: 502, series: 1005, events: 2 + 120 + 1000 });
    const { config } = app.context;
    for (const port of cluster.ports) {
      const node = new Redis({ port, host: '127.0.0.1' });
      const keys = await node.keys(`${config.keyPrefix}dev:*`);
      node.disconnect();
      expect(keys.length, `node ${port} holds device keys`).toBeGreaterThan(100);
    }
  });

  it('answers single events of many devices sent together (coalesced per slot), each with its own result', async () => {
    const { store } = app.context;
    const devices = Array.from({ length: 60 }, (_, d) => `single-${d}`);
    await store.recordBatch(devices.flatMap((device, d) => [d, d + 2].map((cpu) => ({ deviceId: device, timestamp: 0, metrics: [['cpu', cpu]] as Array<[string, number]> }))));
    const outcomes = await Promise.all(devices.map((device, d) => store.recordOne({ deviceId: device, timestamp: 0, metrics: [['cpu', d + 4]] })));
    outcomes.forEach((outcome, d) => expect(outcome).toMatchObject({ status: 'applied', metrics: [{ value: d + 4, avg: moments([d, d + 2, d + 4]).mean }] }));
  });

  it('keeps the outbox of each device in its slot: swept from every master and delivered in order per device', async () => {
    const sink = await startSink();
    const ingest = await startApp(ingestRoutes, { REDIS_CLUSTER_NODES: cluster.nodes, K_SINK: sink.url, EPISODE_TRIGGER: 'flag' });
    try {
      const streams = Array.from({ length: 24 }, (_, d) => ({ device: `out-${d}`, ...episodeStream(`out-${d}`, 1) }));
      expect((await request(`${ingest.url}/ingest/batch`, { body: streams.flatMap((s) => s.events) })).status).toBe(202);
      const { outbox } = ingest.context.store;
      // The sweep asks every master (the announcements removed first, as if a pod had died before its tally).
      await outbox.forget(streams.map((s) => s.device));
      expect(await outbox.sweep()).toBe(24);
      const dispatcher = createDispatcher(outbox, { ...ingest.context.config, sinkUrl: sink.url });
      const report = await dispatcher.drain();
      expect([...new Set(report.values())]).toEqual(['drained']);
      expect(report.size).toBe(24);
      for (const { device, spikes } of streams) expect(deliveredIds(sink).filter((id) => id.startsWith(`${device}/`))).toEqual(expectedIds(device, spikes));
    } finally {
      await ingest.close();
      await sink.stop();
    }
  });
});
