import { Agent, request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestRoutes } from '../../functions/ingest/routes.js';
import { type TestApp, request, snapshot, startApp } from '../support/app.js';

// Each limit of the service pinned on both sides of its edge, as a user sees it over HTTP.

describe('the anomaly threshold is strict: |z| > Z_THRESHOLD', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startApp(ingestRoutes, { WINDOW_SIZE: '3', MIN_SAMPLES: '2', Z_THRESHOLD: '2' });
  });
  afterAll(() => app.close());

  // The baseline of the third value is {1, 3}: mean 2, population std 1, so z = value - 2 exactly.
  it.each([
    { name: 'z = 2 exactly', value: 4, zscore: 2, anomaly: false },
    { name: 'z = -2 exactly', value: 0, zscore: -2, anomaly: false },
    { name: 'z just above 2', value: 4.000001, anomaly: true },
    { name: 'z just below -2', value: -0.000001, anomaly: true },
    { name: 'z just under 2', value: 3.999999, anomaly: false },
  ])('$name (third value $value) → anomaly: $anomaly', async ({ value, zscore, anomaly }) => {
    const device = `edge-${String(value).replace('-', 'm')}`;
    for (const warmup of [1, 3]) {
      const reply = await request(`${app.url}/ingest`, { body: { device_id: device, cpu: warmup } });
      expect(reply.status).toBe(202);
      expect(reply.body.metrics.cpu.anomaly).toBe(false);
    }
    const reply = await request(`${app.url}/ingest`, { body: { device_id: device, cpu: value } });
    expect(reply.status).toBe(202);
    const cpu = reply.body.metrics.cpu as { value: number; avg: number; zscore: number; anomaly: boolean };
    if (zscore !== undefined) expect(cpu.zscore).toBe(zscore);
    else expect(cpu.zscore).toBeCloseTo(value - 2, 9);
    expect(cpu.anomaly, `flag of z = ${cpu.zscore} against the threshold 2`).toBe(anomaly);
    expect(cpu.avg).toBeCloseTo((1 + 3 + value) / 3, 12);
    // The series state agrees with the reply, and so does the anomaly count.
    const [series] = await app.context.store.series(device, 'cpu');
    expect(series).toMatchObject({ value, anomaly, count: 3, anomalies: anomaly ? 1 : 0 });
  });
});

describe('at most 32 metrics per event', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startApp(ingestRoutes);
  });
  afterAll(() => app.close());

  const metrics = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`m${i}`, i]));

  it('accepts an event with exactly 32 metrics and answers for each', async () => {
    const reply = await request(`${app.url}/ingest`, { body: { device_id: 'wide', ...metrics(32) } });
    expect(reply.status).toBe(202);
    expect(Object.keys(reply.body.metrics)).toEqual(Object.keys(metrics(32)));
    expect(await app.context.store.series('wide')).toHaveLength(32);
  });

  it('refuses 33, naming the event, and writes nothing', async () => {
    const before = await snapshot(app.context.config);
    const reply = await request(`${app.url}/ingest`, { body: { device_id: 'wider', ...metrics(33) } });
    expect(reply.status).toBe(400);
    expect(reply.body).toMatchObject({ error: 'invalid_event', details: [{ field: '(event)' }] });
    expect(reply.body.message).toContain('33 metrics');
    expect(await snapshot(app.context.config)).toEqual(before);
  });

  it("applies one device's batch of 1,000 events with 32 other metrics each: 32,000 series in one run", async () => {
    const body = Array.from({ length: 1000 }, (_, e) => ({ device_id: 'widest', ...Object.fromEntries(Array.from({ length: 32 }, (_, i) => [`m${e}_${i}`, i])) }));
    const reply = await request(`${app.url}/batch`, { body });
    expect(reply.status).toBe(202);
    expect(reply.body).toMatchObject({ accepted: 1000 });
    const series = await app.context.store.series('widest');
    expect(series).toHaveLength(32_000);
    expect(series.every((s) => s.count === 1)).toBe(true);
  });

  it('holds the same edge inside a batch', async () => {
    const ok = await request(`${app.url}/batch`, { body: [{ device_id: 'wide-b', ...metrics(32) }] });
    expect(ok.status).toBe(202);
    expect(ok.body).toMatchObject({ accepted: 1 });
    const bad = await request(`${app.url}/batch`, { body: [{ device_id: 'wide-b', cpu: 1 }, { device_id: 'wide-b', ...metrics(33) }] });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ error: 'invalid_batch', details: [{ index: 1, field: '(event)' }] });
  });
});

