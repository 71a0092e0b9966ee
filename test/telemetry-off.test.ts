import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { createContext } from '../shared/context.js';
import { registry } from '../shared/telemetry/metrics.js';
import { observe } from '../shared/telemetry/observe.js';
import { testConfig } from './support/app.js';

// A process registers its Redis-backed gauges once, so each way of serving is a file of its own.
describe('a served function without series gauges (ingest, analyze)', () => {
  it('reports Redis reachability only, reads no device, and pushes nothing without PUSHGATEWAY_URL', async () => {
    const context = createContext(testConfig({ PUSH_INTERVAL_MS: '100', METRICS_DEVICES: 'g1' }));
    await context.store.recordBatch([1, 1, 5].map((cpu, i) => ({ deviceId: 'g1', timestamp: i, metrics: [['cpu', cpu]] })));
    const stop = observe('ingest-like', context, { seriesGauges: false });
    try {
      await sleep(350);
      const text = await registry.metrics();
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
