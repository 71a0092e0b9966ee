import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestRoutes } from '../../functions/ingest/routes.js';
import { mintDeviceToken } from '../../shared/http/device-tokens.js';
import { type TestApp, request, snapshot, startApp } from '../support/app.js';

/**
 * The line protocol and OTLP paths share /ingest/batch's write path: device tokens write their own
 * device only (403, nothing stored), rate limits refuse per device, and the answer says what was not written.
 */
const KEY = { id: 'k1', secret: `${'s'.repeat(20)}-sender-secret-0123` };
const FLEET = 'fleet-sender-token-0123456789';
let app: TestApp;
beforeAll(async () => {
  app = await startApp(ingestRoutes, { INGEST_TOKENS: FLEET, DEVICE_TOKEN_KEYS: `${KEY.id}:${KEY.secret}`, RATE_LIMIT_PER_DEVICE: '0.001', RATE_LIMIT_BURST: '1' });
});
afterAll(() => app.close());

const lp = (raw: string, token: string) => request(`${app.url}/api/v2/write?precision=s`, { raw, headers: { authorization: `Token ${token}` } });
const otlpJson = (metrics: unknown[], token: string) =>
  request(`${app.url}/v1/metrics`, {
    raw: JSON.stringify({ resourceMetrics: [{ scopeMetrics: [{ metrics }] }] }),
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
  });
const gauge = (name: string, device?: string) => ({
  name,
  gauge: { dataPoints: [{ timeUnixNano: `${Date.now()}000000`, asDouble: 1, attributes: device ? [{ key: 'device_id', value: { stringValue: device } }] : [] }] },
});

describe('device tokens on the sender paths', () => {
  it('write their own device (also for points that name none), and refuse another device whole', async () => {
    const token = await mintDeviceToken(KEY, 'dev-a', 3600);
    const before = await snapshot(app.context.config);
    const lpOther = await lp('t,host=dev-a x=1\nt,host=dev-b x=1', token);
    expect(lpOther).toMatchObject({ status: 403, body: { code: 'forbidden', message: expect.stringContaining('may not write device dev-b (line or point 2)') } });
    const otlpOther = await otlpJson([gauge('x', 'dev-a'), gauge('y', 'dev-b')], token);
    expect(otlpOther).toMatchObject({ status: 403, body: { code: 7 } });
    expect(await snapshot(app.context.config)).toEqual(before);
    expect((await lp('t x=1', token)).status).toBe(204);
    expect((await app.context.store.series('dev-a')).map((s) => s.metric)).toEqual(['t_x']);
  });
});

describe('rate limits on the sender paths', () => {
  it('line protocol: all refused is a 429 to retry; some refused is a 422 partial write naming the lines', async () => {
    expect((await lp('r,host=r1 x=1', FLEET)).status).toBe(204);
    const all = await lp('r,host=r1 x=2', FLEET);
    expect(all.status).toBe(429);
    expect(all.headers.get('retry-after')).not.toBeNull();
    expect(all.body.code).toBe('too many requests');
    const some = await lp('r,host=r2 x=1\nr,host=r1 x=3', FLEET);
    expect(some).toMatchObject({ status: 422, body: { code: 'unprocessable entity', message: expect.stringMatching(/^partial write: 1 values refused, over the device rate limit.*\(lines 2\)/) } });
    expect((await app.context.store.series('r2')).map((s) => s.count)).toEqual([1]);
  });

  it('OTLP: all refused is a 429 Status; some refused are rejected points in partial_success', async () => {
    expect((await otlpJson([gauge('g', 'o1')], FLEET)).status).toBe(200);
    const all = await otlpJson([gauge('g', 'o1')], FLEET);
    expect(all).toMatchObject({ status: 429, body: { code: 8 } });
    const some = await otlpJson([gauge('g', 'o2'), gauge('g', 'o1'), gauge('h', 'o1')], FLEET);
    expect(some.status).toBe(200);
    expect(some.body.partialSuccess).toMatchObject({ rejectedDataPoints: '2', errorMessage: expect.stringContaining('over the device rate limit') });
  });
});
