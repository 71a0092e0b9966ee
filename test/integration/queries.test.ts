// The query parameters of the read paths, refused and defaulted as a client sees them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiRoutes } from '../../functions/api.js';
import { type TestApp, request, startApp } from '../support/app.js';

let app: TestApp;
beforeAll(async () => {
  // A short global anomaly list, so that the default limit (50, at most RECENT_ANOMALIES) shows.
  app = await startApp(apiRoutes, { RECENT_ANOMALIES: '10', WINDOW_SIZE: '5', MIN_SAMPLES: '2' });
  // One device with more than 10 anomalies: steps up from a flat baseline.
  const events = [1, 1, ...Array.from({ length: 15 }, (_, i) => [100 + i, 100 + i, 100 + i]).flat()];
  await request(`${app.url}/ingest/batch`, { body: events.map((cpu) => ({ device_id: 'q-1', cpu })) });
});
afterAll(() => app?.close());

const refusal = async (query: string) => (await request(`${app.url}${query}`)).body;

describe('?limit=', () => {
  it.each([
    ['/anomalies?limit=12abc', 'limit: must be a whole number'],
    ['/anomalies?limit=abc12', 'limit: must be a whole number'],
    ['/anomalies?limit=abc', 'limit: must be a whole number'],
    ['/anomalies?limit=-1', 'limit: must be a whole number'],
    ['/anomalies?limit=0', 'limit: must be at least 1'],
    ['/anomalies?limit=11', 'limit: must be at most 10'],
    ['/devices?limit=10001', 'limit: must be at most 10000'],
  ])('%s → 400 "%s"', async (query, message) => {
    expect(await refusal(query)).toMatchObject({ error: 'invalid_query', message, details: [{ field: 'limit' }] });
  });

  it('takes whole numbers of several digits up to the maximum', async () => {
    const reply = await request(`${app.url}/anomalies?device=q-1&limit=10`);
    expect(reply.status).toBe(200);
    expect(reply.body.recent).toHaveLength(10);
    expect((await request(`${app.url}/devices?limit=10000`)).status).toBe(200);
  });

  it('defaults to 50, or RECENT_ANOMALIES when that is smaller, also for one device (which keeps 100)', async () => {
    const reply = await request(`${app.url}/anomalies?device=q-1`);
    expect(reply.body.total).toBeGreaterThan(10);
    expect(reply.body.recent).toHaveLength(10);
    expect((await request(`${app.url}/anomalies?device=q-1&limit=1`)).body.recent).toHaveLength(1);
  });
});

describe('?device= and ?metric=', () => {
  it.each([
    ['/analyze?device=a%20b', 'device', 'device: must be 1-128 characters of [A-Za-z0-9_.:-]'],
    ['/anomalies?device=a%20b', 'device', 'device: must be 1-128 characters of [A-Za-z0-9_.:-]'],
    ['/analyze?metric=CPU', 'metric', 'metric: must match ^[a-z][a-z0-9_]{0,62}$'],
  ])('%s → 400 "%s"', async (query, field, message) => {
    expect(await refusal(query)).toMatchObject({ error: 'invalid_query', message, details: [{ field }] });
  });
});
