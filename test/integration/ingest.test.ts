import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiRoutes } from '../../functions/api.js';
import { ingestRoutes } from '../../functions/ingest/routes.js';
import { type TestApp, request, snapshot, startApp } from '../support/app.js';

let app: TestApp;
let api: TestApp;
beforeAll(async () => {
  app = await startApp(ingestRoutes, { MAX_BATCH: '5' });
  api = await startApp(apiRoutes);
});
afterAll(async () => {
  await app.close();
  await api.close();
});

describe('the seed payloads of the source services', () => {
  it('accepts the ISO-timestamp event and answers per metric', async () => {
    const reply = await request(`${api.url}/ingest`, { body: { timestamp: '2024-01-15T10:30:00Z', cpu: 75.5, rps: 1250 } });
    expect(reply.status).toBe(202);
    expect(reply.body).toEqual({
      device_id: 'default',
      timestamp: '2024-01-15T10:30:00.000Z',
      metrics: {
        cpu: { value: 75.5, avg: 75.5, zscore: 0, anomaly: false, score: 0, likelihood: 0.5, episode: null },
        rps: { value: 1250, avg: 1250, zscore: 0, anomaly: false, score: 0, likelihood: 0.5, episode: null },
      },
    });
  });

  it('accepts the epoch-seconds event with four metrics on /metrics-data', async () => {
    const reply = await request(`${api.url}/metrics-data`, {
      body: { timestamp: 1234567890, cpu: 45.5, rps: 105.3, memory: 50.2, latency: 25.1 },
    });
    expect(reply.status).toBe(202);
    expect(reply.body.timestamp).toBe('2009-02-13T23:31:30.000Z');
    expect(Object.keys(reply.body.metrics)).toEqual(['cpu', 'rps', 'memory', 'latency']);
    // cpu and rps now have a one-value baseline that differs: zero variance, reported as null, not yet an anomaly.
    // Not scored either (the score and likelihood wait for MIN_SAMPLES too).
    expect(reply.body.metrics.cpu).toEqual({ value: 45.5, avg: 60.5, zscore: null, anomaly: false, score: 0, likelihood: 0.5, episode: null });
    expect(reply.body.metrics.memory).toEqual({ value: 50.2, avg: 50.2, zscore: 0, anomaly: false, score: 0, likelihood: 0.5, episode: null });
  });

  it('reads epoch milliseconds, and stamps an event without timestamp with the receive time', async () => {
    const ms = await request(`${app.url}/ingest`, { body: { device_id: 'ts', timestamp: 1705314600123, cpu: 1 } });
    expect(ms.body.timestamp).toBe('2024-01-15T10:30:00.123Z');
    const before = Date.now();
    const none = await request(`${app.url}/`, { body: { device_id: 'ts', cpu: 1 } });
    expect(Date.parse(none.body.timestamp)).toBeGreaterThanOrEqual(before - 1);
    expect(Date.parse(none.body.timestamp)).toBeLessThanOrEqual(Date.now());
  });
});

