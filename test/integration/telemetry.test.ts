import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { createContext } from '../../shared/context.js';
import { createMetrics, processMetrics, registry as processRegistry } from '../../shared/telemetry/metrics.js';
import { observe, servedTarget, whenServed } from '../../shared/telemetry/observe.js';
import { testConfig } from '../support/app.js';
import { cpuReadings, sample, servedContext } from '../support/telemetry.js';

// Metrics built in this process (the observability test runs the functions as child processes; here a
// change to the counting code is seen by the test itself), each configuration on metrics of its own,
// with a real Redis. The push to a Pushgateway: telemetry-push.test.ts.

describe('the counters of a function process', () => {
  // One set of metrics for the whole block: its tests build on what the ones before counted.
  const metrics = createMetrics();
  const { registry } = metrics;
  const value = (name: string, labels: Record<string, string> = {}) => sample(registry, name, labels);

  it('define the anomaly event outcomes at 0 before any delivery, so that rates over them have data', async () => {
    const text = await registry.metrics();
    for (const outcome of ['delivered', 'failed', 'dead_lettered']) expect(text).toContain(`anomaly_events_total{outcome="${outcome}"} 0`);
  });

  it('count requests, values, anomalies, batch sizes and refusals as they happen', async () => {
    const before = { requests: await value('http_requests_total', { function: 'f', status: '202' }), cpu: await value('metrics_processed_total', { metric: 'cpu' }) };
    metrics.observeRequest('f', 'POST', '/ingest', 202, 0.004);
    const episodes = { opened: await value('anomaly_episodes_total', { metric: 'cpu' }), closed: await value('anomaly_episodes_closed_total', { metric: 'cpu' }) };
    metrics.countEvent([['cpu', true, 'opened'], ['rps', false, null]]);
    metrics.countBatch(5, new Map([['cpu', { values: 4, anomalies: 1, opened: 2, closed: 1 }]]));
    metrics.countRefused('store_full', 3);
    metrics.countRefused('rate_limited', 0);
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
    for (let i = 0; i < 120; i++) metrics.countEvent([[`m${i}`, false, null]]);
    const labels = new Set((await registry.getSingleMetric('metrics_processed_total')!.get()).values.map((v) => String(v.labels.metric)));
    expect(labels.size).toBeLessThanOrEqual(101);
    expect(labels.has('other')).toBe(true);
    // A name labelled before keeps its label.
    const cpu = await value('metrics_processed_total', { metric: 'cpu' });
    metrics.countEvent([['cpu', false, null]]);
    expect(await value('metrics_processed_total', { metric: 'cpu' })).toBe(cpu + 1);
  });

  it('leave a flag or episode counter without a series for a metric that had none', async () => {
    // rps: labelled by the test above, never flagged
    const processed = await value('metrics_processed_total', { metric: 'rps' });
    metrics.countBatch(2, new Map([['rps', { values: 2, anomalies: 0, opened: 0, closed: 0 }]]));
    metrics.countEvent([['rps', false, null]]);
    expect(await value('metrics_processed_total', { metric: 'rps' })).toBe(processed + 3);
    for (const name of ['anomaly_detected_total', 'anomaly_episodes_total', 'anomaly_episodes_closed_total']) {
      expect((await registry.getSingleMetric(name)!.get()).values.some((v) => v.labels.metric === 'rps')).toBe(false);
    }
  });

  it('time requests by function and route in buckets fine below 10 ms, beside the default process metrics', async () => {
    metrics.observeRequest('timed', 'GET', '/analyze', 200, 0.0004);
    metrics.redisTimer('timed')();
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
    metrics.recordPush(true);
    const at = await value('metrics_push_last_success_timestamp_seconds');
    expect(at).toBeGreaterThanOrEqual(before);
    expect(at).toBeLessThanOrEqual(Date.now() / 1000);
  });
});

describe('the metrics of a context', () => {
  it('are the process\'s one registry unless the context is given its own', async () => {
    const own = createMetrics();
    const [shared, apart] = [createContext(testConfig()), createContext(testConfig(), own)];
    try {
      expect(processMetrics()).toBe(processMetrics());
      expect(processRegistry).toBe(processMetrics().registry);
      expect(shared.metrics).toBe(processMetrics());
      expect(apart.metrics).toBe(own);
      expect(own.registry).not.toBe(processRegistry);
    } finally {
      await Promise.all([shared.store.close(), apart.store.close()]);
    }
  });

  it('count what their own store and requests did, apart from any other', async () => {
    const [a, b] = [servedContext(), servedContext()];
    try {
      await a.store.recordBatch(cpuReadings('d1', [1]));
      a.metrics.observeRequest('apart', 'POST', '/ingest', 202, 0.001);
      expect(await sample(a.metrics.registry, 'redis_operation_duration_seconds', { operation: 'record_batch', le: '+Inf' })).toBe(1);
      expect(await sample(b.metrics.registry, 'redis_operation_duration_seconds', { operation: 'record_batch', le: '+Inf' })).toBe(0);
      expect(await sample(a.metrics.registry, 'http_requests_total', { function: 'apart' })).toBe(1);
      expect(await sample(b.metrics.registry, 'http_requests_total', { function: 'apart' })).toBe(0);
    } finally {
      await Promise.all([a.store.close(), b.store.close()]);
    }
  });
});

