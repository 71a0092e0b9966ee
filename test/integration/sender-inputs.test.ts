// What real senders do beyond the happy path: half a CloudEvent, a device token without device_id,
// a misspelled query parameter. Each as a client sees it, over HTTP.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyzeRoutes } from '../../functions/analyze/routes.js';
import { apiRoutes } from '../../functions/api.js';
import { ingestRoutes } from '../../functions/ingest/routes.js';
import { statsRoutes } from '../../functions/stats/routes.js';
import { mintDeviceToken } from '../../shared/http/device-tokens.js';
import { type TestApp, request, snapshot, startApp } from '../support/app.js';

const KEY = { id: 'k1', secret: 'k'.repeat(20) + '-device-secret-0123456789' };
const FLEET = 'fleet-gateway-token-0123456789';

let ingest: TestApp;
let analyze: TestApp;
let stats: TestApp;
let api: TestApp;
beforeAll(async () => {
  [ingest, analyze, stats, api] = await Promise.all([
    startApp(ingestRoutes, { INGEST_TOKENS: FLEET, DEVICE_TOKEN_KEYS: `${KEY.id}:${KEY.secret}` }),
    startApp(analyzeRoutes),
    startApp(statsRoutes),
    startApp(apiRoutes),
  ]);
});
afterAll(() => Promise.all([ingest, analyze, stats, api].map((app) => app?.close())));

const fleet = { authorization: `Bearer ${FLEET}` };

describe('binary-mode CloudEvent headers that do not make a CloudEvent', () => {
  const ALL = { 'ce-specversion': '1.0', 'ce-id': 'half-1', 'ce-source': '/gw/half', 'ce-type': 'io.iot-metrics.reading', 'ce-subject': 'sensor-99' };
  const without = (...names: Array<keyof typeof ALL>) => Object.fromEntries(Object.entries(ALL).filter(([name]) => !names.includes(name as keyof typeof ALL)));
  const REQUIRED = '(binary mode needs ce-specversion, ce-id, ce-source and ce-type)';
  const NAMES = ['ce-specversion', 'ce-id', 'ce-source', 'ce-type'];
  const NONE = NAMES.map((name) => `${name} is missing`).join(', ');
  const NONE_DETAILS = NAMES.map((field) => ({ field, message: 'is missing' }));

  it.each([
    ['no ce-specversion', without('ce-specversion'), 'ce-specversion is missing', [{ field: 'ce-specversion', message: 'is missing' }]],
    ['no ce-id', without('ce-id'), 'ce-id is missing', [{ field: 'ce-id', message: 'is missing' }]],
    ['an empty ce-id', { ...ALL, 'ce-id': '' }, 'ce-id is empty', [{ field: 'ce-id', message: 'is empty' }]],
    ['no ce-source', without('ce-source'), 'ce-source is missing', [{ field: 'ce-source', message: 'is missing' }]],
    ['no ce-type', without('ce-type'), 'ce-type is missing', [{ field: 'ce-type', message: 'is missing' }]],
    ['only ce-subject', { 'ce-subject': 'sensor-99' }, NONE, NONE_DETAILS],
    ['only an extension', { 'ce-deviceid': 'sensor-99' }, NONE, NONE_DETAILS],
  ])('refuses %s with 400 naming what is missing, writing nothing', async (_name, headers, what, details) => {
    const before = await snapshot(ingest.context.config);
    const reply = await request(`${ingest.url}/ingest`, { body: { cpu: 1 }, headers: { ...fleet, ...headers } });
    expect(reply.status).toBe(400);
    expect(reply.body).toEqual({ error: 'invalid_cloudevent', message: `Incomplete CloudEvent: ${what} ${REQUIRED}`, details });
    expect(await snapshot(ingest.context.config)).toEqual(before);
  });

  it('still takes the complete event, its device from ce-subject', async () => {
    const reply = await request(`${ingest.url}/ingest`, { body: { cpu: 1 }, headers: { ...fleet, ...ALL } });
    expect(reply).toMatchObject({ status: 202, body: { device_id: 'sensor-99' } });
  });
});

