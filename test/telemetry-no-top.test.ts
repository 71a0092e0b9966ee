import { describe, expect, it } from 'vitest';
import { createContext } from '../shared/context.js';
import { registry } from '../shared/telemetry/metrics.js';
import { observe } from '../shared/telemetry/observe.js';
import { testConfig } from './support/app.js';

// A process registers its Redis-backed gauges once, so each way of serving is a file of its own.
describe('a served stats function with METRICS_TOP_DEVICES=0', () => {
  it('exports the series of METRICS_DEVICES, no top devices, and reads no anomaly list', async () => {
    const context = createContext(testConfig({ METRICS_DEVICES: 'g1', METRICS_TOP_DEVICES: '0', MIN_SAMPLES: '2' }));
    const readings = (values: number[]) => values.map((cpu, i) => ({ deviceId: 'g1', timestamp: i, metrics: [['cpu', cpu]] as Array<[string, number]> }));
    await context.store.recordBatch([...readings([1, 1, 5]), { deviceId: 'h1', timestamp: 0, metrics: [['cpu', 9]] }]);
    const stop = observe('stats-like', context, { seriesGauges: true });
    try {
      const text = await registry.metrics();
      expect(text.split('\n')).toContain('iot_metric_value{device="g1",metric="cpu"} 5');
      expect(text).not.toContain('iot_device_recent_anomalies');
      expect(text).not.toContain('device="h1"');
      expect(text).not.toContain('operation="top_devices"');
      await context.store.recordBatch(readings([7]));
      expect((await registry.metrics()).split('\n')).toContain('iot_metric_value{device="g1",metric="cpu"} 7');
    } finally {
      stop();
      await context.store.close();
    }
  });
});
