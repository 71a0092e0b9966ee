// Compressed request bodies (Content-Encoding), as a sender sees them: decoded under MAX_BODY_BYTES.
import { randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { brotliCompressSync, constants, deflateRawSync, deflateSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestRoutes } from '../../functions/ingest/routes.js';
import { type TestApp, request, snapshot, startApp } from '../support/app.js';

const LIMIT = 1024 * 1024; // MAX_BODY_BYTES' default

let app: TestApp;
let bomb: Buffer;
beforeAll(async () => {
  app = await startApp(ingestRoutes);
  // 16 gzip members of 64 MiB of spaces each (a body may hold several members, RFC 1952).
  const member = gzipSync(Buffer.alloc(64 * 1024 * 1024, 0x20));
  bomb = Buffer.concat(Array.from({ length: 16 }, () => member));
});
afterAll(() => app?.close());

const ENCODE: Record<string, (text: string | Buffer) => Buffer> = {
  gzip: (text) => gzipSync(text),
  deflate: (text) => deflateSync(text),
  br: (text) => brotliCompressSync(text, { params: { [constants.BROTLI_PARAM_QUALITY]: 4 } }),
};

const send = (path: string, body: Uint8Array | string, encoding?: string) =>
  request(`${app.url}${path}`, { raw: body, headers: encoding === undefined ? {} : { 'content-encoding': encoding } });

/** A valid event of exactly `bytes` bytes: `{"cpu":1}` padded with JSON whitespace. */
function eventOfSize(device: string, bytes: number): string {
  const head = `{"device_id":"${device}","cpu":1`;
  return `${head}${' '.repeat(bytes - head.length - 1)}}`;
}

/** Answers may quote what they were sent, but never raw bytes. */
const printable = /^[\x20-\x7e]*$/;

describe('Content-Encoding of a request body', () => {
  it.each([
    ['gzip', 'gzip', ENCODE.gzip!],
    ['x-gzip (gzip by its old name)', 'x-gzip', ENCODE.gzip!],
    ['GZIP (names are case-insensitive)', 'GZIP', ENCODE.gzip!],
    ['deflate (zlib format)', 'deflate', ENCODE.deflate!],
    ['br', 'br', ENCODE.br!],
    ['identity', 'identity', (text: string | Buffer) => Buffer.from(text)],
    ['"identity, gzip" (identity is no coding)', 'identity, gzip', ENCODE.gzip!],
  ])('decodes %s', async (_name, encoding, encode) => {
    const device = `enc-${encoding.replace(/[^A-Za-z-]/g, '')}`;
    const reply = await send('/ingest', encode(JSON.stringify({ device_id: device, cpu: 41.5 })), encoding);
    expect(reply.status, JSON.stringify(reply.body)).toBe(202);
    expect(reply.body).toMatchObject({ device_id: device, metrics: { cpu: { value: 41.5 } } });
    expect((await app.context.store.series(device))[0]).toMatchObject({ metric: 'cpu', count: 1 });
  });

  it('decodes a batch, and reads a gzip body of several members whole', async () => {
    const batch = await send('/ingest/batch', gzipSync(JSON.stringify([{ device_id: 'enc-b', cpu: 1 }, { device_id: 'enc-b', cpu: 2 }])), 'gzip');
    expect(batch).toMatchObject({ status: 202, body: { accepted: 2 } });
    const members = Buffer.concat([gzipSync('{"device_id":"enc-m",'), gzipSync('"cpu":3}')]);
    expect(await send('/ingest', members, 'gzip')).toMatchObject({ status: 202, body: { device_id: 'enc-m' } });
  });

  it.each(['gzip', 'deflate', 'br'])('holds MAX_BODY_BYTES to the decoded size of a %s body: the limit decoded is taken, one byte more is 413', async (encoding) => {
    const fits = await send('/ingest', ENCODE[encoding]!(eventOfSize(`enc-edge-${encoding}`, LIMIT)), encoding);
    expect(fits.status).toBe(202);
    const before = await snapshot(app.context.config);
    const over = await send('/ingest', ENCODE[encoding]!(eventOfSize(`enc-over-${encoding}`, LIMIT + 1)), encoding);
    expect(over.status).toBe(413);
    expect(over.body).toEqual({ error: 'payload_too_large', message: `The body is larger than ${LIMIT} bytes`, details: { limit_bytes: LIMIT } });
    // 10 MB of JSON in about 10 KB on the wire.
    const tenMb = await send('/ingest', ENCODE[encoding]!(eventOfSize(`enc-10mb-${encoding}`, 10_000_000)), encoding);
    expect(tenMb.status).toBe(413);
    expect(await snapshot(app.context.config)).toEqual(before);
  });

  it('stops a zip bomb (1 MB on the wire, 1 GiB inflated) at the limit: 413, and the process does not grow', async () => {
    expect(bomb.length).toBeLessThan(LIMIT);
    const before = await snapshot(app.context.config);
    const rss = process.memoryUsage().rss;
    const started = Date.now();
    const reply = await send('/ingest', bomb, 'gzip');
    expect(reply.status).toBe(413);
    expect(reply.body.error).toBe('payload_too_large');
    // Inflating the whole gigabyte would take seconds and hold it; stopping at 1 MiB takes a few ms.
    expect(Date.now() - started).toBeLessThan(2000);
    expect((process.memoryUsage().rss - rss) / 2 ** 20).toBeLessThan(48);
    expect(await snapshot(app.context.config)).toEqual(before);
  });

  it('holds MAX_BODY_BYTES to the bytes received too: 2 MiB of gzip that does not shrink is 413, announced or chunked', async () => {
    const body = gzipSync(randomBytes(2 * LIMIT));
    const before = await snapshot(app.context.config);
    expect((await send('/ingest', body, 'gzip')).body).toMatchObject({ error: 'payload_too_large' });
    expect(await postChunked(`${app.url}/ingest`, body, 'gzip')).toBe(413);
    expect(await snapshot(app.context.config)).toEqual(before);
  });

  const EVENT = '{"device_id":"enc-bad","cpu":1}';
  it.each([
    { name: 'an unknown coding', encoding: 'compress', body: EVENT, status: 415, code: 'unsupported_encoding', message: 'Content-Encoding compress is not supported: send gzip, deflate, br or identity' },
    { name: 'two codings stacked', encoding: 'gzip, br', body: brotliCompressSync(gzipSync(EVENT)), status: 415, code: 'unsupported_encoding', message: 'Content-Encoding "gzip, br" stacks 2 codings: send the body in one of gzip, deflate, br (or identity)' },
    { name: 'plain JSON labelled gzip', encoding: 'gzip', body: EVENT, status: 400, code: 'malformed_encoding', message: 'The body is not valid gzip (Content-Encoding: gzip): incorrect header check' },
    { name: 'plain JSON labelled br', encoding: 'br', body: EVENT, status: 400, code: 'malformed_encoding', message: /^The body is not valid br \(Content-Encoding: br\): / },
    { name: 'raw deflate without its zlib header', encoding: 'deflate', body: deflateRawSync(EVENT), status: 400, code: 'malformed_encoding', message: /^The body is not valid deflate \(Content-Encoding: deflate\): / },
    { name: 'a gzip stream cut short', encoding: 'gzip', body: gzipSync(EVENT).subarray(0, 20), status: 400, code: 'malformed_encoding', message: 'The body is not valid gzip (Content-Encoding: gzip): unexpected end of file' },
    { name: 'a gzip stream of bad JSON', encoding: 'gzip', body: gzipSync('{"cpu": 1,'), status: 400, code: 'malformed_json', message: /^The body is not valid JSON: / },
    { name: 'binary bytes that inflate to binary bytes', encoding: 'gzip', body: gzipSync(Buffer.from([0xff, 0x00, 0x8b, 0x1f])), status: 400, code: 'malformed_json', message: /^The body is not valid JSON: / },
  ])('refuses $name with $status $code, echoing no binary, writing nothing', async ({ encoding, body, status, code, message }) => {
    const before = await snapshot(app.context.config);
    const reply = await send('/ingest', body, encoding);
    expect(reply.status).toBe(status);
    expect(reply.body.error).toBe(code);
    if (typeof message === 'string') expect(reply.body.message).toBe(message);
    else expect(reply.body.message).toMatch(message);
    expect(reply.body.message).toMatch(printable);
    if (status === 415) {
      expect(reply.body.details).toEqual({ content_encoding: encoding, accepted: ['gzip', 'deflate', 'br', 'identity'] });
      expect(reply.headers.get('accept-encoding')).toBe('gzip, deflate, br');
    }
    expect(await snapshot(app.context.config)).toEqual(before);
  });

  it('keeps the connection usable after a refused compressed body', async () => {
    expect((await send('/ingest', EVENT, 'gzip')).status).toBe(400);
    expect((await send('/ingest', gzipSync(EVENT), 'gzip')).status).toBe(202);
  });

  it('checks the content type before the coding: a gzip body of another type is 415 unsupported_media_type', async () => {
    const reply = await request(`${app.url}/ingest`, { raw: gzipSync(EVENT), headers: { 'content-type': 'text/plain', 'content-encoding': 'gzip' } });
    expect([reply.status, reply.body.error]).toEqual([415, 'unsupported_media_type']);
  });
});

/** POSTs a body in 16 KiB chunks, Transfer-Encoding: chunked (no Content-Length); resolves with the status. */
function postChunked(url: string, body: Buffer, encoding: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: 'POST', headers: { 'content-type': 'application/json', 'content-encoding': encoding } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    for (let at = 0; at < body.length; at += 16_384) req.write(body.subarray(at, at + 16_384));
    req.end();
  });
}
