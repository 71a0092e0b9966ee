import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createContext } from '../shared/context.js';
import { loadConfig } from '../shared/config/load.js';
import { countBatch, countEvent, countRefused, observeRequest, recordPush, redisTimer, registry } from '../shared/telemetry/metrics.js';
import { observe, servedTarget, whenServed } from '../shared/telemetry/observe.js';
import '../shared/telemetry/outbox-metrics.js';
import { type Running, waitFor } from '../support/servers.js';
import { startPushgateway } from '../support/prometheus.js';
import { testConfig } from './support/app.js';

// The registry in this process (the observability test runs the functions as child processes; here a
// change to the counting code is seen by the test itself), with a real Redis and Pushgateway.
const value = async (name: string, labels: Record<string, string> = {}) =>
  (await registry.getSingleMetric(name)!.get()).values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))?.value ?? 0;

let pushgateway: Running;
beforeAll(async () => {
  pushgateway = await startPushgateway();
});
afterAll(() => pushgateway?.stop());

describe('the counters of a function process', () => {
  it('define the anomaly event outcomes at 0 before any delivery, so that rates over them have data', async () => {
    const text = await registry.metrics();
    for (const outcome of ['delivered', 'failed', 'dead_lettered']) expect(text).toContain(`anomaly_events_total{outcome="${outcome}"} 0`);
  });

  it('count requests, values, anomalies, batch sizes and refusals as they happen', async () => {
    const before = { requests: await value('http_requests_total', { function: 'f', status: '202' }), cpu: await value('metrics_processed_total', { metric: 'cpu' }) };
    observeRequest('f', 'POST', '/ingest', 202, 0.004);
    const episodes = { opened: await value('anomaly_episodes_total', { metric: 'cpu' }), closed: await value('anomaly_episodes_closed_total', { metric: 'cpu' }) };
    countEvent([['cpu', true, 'opened'], ['rps', false, null]]);
    countBatch(5, new Map([['cpu', { values: 4, anomalies: 1, opened: 2, closed: 1 }]]));
    countRefused('store_full', 3);
    countRefused('rate_limited', 0);
    expect(await value('http_requests_total', { function: 'f', status: '202' })).toBe(before.requests + 1);
    expect(await value('metrics_processed_total', { metric: 'cpu' })).toBe(before.cpu + 5);
    expect(await value('anomaly_detected_total', { metric: 'cpu' })).toBeGreaterThanOrEqual(2);
    expect(await value('anomaly_detected_total', { metric: 'rps' })).toBe(0);
    expect(await value('anomaly_episodes_total', { metric: 'cpu' })).toBe(episodes.opened + 3);
    expect(await value('anomaly_episodes_closed_total', { metric: 'cpu' })).toBe(episodes.closed + 1);
    expect(await value('events_refused_total', { reason: 'store_full' })).toBe(3);
    expect((await registry.getSingleMetric('events_refused_total')!.get()).values.some((v) => v.labels.reason === 'rate_limited')).toBe(false);
    const sizes = (await registry.getSingleMetric('ingest_batch_size')!.get()).values as Array<{ metricName?: string; value: number }>;
    expect(sizes.find((v) => v.metricName === 'ingest_batch_size_sum')?.value).toBe(6);
  });

  it('label at most 100 metric names, then "other"', async () => {
    for (let i = 0; i < 120; i++) countEvent([[`m${i}`, false, null]]);
    const labels = new Set((await registry.getSingleMetric('metrics_processed_total')!.get()).values.map((v) => String(v.labels.metric)));
    expect(labels.size).toBeLessThanOrEqual(101);
    expect(labels.has('other')).toBe(true);
    // A name labelled before keeps its label.
    const cpu = await value('metrics_processed_total', { metric: 'cpu' });
    countEvent([['cpu', false, null]]);
    expect(await value('metrics_processed_total', { metric: 'cpu' })).toBe(cpu + 1);
  });

  it('leave a flag or episode counter without a series for a metric that had none', async () => {
    // rps: labelled by the test above, never flagged
    const processed = await value('metrics_processed_total', { metric: 'rps' });
    countBatch(2, new Map([['rps', { values: 2, anomalies: 0, opened: 0, closed: 0 }]]));
    countEvent([['rps', false, null]]);
    expect(await value('metrics_processed_total', { metric: 'rps' })).toBe(processed + 3);
    for (const name of ['anomaly_detected_total', 'anomaly_episodes_total', 'anomaly_episodes_closed_total']) {
      expect((await registry.getSingleMetric(name)!.get()).values.some((v) => v.labels.metric === 'rps')).toBe(false);
    }
  });

  it('time requests by function and route in buckets fine below 10 ms, beside the default process metrics', async () => {
    observeRequest('timed', 'GET', '/analyze', 200, 0.0004);
    redisTimer('timed')();
    const lines = (await registry.metrics()).split('\n');
    expect(lines).toContain('http_request_duration_seconds_bucket{le="0.0005",function="timed",route="/analyze"} 1');
    expect(lines).toContain('http_request_duration_seconds_bucket{le="0.0075",function="timed",route="/analyze"} 1');
    expect(lines.some((l) => l.startsWith('redis_operation_duration_seconds_bucket{le="0.0001",operation="timed"}'))).toBe(true);
    expect(lines).toContain('anomaly_events_delivery_lag_seconds_bucket{le="3600"} 0');
    // collectDefaultMetrics registered in this registry, the one that is pushed and served
    for (const name of ['process_cpu_user_seconds_total', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes']) {
      expect(lines.some((l) => l.startsWith(`${name} `))).toBe(true);
    }
  });

  it('record a successful push as a time in seconds', async () => {
    const before = Date.now() / 1000;
    recordPush(true);
    const at = await value('metrics_push_last_success_timestamp_seconds');
    expect(at).toBeGreaterThanOrEqual(before);
    expect(at).toBeLessThanOrEqual(Date.now() / 1000);
  });
});

describe('a served function reports', () => {
  it('the series of METRICS_DEVICES and of the top devices read from Redis, Redis reachability, and pushes them to the Pushgateway', async () => {
    const base = testConfig();
    const env = { METRICS_DEVICES: 'g1,g2', METRICS_TOP_DEVICES: '1', MIN_SAMPLES: '2', PUSHGATEWAY_URL: pushgateway.url, PUSH_INTERVAL_MS: '100', HOSTNAME: 'pod-t' };
    const config = loadConfig({ REDIS_URL: base.redisUrl, KEY_PREFIX: base.keyPrefix, ...env });
    const context = createContext(config);
    const readings = (device: string, values: number[]) => values.map((cpu, i) => ({ deviceId: device, timestamp: i, metrics: [['cpu', cpu]] as Array<[string, number]> }));
    // One anomaly of g1 (after a zero-variance baseline), two of h1, none of h2: with one top device,
    // h1 (outside METRICS_DEVICES) is exported too. Written first: a collection that starts during
    // the write (the push timer's) may show the state before it.
    await context.store.recordBatch([...readings('g1', [1, 1, 5]), ...readings('h1', [1, 1, 10, 100]), ...readings('h2', [7, 8, 7])]);
    const stop = observe('telemetry-test', context, { seriesGauges: true });
    try {
      const text = await registry.metrics();
      const lines = text.split('\n');
      // Whole lines: the help text of iot_redis_up begins with "1 when", and "} 5" is a prefix of "} 50".
      expect(lines).toContain('iot_redis_up 1');
      expect(lines).toContain('iot_metric_value{device="g1",metric="cpu"} 5');
      expect(lines).toContain('iot_metric_zscore{device="g1",metric="cpu"} +Inf');
      expect(text).not.toContain('device="g2"');
      expect(text.split('\n').filter((l) => l.startsWith('iot_device_recent_anomalies{'))).toEqual(['iot_device_recent_anomalies{device="h1"} 2']);
      expect(lines).toContain('iot_metric_value{device="h1",metric="cpu"} 100');
      expect(text).not.toContain('device="h2"');
      expect(await value('redis_operation_duration_seconds', { operation: 'top_devices', le: '+Inf' })).toBeGreaterThan(0);
      // Every collection reads Redis again: a new value shows in the next one.
      await context.store.recordBatch(readings('g1', [6]));
      expect((await registry.metrics()).split('\n')).toContain('iot_metric_value{device="g1",metric="cpu"} 6');
      // Pushes every 100 ms: one taken after the batch carries its series, under job and instance.
      const line = /iot_metric_value\{device="g1",instance="pod-t",job="telemetry-test",metric="cpu"\} 5/;
      await waitFor('the push of the series', async () => line.test(await (await fetch(`${pushgateway.url}/metrics`)).text()));
      expect(await value('metrics_push_last_success_timestamp_seconds')).toBeGreaterThan(Date.now() / 1000 - 60);
    } finally {
      stop();
      await context.store.close();
    }
  });

  it('sets up the reporting of the function this process serves only', () => {
    const saved = process.env.FUNCTION_TARGET;
    process.env.FUNCTION_TARGET = 'served-one';
    try {
      const calls: string[] = [];
      whenServed('served-one', () => calls.push('served-one'));
      whenServed('another', () => calls.push('another'));
      expect(calls).toEqual(['served-one']);
    } finally {
      if (saved === undefined) delete process.env.FUNCTION_TARGET;
      else process.env.FUNCTION_TARGET = saved;
    }
  });

  it('picks the target it serves from --target or FUNCTION_TARGET', () => {
    expect(servedTarget(['node', 'main.js', '--target=ingest'], {})).toBe('ingest');
    expect(servedTarget(['node', 'main.js', '--target', 'stats'], {})).toBe('stats');
    expect(servedTarget(['node', 'main.js'], { FUNCTION_TARGET: 'analyze' })).toBe('analyze');
    expect(servedTarget(['node', 'main.js'], {})).toBeUndefined();
  });
});
