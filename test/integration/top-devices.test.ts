import { afterAll, describe, expect, it } from 'vitest';
import { createContext } from '../../shared/context.js';
import type { Reading } from '../../shared/schemas/event.js';
import type { Store } from '../../shared/store/store.js';
import { testConfig } from '../support/app.js';

const opened: Store[] = [];
afterAll(() => Promise.all(opened.map((s) => s.close())));

/** Two equal values, then `anomalies` values each ten times the last: every one of them is flagged. */
const spiking = (device: string, anomalies: number): Reading[] =>
  [1, 1, ...Array.from({ length: anomalies }, (_, i) => 10 ** (i + 1))].map((cpu, i) => ({ deviceId: device, timestamp: i, metrics: [['cpu', cpu]] }));

describe('the devices with the most recent anomalies', () => {
  it('are counted from the global recent list: most first, a tie to the most recent, at most the limit', async () => {
    // The list keeps 4: the first anomaly of "a" leaves it when "c" arrives.
    const { store } = createContext(testConfig({ MIN_SAMPLES: '2', RECENT_ANOMALIES: '4' }));
    opened.push(store);
    expect(await store.topAnomalousDevices(10)).toEqual([]);
    for (const [device, anomalies] of [['a', 3], ['b', 1], ['quiet', 0], ['c', 1]] as const) {
      const outcomes = await store.recordBatch(spiking(device, anomalies));
      expect(outcomes.anomalies).toHaveLength(anomalies);
    }
    expect(await store.topAnomalousDevices(10)).toEqual([
      { device_id: 'a', anomalies: 2 },
      { device_id: 'c', anomalies: 1 },
      { device_id: 'b', anomalies: 1 },
    ]);
    expect(await store.topAnomalousDevices(2)).toEqual([
      { device_id: 'a', anomalies: 2 },
      { device_id: 'c', anomalies: 1 },
    ]);
    expect(await store.topAnomalousDevices(0)).toEqual([]);
  });
});