describe('a device token with events that name no device', () => {
  const token = () => mintDeviceToken(KEY, 'sensor-42', 3600);
  const send = async (path: string, body: unknown, headers: Record<string, string> = {}) =>
    request(`${ingest.url}${path}`, { body, headers: { authorization: `Bearer ${await token()}`, ...headers } });

  it('writes a single event to the token’s device', async () => {
    const reply = await send('/ingest', { cpu: 5 });
    expect(reply).toMatchObject({ status: 202, body: { device_id: 'sensor-42', metrics: { cpu: { value: 5 } } } });
    expect(await ingest.context.store.series('default')).toEqual([]);
  });

  it('writes the events of a batch that name none (array or {"metrics": [...]}) to the token’s device', async () => {
    expect(await send('/ingest/batch', [{ cpu: 6 }, { device_id: 'sensor-42', cpu: 7 }])).toMatchObject({ status: 202, body: { accepted: 2 } });
    expect(await send('/batch', { metrics: [{ rps: 1 }] })).toMatchObject({ status: 202, body: { accepted: 1 } });
    // A batch sent to the single-event path is a batch too.
    expect(await send('/ingest', [{ latency: 2 }])).toMatchObject({ status: 202, body: { accepted: 1 } });
    const series = await ingest.context.store.series('sensor-42');
    expect(Object.fromEntries(series.map((s) => [s.metric, s.count]))).toMatchObject({ cpu: 3, rps: 1, latency: 1 });
    expect(await ingest.context.store.series('default')).toEqual([]);
  });

  it('writes a CloudEvent without subject to the token’s device', async () => {
    const ce = { 'ce-specversion': '1.0', 'ce-id': 'tok-1', 'ce-source': '/gw', 'ce-type': 'io.iot-metrics.reading' };
    expect(await send('/ingest', { memory: 3 }, ce)).toMatchObject({ status: 202, body: { device_id: 'sensor-42' } });
  });

  it('still refuses an event naming another device (or "default" by name) with 403, writing nothing', async () => {
    const before = await snapshot(ingest.context.config);
    const other = await send('/ingest', { device_id: 'sensor-7', cpu: 1 });
    expect(other).toMatchObject({ status: 403, body: { error: 'forbidden', message: 'device_id: the token of device sensor-42 may not write device sensor-7' } });
    const named = await send('/ingest', { device_id: 'default', cpu: 1 });
    expect(named).toMatchObject({ status: 403, body: { error: 'forbidden', details: { field: 'device_id' } } });
    const batch = await send('/ingest/batch', [{ cpu: 1 }, { device_id: 'sensor-7', cpu: 1 }]);
    expect(batch).toMatchObject({ status: 403, body: { error: 'forbidden', details: { field: '[1].device_id', indexes: [1] } } });
    expect(await snapshot(ingest.context.config)).toEqual(before);
  });

  it('leaves a fleet token’s events without device_id on the device "default"', async () => {
    const reply = await request(`${ingest.url}/ingest`, { body: { cpu: 9 }, headers: fleet });
    expect(reply).toMatchObject({ status: 202, body: { device_id: 'default' } });
  });
});

describe('unknown query parameters on the read paths', () => {
  const ANALYZE = 'device, metric, history';
  it.each([
    ['analyze', '/analyze?devise=sensor-42', 'devise', ANALYZE],
    ['analyze', '/?devise=sensor-42', 'devise', ANALYZE],
    ['analyze', '/anomalies?device=q&limt=5', 'limt', 'limit, device'],
    ['analyze', '/devices?device=sensor-42', 'device', 'limit'],
    ['stats', '/stats?device=sensor-42', 'device', null],
    ['stats', '/?verbose=1', 'verbose', null],
    ['api', '/analyze?device_id=sensor-42', 'device_id', ANALYZE],
    ['api', '/anomalies?x=1', 'x', 'limit, device'],
    ['api', '/devices?limit=2&offset=2', 'offset', 'limit'],
    ['api', '/stats?metric=cpu', 'metric', null],
  ])('%s %s → 400 naming %s and what is accepted', async (target, path, field, accepted) => {
    const app = { analyze, stats, api }[target as 'analyze' | 'stats' | 'api'];
    const reply = await request(`${app.url}${path}`);
    const message = accepted === null ? 'unknown query parameter: this path takes none' : `unknown query parameter (accepted: ${accepted})`;
    expect(reply.status).toBe(400);
    expect(reply.body).toEqual({ error: 'invalid_query', message: `${field}: ${message}`, details: [{ field, message }] });
  });

  it('names every unknown parameter, and a bad value of a known one, in one answer', async () => {
    const reply = await request(`${analyze.url}/analyze?devise=a&metrc=cpu&history=yes`);
    expect(reply.status).toBe(400);
    expect(reply.body.details.map((d: { field: string }) => d.field)).toEqual(['devise', 'metrc', 'history']);
  });

  it.each([
    [() => analyze, '/analyze?device=q-1&metric=cpu&history=true'],
    [() => analyze, '/?device=q-1'],
    [() => analyze, '/anomalies?device=q-1&limit=5'],
    [() => analyze, '/devices?limit=3'],
    [() => stats, '/stats'],
    [() => stats, '/'],
    [() => api, '/analyze?device=q-1&device=q-2'],
    [() => api, '/anomalies?limit=1'],
    [() => api, '/stats'],
  ])('keeps taking the accepted ones: %#', async (app, path) => {
    expect((await request(`${app().url}${path}`)).status).toBe(200);
  });

  it('leaves health probes, /metrics and the POST paths free of query checks', async () => {
    expect((await request(`${analyze.url}/health?probe=1`)).status).toBe(200);
    expect((await request(`${api.url}/metrics?name[]=x`)).status).toBe(200);
    const post = await request(`${api.url}/ingest?device=ignored&source=gw`, { body: { device_id: 'q-post', cpu: 1 } });
    expect(post).toMatchObject({ status: 202, body: { device_id: 'q-post' } });
    expect((await request(`${api.url}/?utm=1`, { body: { device_id: 'q-post', cpu: 2 } })).status).toBe(202);
  });
});
