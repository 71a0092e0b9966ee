import { type IncomingMessage, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../shared/config/load.js';
import { createContext } from '../../shared/context.js';
import { createMetrics } from '../../shared/telemetry/metrics.js';
import { observe } from '../../shared/telemetry/observe.js';
import { startPushgateway } from '../../support/prometheus.js';
import { type Running, freePort, waitFor } from '../../support/servers.js';
import { testConfig } from '../support/app.js';
import { cpuReadings, sample, servedContext } from '../support/telemetry.js';

// The push of a served function's metrics to a real Pushgateway (and to one that fails or hangs), each
// test on metrics of its own. What the metrics hold: telemetry.test.ts.

let pushgateway: Running;
beforeAll(async () => {
  pushgateway = await startPushgateway();
});
afterAll(() => pushgateway?.stop());

describe('a served function reports', () => {
  it('the series of METRICS_DEVICES and of the top devices read from Redis, Redis reachability, and pushes them to the Pushgateway', async () => {
    const base = testConfig();
    const env = { METRICS_DEVICES: 'g1,g2', METRICS_TOP_DEVICES: '1', MIN_SAMPLES: '2', PUSHGATEWAY_URL: pushgateway.url, PUSH_INTERVAL_MS: '100', HOSTNAME: 'pod-t' };
    const config = loadConfig({ REDIS_URL: base.redisUrl, KEY_PREFIX: base.keyPrefix, ...env });
    const context = createContext(config, createMetrics());
    const { registry } = context.metrics;
    // One anomaly of g1 (after a zero-variance baseline), two of h1, none of h2: with one top device,
    // h1 (outside METRICS_DEVICES) is exported too. Written first: a collection that starts during
    // the write (the push timer's) may show the state before it.
    await context.store.recordBatch([...cpuReadings('g1', [1, 1, 5]), ...cpuReadings('h1', [1, 1, 10, 100]), ...cpuReadings('h2', [7, 8, 7])]);
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
      expect(await sample(registry, 'redis_operation_duration_seconds', { operation: 'top_devices', le: '+Inf' })).toBeGreaterThan(0);
      // Every collection reads Redis again: a new value shows in the next one.
      await context.store.recordBatch(cpuReadings('g1', [6]));
      expect((await registry.metrics()).split('\n')).toContain('iot_metric_value{device="g1",metric="cpu"} 6');
      // Pushes every 100 ms: one taken after the batch carries its series, under job and instance.
      const line = /iot_metric_value\{device="g1",instance="pod-t",job="telemetry-test",metric="cpu"\} 6$/m;
      await waitFor('the push of the series', async () => line.test(await (await fetch(`${pushgateway.url}/metrics`)).text()));
      expect(await sample(registry, 'metrics_push_last_success_timestamp_seconds')).toBeGreaterThan(Date.now() / 1000 - 60);
    } finally {
      stop();
      await context.store.close();
    }
  });
});

describe('a served function pushing its metrics', () => {
  it('logs a failing push once, and its recovery once, never throwing', async () => {
    const port = await freePort();
    const context = servedContext({ PUSHGATEWAY_URL: `http://127.0.0.1:${port}`, PUSH_INTERVAL_MS: '100' });
    const { config, metrics } = context;
    const lines: Array<{ severity: string; message: string; pushgateway: string }> = [];
    const original = console.error;
    // Only this pusher's lines (another test's timers may still log).
    console.error = (line: string) => {
      const parsed = (() => { try { return JSON.parse(line); } catch { return undefined; } })();
      if (parsed?.pushgateway === config.pushgatewayUrl) lines.push(parsed);
    };
    const stop = observe('push-log-test', context, { seriesGauges: false });
    let late: Running | undefined;
    try {
      // Nothing listens yet: several pushes fail, one line says so, each is counted, none is a success.
      await new Promise((resolve) => setTimeout(resolve, 450));
      expect(lines.map((l) => [l.severity, l.message, l.pushgateway])).toEqual([['WARNING', 'metrics push failed', config.pushgatewayUrl]]);
      expect(await sample(metrics.registry, 'metrics_push_failures_total')).toBeGreaterThanOrEqual(3);
      expect(await sample(metrics.registry, 'metrics_push_last_success_timestamp_seconds')).toBe(0);
      late = await startPushgateway(port);
      await waitFor('the recovery line', async () => lines.length === 2);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(lines.slice(1).map((l) => [l.severity, l.message, l.pushgateway])).toEqual([['INFO', 'metrics push recovered', config.pushgatewayUrl]]);
      expect(await sample(metrics.registry, 'metrics_push_last_success_timestamp_seconds')).toBeGreaterThan(Date.now() / 1000 - 60);
    } finally {
      stop();
      console.error = original;
      await late?.stop();
      await context.store.close();
    }
  });
});

describe('a served function pushing to a Pushgateway that hangs', () => {
  it('gives up a push that hangs within the interval, so the next one is made; and stops when told', async () => {
    // A "Pushgateway" that takes requests and never answers them.
    const connections: IncomingMessage[] = [];
    const server = createServer((req) => void connections.push(req));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const context = servedContext({ PUSHGATEWAY_URL: `http://127.0.0.1:${port}`, PUSH_INTERVAL_MS: '100' });
    const original = console.error;
    console.error = () => undefined;
    const stop = observe('push-hang-test', context, { seriesGauges: false });
    try {
      // Each push gives up after the interval (100 ms): three of them well within 2 s, not one per
      // agent timeout (5 s) or never.
      const started = Date.now();
      await waitFor('three pushes', async () => connections.length >= 3);
      expect(Date.now() - started).toBeLessThan(2000);
      stop();
      await new Promise((resolve) => setTimeout(resolve, 300));
      const after = connections.length;
      await new Promise((resolve) => setTimeout(resolve, 400));
      expect(connections.length).toBe(after);
    } finally {
      stop();
      console.error = original;
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await context.store.close();
    }
  });
});
