import { request as httpRequest } from 'node:http';
import { http } from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { serve } from '../../shared/http/pipeline.js';
import { startFunction } from '../../support/functions.js';
import { testConfig } from '../support/app.js';
import { rssMb } from '../../support/proc.js';
import { rawUpload } from '../support/upload.js';

type Fn = Awaited<ReturnType<typeof startFunction>>;

/** Each deployable target with a path that answers GET or POST. */
const TARGETS = [
  { target: 'ingest', method: 'POST', path: '/ingest' },
  { target: 'analyze', method: 'GET', path: '/analyze' },
  { target: 'stats', method: 'GET', path: '/stats' },
  { target: 'api', method: 'GET', path: '/anomalies' },
] as const;

const running = new Map<string, Fn>();
beforeAll(async () => {
  const env = { REDIS_URL: inject('redisUrl'), KEY_PREFIX: 'pipeline:', MAX_BODY_BYTES: '2048' };
  const started = await Promise.all(TARGETS.map(({ target }) => startFunction(target, env)));
  TARGETS.forEach(({ target }, i) => running.set(target, started[i]!));
});
afterAll(async () => {
  await Promise.all([...running.values()].map((fn) => fn.stop()));
});

/** A request of any method with a body (fetch refuses a GET with one). */
function send(url: string, method: string, body: string, contentType = 'application/json'): Promise<{ status: number; type: string; body: any }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, headers: { 'content-type': contentType, 'content-length': Buffer.byteLength(body) } }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, type: res.headers['content-type'] ?? '', body: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe.each(TARGETS)('the $target function', ({ target, method, path }) => {
  const url = () => `${running.get(target)!.url}${path}`;

  it('answers malformed JSON with 400 malformed_json, in JSON', async () => {
    const reply = await send(url(), method, '{"cpu": 1,');
    expect(reply.status).toBe(400);
    expect(reply.type).toMatch(/^application\/json/);
    expect(reply.body.error).toBe('malformed_json');
  });

  it('answers a body that is not JSON with 415', async () => {
    const reply = await send(url(), method, 'cpu=1', 'application/x-www-form-urlencoded');
    expect(reply.status).toBe(415);
    expect(reply.body.error).toBe('unsupported_media_type');
  });

  it('answers a body one byte over MAX_BODY_BYTES with 413, and takes one at the limit', async () => {
    const over = await send(url(), method, `[${' '.repeat(2048 - 1)}]`);
    expect(over.status).toBe(413);
    expect(over.body).toMatchObject({ error: 'payload_too_large', details: { limit_bytes: 2048 } });
    const at = await send(url(), method, `{"cpu":1}${' '.repeat(2048 - 9)}`);
    expect(at.status, JSON.stringify(at.body)).toBe(target === 'ingest' ? 202 : 200);
  });

  it('refuses a 50 MB body without buffering it', async () => {
    const fn = running.get(target)!;
    const before = rssMb(fn.process.pid!);
    const reply = await rawUpload(fn.url, { method, path }, { 'content-type': 'application/json', 'content-length': String(50 * 1024 * 1024) });
    expect(reply.status, reply.body).toBe(413);
    expect(rssMb(fn.process.pid!) - before).toBeLessThan(30);
    expect(fn.process.exitCode).toBeNull();
  });

  it('answers a 50 MB body sent with the wrong method at once with 405, without buffering it', async () => {
    const fn = running.get(target)!;
    const before = rssMb(fn.process.pid!);
    const wrong = method === 'GET' ? 'POST' : 'GET';
    const reply = await rawUpload(fn.url, { method: wrong, path }, { 'content-type': 'application/json', 'content-length': String(50 * 1024 * 1024) });
    expect(reply.status, reply.body).toBe(405);
    expect(rssMb(fn.process.pid!) - before).toBeLessThan(30);
  });
});

describe('functions-framework, at the pinned version', () => {
  it('leaves the body to the pipeline: its parsers see no body once the pipeline is installed', async () => {
    serve('pipeline-install', {}, testConfig());
    let seen: { body: unknown; readable: boolean; length: string | undefined } | undefined;
    http('pipeline-probe', (req, res) => {
      seen = { body: req.body, readable: !req.readableEnded, length: req.headers['content-length'] };
      req.resume();
      res.status(204).end();
    });
    const server = getTestServer('pipeline-probe');
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"cpu":1}' });
      // The framework parsed nothing (an empty body object at most) and the stream is still unread.
      expect(seen).toBeDefined();
      expect(seen!.body === undefined || (typeof seen!.body === 'object' && Object.keys(seen!.body as object).length === 0)).toBe(true);
      expect(seen!.readable).toBe(true);
      expect(seen!.length).toBeUndefined();
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