// Each way of serving registers its Redis-backed gauges on metrics of its own, side by side in this process.
describe('a served function, by configuration', () => {
  describe('without series gauges (ingest, analyze)', () => {
    it('reports Redis reachability only, reads no device, and pushes nothing without PUSHGATEWAY_URL', async () => {
      const context = servedContext({ PUSH_INTERVAL_MS: '100', METRICS_DEVICES: 'g1' });
      await context.store.recordBatch(cpuReadings('g1', [1, 1, 5]));
      const stop = observe('ingest-like', context, { seriesGauges: false });
      try {
        await sleep(350);
        const text = await context.metrics.registry.metrics();
        expect(text.split('\n')).toContain('iot_redis_up 1');
        for (const name of ['iot_metric_value', 'iot_metric_avg', 'iot_metric_zscore', 'iot_device_recent_anomalies']) expect(text).not.toContain(name);
        expect(text).not.toContain('operation="top_devices"');
        expect(text.split('\n')).toContain('metrics_push_failures_total 0');
      } finally {
        stop();
        await context.store.close();
      }
    });
  });

  describe('a stats function with METRICS_TOP_DEVICES=0', () => {
    it('exports the series of METRICS_DEVICES, no top devices, and reads no anomaly list', async () => {
      const context = servedContext({ METRICS_DEVICES: 'g1', METRICS_TOP_DEVICES: '0', MIN_SAMPLES: '2' });
      const { registry } = context.metrics;
      await context.store.recordBatch([...cpuReadings('g1', [1, 1, 5]), { deviceId: 'h1', timestamp: 0, metrics: [['cpu', 9]] }]);
      const stop = observe('stats-like', context, { seriesGauges: true });
      try {
        const text = await registry.metrics();
        expect(text.split('\n')).toContain('iot_metric_value{device="g1",metric="cpu"} 5');
        expect(text).not.toContain('iot_device_recent_anomalies');
        expect(text).not.toContain('device="h1"');
        expect(text).not.toContain('operation="top_devices"');
        await context.store.recordBatch(cpuReadings('g1', [7]));
        expect((await registry.metrics()).split('\n')).toContain('iot_metric_value{device="g1",metric="cpu"} 7');
      } finally {
        stop();
        await context.store.close();
      }
    });
  });

  describe('a stats function with top devices and no METRICS_DEVICES', () => {
    it('exports the top devices and their series', async () => {
      // A blank METRICS_DEVICES lists none (an empty one takes the default, `default`).
      const context = servedContext({ METRICS_DEVICES: ' ', METRICS_TOP_DEVICES: '1', MIN_SAMPLES: '2' });
      expect(context.config.metricsDevices).toEqual([]);
      await context.store.recordBatch([...cpuReadings('t1', [1, 1, 10]), ...cpuReadings('t2', [4, 4, 4])]);
      const stop = observe('stats-like', context, { seriesGauges: true });
      try {
        const lines = (await context.metrics.registry.metrics()).split('\n');
        expect(lines.filter((l) => l.startsWith('iot_device_recent_anomalies{'))).toEqual(['iot_device_recent_anomalies{device="t1"} 1']);
        expect(lines).toContain('iot_metric_value{device="t1",metric="cpu"} 10');
        expect(lines.some((l) => l.includes('device="t2"'))).toBe(false);
      } finally {
        stop();
        await context.store.close();
      }
    });
  });
});

describe('the function a process serves', () => {
  it('is the only one whose reporting is set up', () => {
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

  it('is picked from --target or FUNCTION_TARGET', () => {
    expect(servedTarget(['node', 'main.js', '--target=ingest'], {})).toBe('ingest');
    expect(servedTarget(['node', 'main.js', '--target', 'stats'], {})).toBe('stats');
    expect(servedTarget(['node', 'main.js'], { FUNCTION_TARGET: 'analyze' })).toBe('analyze');
    expect(servedTarget(['node', 'main.js'], {})).toBeUndefined();
  });
});