/** A valid event of exactly `bytes` bytes: `{"cpu":1}` padded with JSON whitespace. */
function eventOfSize(bytes: number): string {
  const text = `{"device_id":"big","cpu":1${' '.repeat(bytes - 27)}}`;
  expect(Buffer.byteLength(text)).toBe(bytes);
  return text;
}

/**
 * Uploads `total` announced bytes, in 64 KiB writes queued at once, or (`trickle`) 1 KiB every 50 ms,
 * until the server cuts the connection or `giveUpMs` passes. Returns the status of the answer, the bytes
 * the socket sent (queued ones when it did not close), and when it closed (ms after the first write; -1: it did not).
 */
function upload(url: string, total: number, trickle: boolean, giveUpMs = 8000): Promise<{ status: number; sent: number; closedAfterMs: number }> {
  return new Promise((resolve) => {
    const started = Date.now();
    let status = 0;
    let sent = 0;
    let closed = false;
    const req = httpRequest(url, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': String(total) } }, (res) => {
      status = res.statusCode ?? 0;
      res.resume();
    });
    req.on('error', () => undefined); // the cut: EPIPE or ECONNRESET
    req.on('socket', (socket) => socket.on('close', () => {
      closed = true;
      resolve({ status, sent: socket.bytesWritten, closedAfterMs: Date.now() - started });
    }));
    const chunk = Buffer.alloc(trickle ? 1024 : 64 * 1024, 0x20);
    const next = () => {
      if (closed) return;
      if (sent >= total || Date.now() - started > giveUpMs) {
        resolve({ status, sent, closedAfterMs: -1 });
        req.destroy();
        return;
      }
      sent += chunk.length;
      req.write(chunk);
      // Fast: queue it all (the socket takes what the server reads); the bytes taken are counted at the close.
      if (trickle) setTimeout(next, 50);
      else setImmediate(next);
    };
    next();
  });
}

/** POSTs a body in chunks with Transfer-Encoding: chunked (no Content-Length announces its size). */
function postChunked(url: string, body: string): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    for (let at = 0; at < body.length; at += 100) req.write(body.slice(at, at + 100));
    req.end();
  });
}

describe('MAX_BODY_BYTES', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startApp(ingestRoutes, { MAX_BODY_BYTES: '1024' });
  });
  afterAll(() => app.close());

  it.each([
    { bytes: 1024, status: 202 },
    { bytes: 1025, status: 413 },
    { bytes: 2048, status: 413 },
  ])('a body of $bytes bytes → $status (with Content-Length)', async ({ bytes, status }) => {
    const reply = await request(`${app.url}/ingest`, { raw: eventOfSize(bytes) });
    expect(reply.status).toBe(status);
    if (status === 413) expect(reply.body).toEqual({ error: 'payload_too_large', message: 'The body is larger than 1024 bytes', details: { limit_bytes: 1024 } });
    else expect(reply.body.metrics.cpu).toMatchObject({ value: 1 });
  });

  it.each([
    { bytes: 1024, status: 202 },
    { bytes: 1025, status: 413 },
  ])('a body of $bytes bytes → $status (chunked, size unannounced)', async ({ bytes, status }) => {
    const reply = await postChunked(`${app.url}/ingest`, eventOfSize(bytes));
    expect(reply.status).toBe(status);
    if (status === 413) expect(reply.body).toMatchObject({ error: 'payload_too_large', message: 'The body is larger than 1024 bytes' });
  });

  it.each([
    ['text/plain', 'text/plain'],
    ['an empty content type', ''],
  ])('refuses a body sent as %s with 415, echoing what it was told', async (_name, type) => {
    const reply = await request(`${app.url}/ingest`, { raw: '{"device_id":"d","cpu":1}', headers: { 'content-type': type } });
    expect(reply.status).toBe(415);
    expect(reply.body).toEqual({
      error: 'unsupported_media_type',
      message: 'The body must be JSON: send Content-Type: application/json',
      details: { content_type: type },
    });
  });

  it('answers 413 while a large upload goes on, and cuts the connection once 8 MiB more have come', async () => {
    const fast = await upload(`${app.url}/ingest`, 100 * 1024 * 1024, false);
    expect(fast.status).toBe(413);
    // Read on and dropped past the limit (more than the kernel's buffers hold), then cut, well before the 2 s.
    expect(fast.sent).toBeGreaterThan(8 * 1024 * 1024);
    expect(fast.sent).toBeLessThan(100 * 1024 * 1024);
    expect(fast.closedAfterMs).toBeGreaterThanOrEqual(0);
    expect(fast.closedAfterMs).toBeLessThan(1500);
  });

  it('answers 413 to a slow upload too, and cuts it after a moment (2 s) rather than waiting for the rest', async () => {
    const slow = await upload(`${app.url}/ingest`, 1024 * 1024, true);
    expect(slow.status).toBe(413);
    expect(slow.closedAfterMs).toBeGreaterThan(1500);
    expect(slow.closedAfterMs).toBeLessThan(6000);
  });

  it('serves the next request on the same connection once a refused upload has all arrived (413, then 202 on the kept-alive socket)', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const post = (body: string) =>
      new Promise<{ status: number; reused: boolean }>((resolve, reject) => {
        const req = httpRequest(`${app.url}/ingest`, { method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0, reused: req.reusedSocket }));
        });
        req.on('error', reject);
        req.end(body);
      });
    try {
      const over = `{"device_id":"keep","cpu":1${' '.repeat(1024 * 1024 + 100)}}`;
      expect(await post(over)).toEqual({ status: 413, reused: false });
      // Past the 2 s after which an upload still going on would be cut: the connection is still there.
      await new Promise((resolve) => setTimeout(resolve, 2500));
      expect(await post('{"device_id":"keep","cpu":1}')).toEqual({ status: 202, reused: true });
    } finally {
      agent.destroy();
    }
  });

  it('says what is wrong with malformed JSON, in the words of the parser', async () => {
    const reply = await request(`${app.url}/ingest`, { raw: '{"cpu": 1,' });
    expect(reply.status).toBe(400);
    expect(reply.body.error).toBe('malformed_json');
    expect(reply.body.message).toMatch(/^The body is not valid JSON: \S.*JSON/);
  });
});

