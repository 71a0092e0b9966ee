// Alerts as a client sees them under the shipped default (no variables): the batch answers' `alerts`,
// each an episode opened by the baseline method (docs/detection.md, Detection).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiRoutes } from '../../functions/api.js';
import { PROFILES } from '../../shared/detector/profiles.js';
import { rng } from '../../support/random.js';
import { type TestApp, request, startApp } from '../support/app.js';

const T0 = Date.UTC(2025, 0, 6);
const FIVE_MINUTES = 300_000;
const DAY = 288; // values a day, 5 minutes apart
const { baselineRefractory: REFRACTORY, baselineWarmup: WARMUP, baselineFlatRun: FLAT_RUN } = PROFILES.default;

let api: TestApp;
beforeAll(async () => {
  api = await startApp(apiRoutes);
});
afterAll(() => api.close());

/** Sends a series of one device's metric through POST /batch, 5 minutes apart, and returns the indexes of the values that opened an alert. */
async function alertsOf(device: string, values: readonly number[]): Promise<number[]> {
  const alerts: number[] = [];
  for (let from = 0; from < values.length; from += 1000) {
    const body = values.slice(from, from + 1000).map((v, i) => ({ device_id: device, timestamp: new Date(T0 + (from + i) * FIVE_MINUTES).toISOString(), temp: v }));
    const reply = await request(`${api.url}/batch`, { body });
    expect(reply.status).toBe(202);
    alerts.push(...reply.body.alerts.map((a: { index: number }) => from + a.index));
  }
  return alerts;
}

/** Noise around `level`, 3 decimals, as a sensor reports it. */
const noise = (seed: number, n: number, level = 20) => {
  const r = rng(seed);
  return Array.from({ length: n }, () => Number((level + r.gauss()).toFixed(3)));
};

describe('alerts of the default profile', () => {
  it('opens one alert for a level shift', async () => {
    const values = noise(1, 1500);
    for (let i = 1000; i < 1500; i++) values[i]! += 8;
    expect(await alertsOf('shift', values)).toEqual([1000]);
  });

  it('does not alert on the daily cycle of a seasonal series (10 days) once it has seen a day, and alerts where a day breaks it', async () => {
    const r = rng(2);
    const cycle = (i: number) => 50 + 30 * Math.sin((2 * Math.PI * i) / DAY) + r.gauss();
    const calm = Array.from({ length: 10 * DAY }, (_, i) => cycle(i));
    // On its first day, an hour not seen yet is judged against the mean of those seen: the swing of a
    // new series' first day may alert (here twice); from the second day on, each hour has its own mean.
    const alerts0 = await alertsOf('seasonal', calm);
    expect(alerts0.filter((i) => i >= DAY)).toEqual([]);
    expect(alerts0.length).toBeLessThanOrEqual(2);
    // The same cycle with an hour flat at the day's mean where it should peak: unusual for the time of day only.
    const broken = Array.from({ length: 10 * DAY }, (_, i) => (i >= 8 * DAY + 60 && i < 8 * DAY + 84 ? 50 + r.gauss() : cycle(i)));
    const alerts = (await alertsOf('seasonal-broken', broken)).filter((i) => i >= DAY);
    expect(alerts.length).toBe(1);
    expect(alerts[0]).toBeGreaterThanOrEqual(8 * DAY + 60);
    expect(alerts[0]).toBeLessThan(8 * DAY + 84);
  });

  it('alerts on a spike, and not again during the refractory period', async () => {
    const values = noise(3, 800);
    values[400] = 60;
    values[400 + REFRACTORY / 2] = 60; // inside the refractory period: no second alert
    values[400 + 3 * REFRACTORY] = 60; // well after it: a new alert
    expect(await alertsOf('spikes', values)).toEqual([400, 400 + 3 * REFRACTORY]);
  });

  it('alerts on a stuck sensor, at its FLAT_RUN-th identical value', async () => {
    const values = noise(4, 600);
    for (let i = 401; i < 450; i++) values[i] = values[400]!;
    expect(await alertsOf('stuck', values)).toEqual([400 + FLAT_RUN - 1]);
  });

  it('does not alert on a quantised series that often repeats its value', async () => {
    const r = rng(5);
    const values = Array.from({ length: 1200 }, () => (r.next() < 0.7 ? 21 : r.pick([20, 22])));
    for (let i = 600; i < 640; i++) values[i] = 21;
    expect(await alertsOf('quantised', values)).toEqual([]);
  });

  it('does not alert during the warm-up of a new series', async () => {
    const values = noise(6, 300);
    values[WARMUP / 2] = 80;
    values[WARMUP + 100] = 80;
    expect(await alertsOf('young', values)).toEqual([WARMUP + 100]);
  });
});
