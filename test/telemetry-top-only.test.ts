import { describe, expect, it } from 'vitest';
import { createContext } from '../shared/context.js';
import { registry } from '../shared/telemetry/metrics.js';
import { observe } from '../shared/telemetry/observe.js';
import { testConfig } from './support/app.js';

// A process registers its Redis-backed gauges once, so each way of serving is a file of its own.
describe('a served stats function with top devices and no METRICS_DEVICES', () => {
  it('exports the top devices and their series', async () => {
    // A blank METRICS_DEVICES lists none (an empty one takes the default, `default`).
    const context = createContext(testConfig({ METRICS_DEVICES: ' ', METRICS_TOP_DEVICES: '1', MIN_SAMPLES: '2' }));
    expect(context.config.metricsDevices).toEqual([]);
    const readings = (device: string, values: number[]) => values.map((cpu, i) => ({ deviceId: device, timestamp: i, metrics: [['cpu', cpu]] as Array<[string, number]> }));
    await context.store.recordBatch([...readings('t1', [1, 1, 10]), ...readings('t2', [4, 4, 4])]);
    const stop = observe('stats-like', context, { seriesGauges: true });
    try {
      const lines = (await registry.metrics()).split('\n');
      expect(lines.filter((l) => l.startsWith('iot_device_recent_anomalies{'))).toEqual(['iot_device_recent_anomalies{device="t1"} 1']);
      expect(lines).toContain('iot_metric_value{device="t1",metric="cpu"} 10');
      expect(lines.some((l) => l.includes('device="t2"'))).toBe(false);
    } finally {
      stop();
      await context.store.close();
    }
  });
});
