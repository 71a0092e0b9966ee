import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyzeRoutes } from '../../functions/analyze/routes.js';
import { apiRoutes } from '../../functions/api.js';
import { ingestRoutes } from '../../functions/ingest/routes.js';
import { statsRoutes } from '../../functions/stats/routes.js';
import { type TestApp, snapshot, startApp } from '../support/app.js';

/**
 * Property-based fuzzing of the HTTP boundary of every function (ingest, analyze, stats, and the
 * all-in-one target), each request to one of them at random: random methods, paths, query strings,
 * headers, sizes and bodies. Whatever arrives: never a 5xx, never a stack trace, every refusal in our JSON
 * error shape, and Redis exactly as it was after every refused request. FUZZ_RUNS=5000 for more cases.
 */
const RUNS = Number(process.env.FUZZ_RUNS ?? 2000);
const PATHS = ['/', '/ingest', '/ingest/batch', '/batch', '/metrics-data', '/analyze', '/anomalies', '/devices', '/stats', '/health', '/health/readiness', '/metrics'];
const FIELDS = ['device_id', 'timestamp', 'id', 'cpu', 'rps', 'memory', 'latency', 'metrics', 'constructor', '__proto__', 'a'.repeat(70)];

const MAX_BODY_BYTES = 65_536;
const TARGETS = [ingestRoutes, analyzeRoutes, statsRoutes, apiRoutes];
let apps: TestApp[] = [];
beforeAll(async () => {
  apps = await Promise.all(TARGETS.map((routes) => startApp(routes, { MAX_BODY_BYTES: String(MAX_BODY_BYTES), MAX_BATCH: '50' })));
});
afterAll(() => Promise.all(apps.map((app) => app.close())));

const scalar = fc.oneof(
  fc.double(),
  fc.integer(),
  fc.string(),
  fc.constantFrom('sensor-1', '', ' ', '2024-01-15T10:30:00Z', '1e400', 'NaN', '-0', '9'.repeat(30)),
  fc.boolean(),
  fc.constant(null),
);
const eventLike = fc.dictionary(fc.oneof(fc.constantFrom(...FIELDS), fc.string()), fc.oneof(scalar, fc.jsonValue({ maxDepth: 2 })), { maxKeys: 8 });
const jsonBody = fc.oneof(eventLike, fc.array(eventLike, { maxLength: 60 }), fc.record({ metrics: fc.array(eventLike, { maxLength: 5 }) }), fc.jsonValue({ maxDepth: 4 }));
const body = fc.oneof(
  { weight: 6, arbitrary: jsonBody.map((v) => JSON.stringify(v) ?? '') },
  // Text that is almost JSON: cut, repeated keys, deep nesting, huge numbers, raw bytes.
  { weight: 2, arbitrary: jsonBody.chain((v) => fc.nat().map((cut) => { const t = JSON.stringify(v) ?? ''; return t.slice(0, cut % (t.length + 1)); })) },
  { weight: 1, arbitrary: fc.constantFrom('{"cpu":1,"cpu":2}', `${'['.repeat(40)}${']'.repeat(40)}`, '{"cpu":1e999}', '\uFEFF{"cpu":1}', '{"device_id":"d","cpu":1}'.repeat(3), 'null', '""') },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b).toString('latin1')) },
  // Sizes around the limit: a valid event padded to just under or over MAX_BODY_BYTES.
  { weight: 1, arbitrary: fc.integer({ min: MAX_BODY_BYTES - 64, max: MAX_BODY_BYTES + 64 }).map((size) => `{"device_id":"big","cpu":1${' '.repeat(Math.max(0, size - 27))}}`) },
);
const request = fc.record({
  target: fc.nat({ max: TARGETS.length - 1 }),
  method: fc.constantFrom('GET', 'POST', 'POST', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'),
  path: fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...PATHS) }, { weight: 1, arbitrary: fc.webPath() }),
  query: fc.dictionary(fc.constantFrom('device', 'metric', 'limit', 'history', 'x', 'device[]'), fc.oneof(fc.string(), fc.constantFrom('0', '-1', '1000000', 'cpu', 'sensor-1', '1e3', '%zz')), { maxKeys: 3 }),
  contentType: fc.option(fc.constantFrom('application/json', 'application/json; charset=utf-8', 'application/json; charset=latin1', 'text/plain', 'application/x-www-form-urlencoded', 'application/cloudevents+json', 'multipart/form-data; boundary=x')),
  encoding: fc.option(fc.constantFrom('gzip', 'deflate', 'identity', 'br')),
  auth: fc.option(fc.oneof(fc.string(), fc.constant('Bearer '), fc.constant('Bearer x'))),
  // Binary-mode CloudEvent headers, well-formed or not.
  cloudEvent: fc.option(
    fc.record({
      'ce-specversion': fc.constantFrom('1.0', '0.3', '2', ''),
      'ce-id': fc.string({ maxLength: 300 }),
      'ce-source': fc.oneof(fc.constant('/gw'), fc.string()),
      'ce-type': fc.constantFrom('io.iot-metrics.reading', 'io.iot-metrics.readings', 'other', ''),
      'ce-subject': fc.oneof(fc.constant('sensor-1'), fc.string()),
    }, { requiredKeys: ['ce-specversion'] }),
    { freq: 4 },
  ),
  body: fc.option(body, { freq: 3 }),
});

type FuzzRequest = typeof request extends fc.Arbitrary<infer T> ? T : never;

async function send(r: FuzzRequest) {
  const search = new URLSearchParams(r.query).toString();
  const headers: Record<string, string> = {};
  if (r.contentType) headers['content-type'] = r.contentType;
  if (r.encoding) headers['content-encoding'] = r.encoding;
  if (r.auth) headers.authorization = r.auth.replace(/[^\t\x20-\x7e]/g, '');
  for (const [name, value] of Object.entries(r.cloudEvent ?? {})) headers[name] = String(value).replace(/[^\t\x20-\x7e]/g, '');
  const withBody = r.body !== null && r.method !== 'GET' && r.method !== 'HEAD';
  const app = apps[r.target]!;
  const response = await fetch(`${app.url}${r.path}${search ? `?${search}` : ''}`, { method: r.method, headers, body: withBody ? r.body! : undefined });
  return { app, status: response.status, text: await response.text() };
}

describe('the HTTP boundary under random requests', () => {
  it(`never answers 5xx or a stack trace, refuses in the JSON error shape, and leaves Redis unchanged when it refuses (${RUNS} cases)`, async () => {
    let refused = 0;
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        // One key prefix per app: every app's keys, before and after.
        const keyspace = () => Promise.all(apps.map((a) => snapshot(a.context.config)));
        const before = await keyspace();
        const { status, text } = await send(r);
        expect(status, text).toBeLessThan(500);
        expect(text).not.toMatch(/\n\s+at |node_modules|\.ts:\d+/);
        if (r.method === 'HEAD' || status < 400) return;
        refused++;
        const parsed = JSON.parse(text) as Record<string, unknown>;
        expect(Object.keys(parsed).filter((k) => k !== 'details').sort()).toEqual(['error', 'message']);
        expect(parsed.error).toMatch(/^[a-z_]+$/);
        expect(typeof parsed.message).toBe('string');
        expect(await keyspace()).toEqual(before);
      }),
      { numRuns: RUNS },
    );
    // The generators reach past the front door: most requests are refused, but not all.
    expect(refused).toBeGreaterThan(RUNS / 4);
    expect(refused).toBeLessThan(RUNS);
  }, 600_000);
});
