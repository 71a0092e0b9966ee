import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestRoutes } from '../../functions/ingest/routes.js';
import { admission } from '../../shared/http/admission.js';
import { HttpError } from '../../shared/http/errors.js';
import { type TestApp, request, snapshot, startApp } from '../support/app.js';

describe('admission by request bytes in flight', () => {
  it('admits while the sum fits, then in arrival order as room is released', async () => {
    const admit = admission(100, 1000);
    const order: string[] = [];
    const a = await admit(60);
    const b = await admit(40);
    const c = admit(50).then((release) => (order.push('c'), release));
    const d = admit(10).then((release) => (order.push('d'), release));
    await new Promise((r) => setTimeout(r, 20));
    expect(order).toEqual([]);
    a();
    (await c)();
    b();
    (await d)();
    expect(order).toEqual(['c', 'd']);
  });

  it('refuses a request that waited its time with 503 overloaded and Retry-After, and lets the next one in', async () => {
    const admit = admission(100, 30);
    const held = await admit(100);
    const refused = await admit(1).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(HttpError);
    expect(refused).toMatchObject({ status: 503, code: 'overloaded', headers: { 'Retry-After': '1' } });
    held();
    const next = await admit(100);
    next();
  });

  it('admits a request larger than the whole budget when it is alone', async () => {
    const admit = admission(100, 10);
    const release = await admit(5000);
    await expect(admit(1)).rejects.toMatchObject({ code: 'overloaded' });
    release();
    (await admit(100))();
  });
});

describe('ingest over its MAX_INFLIGHT_BYTES', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startApp(ingestRoutes, { MAX_INFLIGHT_BYTES: '2048', ADMISSION_WAIT_MS: '200' });
  });
  afterAll(async () => app?.close());

  it('answers a body that cannot get room in time 503 overloaded with Retry-After, and writes nothing of it', async () => {
    // A request that has declared 2,040 bytes and sends them slowly holds the budget meanwhile.
    const body = JSON.stringify(Array.from({ length: 40 }, (_, i) => ({ device_id: 'slow', cpu: i }))).padEnd(2040, ' ');
    const slow = sendSlowly(`${app.url}/ingest/batch`, body);
    await new Promise((r) => setTimeout(r, 150));
    const refused = await request(`${app.url}/ingest`, { body: { device_id: 'quick', cpu: 1 } });
    expect(refused.status).toBe(503);
    expect(refused.body).toMatchObject({ error: 'overloaded' });
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(await slow).toBe(202);
    // Of the refused event nothing is stored: no key of its device, and the totals are the slow batch's alone.
    expect(Object.keys(await snapshot(app.context.config)).filter((key) => key.includes('{quick}'))).toEqual([]);
    expect(await app.context.store.totals()).toMatchObject({ events: 40 });
    // Room again once the slow one is done.
    expect((await request(`${app.url}/ingest`, { body: { device_id: 'quick', cpu: 1 } })).status).toBe(202);
  });

  it('reads without a body are never held back', async () => {
    expect((await request(`${app.url}/health`)).status).toBe(200);
  });
});

/** POSTs the text with its length declared, in four parts over a second; resolves to the status. */
function sendSlowly(url: string, text: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.on('error', reject);
    const quarter = Math.ceil(text.length / 4);
    const send = (part: number) => {
      if (part === 4) return void req.end();
      req.write(text.slice(part * quarter, (part + 1) * quarter));
      setTimeout(() => send(part + 1), 250);
    };
    send(0);
  });
}