describe('batches', () => {
  it('accepts an array and {"metrics": [...]}, on every batch path, and reports anomalies by index', async () => {
    const events = Array.from({ length: 5 }, (_, i) => ({ device_id: `b${i % 2}`, cpu: 10 + i }));
    for (const [path, body] of [
      ['/batch', events],
      ['/ingest/batch', { metrics: events }],
      ['/ingest', events],
    ] as const) {
      const reply = await request(`${app.url}${path}`, { body });
      expect(reply.status, path).toBe(202);
      expect(reply.body, path).toEqual({ accepted: 5, anomalies: [], alerts: [], duplicates: [] });
    }
    const series = await app.context.store.series('b0', 'cpu');
    expect(series[0]).toMatchObject({ count: 9, samples: 9 });
  });

  it('lists each anomaly with its index, device and metric', async () => {
    const warmup = Array.from({ length: 5 }, (_, i) => ({ device_id: 'spiky', cpu: 50 + (i % 2) }));
    for (let i = 0; i < 2; i++) await request(`${app.url}/batch`, { body: warmup });
    const reply = await request(`${app.url}/batch`, { body: [{ device_id: 'calm', cpu: 1 }, { device_id: 'spiky', cpu: 99, rps: 3 }] });
    expect(reply.status).toBe(202);
    expect(reply.body.anomalies).toHaveLength(1);
    expect(reply.body.anomalies[0]).toMatchObject({ index: 1, device_id: 'spiky', metric: 'cpu', value: 99 });
    expect(reply.body.anomalies[0].zscore).toBeGreaterThan(2);
  });

  it('writes nothing when any event is invalid, and names every bad index and field', async () => {
    const before = await snapshot(app.context.config);
    const reply = await request(`${app.url}/batch`, {
      body: [{ cpu: 1 }, { cpu: '2' }, { device_id: 'ok', rps: 3 }, { memory: null, latency: true }, 7],
    });
    expect(reply.status).toBe(400);
    expect(reply.body.error).toBe('invalid_batch');
    expect(reply.body.details).toEqual([
      { index: 1, field: 'cpu', message: 'must be a finite JSON number (got string "2")' },
      { index: 3, field: 'memory', message: 'must be a finite JSON number (got null)' },
      { index: 3, field: 'latency', message: 'must be a finite JSON number (got boolean)' },
      { index: 4, field: '(event)', message: 'must be a JSON object (got number 7)' },
    ]);
    expect(await snapshot(app.context.config)).toEqual(before);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

const tooMany = Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`m${i}`, i]));
const cases: Array<{ name: string; path?: string; method?: string; raw?: string; body?: unknown; headers?: Record<string, string>; status: number; error: string; field?: string }> = [
  { name: 'malformed JSON', raw: '{"cpu": 1,', status: 400, error: 'malformed_json' },
  { name: 'empty body', raw: '', status: 400, error: 'empty_body' },
  { name: 'whitespace body', raw: '   ', status: 400, error: 'empty_body' },
  { name: 'text/plain body', raw: '{"cpu":1}', headers: { 'content-type': 'text/plain' }, status: 415, error: 'unsupported_media_type' },
  { name: 'form body', raw: 'cpu=1', headers: { 'content-type': 'application/x-www-form-urlencoded' }, status: 415, error: 'unsupported_media_type' },
  { name: 'no content type', raw: '{"cpu":1}', headers: { 'content-type': '' }, status: 415, error: 'unsupported_media_type' },
  { name: 'a JSON string', body: 'cpu', status: 400, error: 'invalid_event', field: '(event)' },
  { name: 'JSON null', raw: 'null', status: 400, error: 'invalid_event', field: '(event)' },
  { name: 'no metric', body: { device_id: 'x' }, status: 400, error: 'invalid_event', field: '(event)' },
  { name: 'number as string', body: { cpu: '75.5' }, status: 400, error: 'invalid_event', field: 'cpu' },
  { name: 'null metric', body: { cpu: null }, status: 400, error: 'invalid_event', field: 'cpu' },
  { name: 'boolean metric', body: { cpu: true }, status: 400, error: 'invalid_event', field: 'cpu' },
  { name: 'nested object', body: { cpu: { value: 1 } }, status: 400, error: 'invalid_event', field: 'cpu' },
  { name: 'array metric', body: { cpu: [1] }, status: 400, error: 'invalid_event', field: 'cpu' },
  { name: 'value beyond 1e100', raw: '{"cpu": 1e101}', status: 400, error: 'invalid_event', field: 'cpu' },
  { name: 'NaN spelling', raw: '{"cpu": NaN}', status: 400, error: 'malformed_json' },
  { name: 'Infinity spelling', raw: '{"cpu": Infinity}', status: 400, error: 'malformed_json' },
  { name: '1e999 overflows to Infinity', raw: '{"cpu": 1e999}', status: 400, error: 'invalid_event', field: 'cpu' },
  { name: 'upper-case metric name', body: { CPU: 1 }, status: 400, error: 'invalid_event', field: 'CPU' },
  { name: 'metric name with a dash', body: { 'cpu-load': 1 }, status: 400, error: 'invalid_event', field: 'cpu-load' },
  { name: 'metric name of 64 characters', body: { ['a'.repeat(64)]: 1 }, status: 400, error: 'invalid_event', field: 'a'.repeat(64) },
  { name: '__proto__ key', raw: '{"cpu":1,"__proto__":{"x":1}}', status: 400, error: 'invalid_event', field: '__proto__' },
  { name: '33 metrics', body: tooMany, status: 400, error: 'invalid_event', field: '(event)' },
  { name: 'device_id with a space', body: { device_id: 'a b', cpu: 1 }, status: 400, error: 'invalid_event', field: 'device_id' },
  { name: 'device_id with braces', body: { device_id: '{x}', cpu: 1 }, status: 400, error: 'invalid_event', field: 'device_id' },
  { name: 'empty device_id', body: { device_id: '', cpu: 1 }, status: 400, error: 'invalid_event', field: 'device_id' },
  { name: 'device_id of 129 characters', body: { device_id: 'd'.repeat(129), cpu: 1 }, status: 400, error: 'invalid_event', field: 'device_id' },
  { name: 'numeric device_id', body: { device_id: 7, cpu: 1 }, status: 400, error: 'invalid_event', field: 'device_id' },
  { name: 'unparseable timestamp', body: { timestamp: 'yesterday', cpu: 1 }, status: 400, error: 'invalid_event', field: 'timestamp' },
  { name: 'impossible time', body: { timestamp: '2024-01-15T25:61:00Z', cpu: 1 }, status: 400, error: 'invalid_event', field: 'timestamp' },
  { name: 'February 30th', body: { timestamp: '2024-02-30T10:00:00Z', cpu: 1 }, status: 400, error: 'invalid_event', field: 'timestamp' },
  { name: 'negative epoch', body: { timestamp: -5, cpu: 1 }, status: 400, error: 'invalid_event', field: 'timestamp' },
  { name: 'epoch as a string', body: { timestamp: '1234567890', cpu: 1 }, status: 400, error: 'invalid_event', field: 'timestamp' },
  { name: 'timestamp two days ahead', body: { timestamp: Math.floor(Date.now() / 1000) + 2 * 86400, cpu: 1 }, status: 400, error: 'invalid_event', field: 'timestamp' },
  { name: 'id that is not a string', body: { id: 5, cpu: 1 }, status: 400, error: 'invalid_event', field: 'id' },
  { name: 'empty batch', path: '/batch', body: [], status: 400, error: 'invalid_batch' },
  { name: 'batch over MAX_BATCH', path: '/batch', body: Array(6).fill({ cpu: 1 }), status: 400, error: 'invalid_batch' },
  { name: 'batch that is an object', path: '/batch', body: { cpu: 1 }, status: 400, error: 'invalid_batch' },
  { name: 'duplicate keys', raw: '{"cpu": 1, "cpu": 2}', status: 400, error: 'malformed_json' },
  { name: 'duplicate keys in a batch event', path: '/batch', raw: '[{"cpu": 1}, {"rps": 1, "device_id": "a", "rps": 2}]', status: 400, error: 'malformed_json' },
  { name: 'deep nesting (100,000 levels)', raw: '['.repeat(100_000) + ']'.repeat(100_000), status: 400, error: 'malformed_json' },
  { name: 'nesting deeper than 32 levels', raw: `{"cpu": ${'['.repeat(40)}1${']'.repeat(40)}}`, status: 400, error: 'malformed_json' },
  { name: 'a 500,000-character device_id', body: { device_id: 'd'.repeat(500_000), cpu: 1 }, status: 400, error: 'invalid_event', field: 'device_id' },
  { name: 'a 100,000-character metric name', body: { ['m'.repeat(100_000)]: 1 }, status: 400, error: 'invalid_event', field: `${'m'.repeat(64)}…` },
  { name: 'a 100,000-character timestamp', body: { timestamp: '2'.repeat(100_000), cpu: 1 }, status: 400, error: 'invalid_event', field: 'timestamp' },
  { name: 'constructor.prototype', raw: '{"cpu":1,"constructor":{"prototype":{"polluted":true}}}', status: 400, error: 'invalid_event', field: 'constructor' },
  { name: '-Infinity spelling', raw: '{"cpu": -Infinity}', status: 400, error: 'malformed_json' },
  { name: 'GET on an ingest path', path: '/ingest', method: 'GET', status: 405, error: 'method_not_allowed' },
  { name: 'unknown path', path: '/nope', status: 404, error: 'not_found', body: { cpu: 1 } },
];

describe('bad input', () => {
  it.each(cases)('$name → $status $error, nothing written', async (c) => {
    const before = await snapshot(app.context.config);
    const reply = await request(`${app.url}${c.path ?? '/ingest'}`, {
      method: c.method,
      raw: c.raw,
      body: c.raw === undefined ? c.body : undefined,
      headers: c.headers,
    });
    expect(reply.status).toBe(c.status);
    expect(reply.headers.get('content-type')).toMatch(/^application\/json/);
    expect(reply.body.error).toBe(c.error);
    expect(typeof reply.body.message).toBe('string');
    expect(JSON.stringify(reply.body)).not.toMatch(/\n\s+at |node_modules|\.ts:\d/);
    // Never echo long input back.
    expect(JSON.stringify(reply.body).length).toBeLessThan(2000);
    if (c.field) {
      expect(reply.body.details.map((d: { field: string }) => d.field)).toContain(c.field);
      expect(reply.body.message).toContain(c.field.slice(0, 20));
    }
    if (c.status === 405) expect(reply.headers.get('allow')).toBe('POST');
    expect(await snapshot(app.context.config)).toEqual(before);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