describe('bearer tokens are matched whole', () => {
  const TOKENS = ['ingest-token-0123456789', 'second-token-abcdefghij'];
  let app: TestApp;
  beforeAll(async () => {
    app = await startApp(ingestRoutes, { INGEST_TOKENS: TOKENS.join(',') });
  });
  afterAll(() => app.close());

  const [first, second] = TOKENS as [string, string];
  it.each([
    ['the first token less its last character', first.slice(0, -1)],
    ['the first 16 characters of the first token', first.slice(0, 16)],
    ['one character of the first token', first.slice(0, 1)],
    ['the second token less its last character', second.slice(0, -1)],
    ['the first token with one more character', `${first}0`],
    ['the second token with a suffix', `${second}-extra`],
    ['both tokens run together', `${first}${second}`],
    ['the first token with its last character changed', `${first.slice(0, -1)}8`],
  ])('refuses %s with 401, storing nothing', async (_case, token) => {
    const before = await snapshot(app.context.config);
    const reply = await request(`${app.url}/ingest`, { body: { device_id: 'guarded', cpu: 1 }, headers: { authorization: `Bearer ${token}` } });
    expect(reply.status).toBe(401);
    expect(reply.body).toMatchObject({ error: 'unauthorized' });
    expect(reply.headers.get('www-authenticate')).toBe('Bearer');
    expect(await snapshot(app.context.config)).toEqual(before);
  });

  it.each([
    ['a valid token followed by another word', `Bearer ${first} junk`],
    ['a word before the scheme', `Token Bearer ${first}`],
    ['the token without the scheme', first],
    ['the scheme without a space', `Bearer${first}`],
  ])('refuses %s with 401 and says what to send', async (_case, header) => {
    const reply = await request(`${app.url}/ingest`, { body: { device_id: 'guarded', cpu: 1 }, headers: { authorization: header } });
    expect(reply.status).toBe(401);
    expect(reply.body).toEqual({ error: 'unauthorized', message: 'Send Authorization: Bearer <token> with a valid token' });
  });

  it.each([
    ['two spaces after the scheme', `Bearer  ${first}`],
    ['trailing spaces', `Bearer ${first}   `],
    ['the scheme in lower case', `bearer ${first}`],
  ])('accepts a valid token with %s (RFC 6750 allows them)', async (_case, header) => {
    const reply = await request(`${app.url}/ingest`, { body: { device_id: 'guarded', cpu: 1 }, headers: { authorization: header } });
    expect(reply.status).toBe(202);
  });

  it('accepts each configured token exactly', async () => {
    for (const token of TOKENS) {
      const reply = await request(`${app.url}/ingest`, { body: { device_id: 'guarded', cpu: 1 }, headers: { authorization: `Bearer ${token}` } });
      expect(reply.status).toBe(202);
    }
  });
});
