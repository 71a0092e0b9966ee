import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from '../support/app.js';
import { rssMb } from '../../support/proc.js';
import { rawUpload } from '../support/upload.js';
import { startFunction } from '../../support/functions.js';
import { type Running, startRedis } from '../../support/servers.js';

// This file has a Redis of its own: it stops, restarts and pauses it.
const dataDir = mkdtempSync(join(tmpdir(), 'iot-faults-'));
let redis: Running;
let ingest: Awaited<ReturnType<typeof startFunction>>;

beforeAll(async () => {
  redis = await startRedis({ dataDir });
  ingest = await startFunction('ingest', { REDIS_URL: redis.url, KEY_PREFIX: 'faults:', WINDOW_SIZE: '10000' });
});
afterAll(async () => {
  await ingest?.stop();
  await redis?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

interface Outcome {
  device: string;
  value: number;
  status: number;
  ms: number;
  retryAfter: string | null;
}

describe('Redis going away under load', () => {
  // A reply can be lost after Redis applied the command (it exits before writing it): the service
  // then answers 503 for an event that is stored. Devices resend with the same id, as they should,
  // and the id makes the resend a no-op: in the end every event is stored exactly once.
  it('stores every event exactly once through a restart, with devices retrying 503s by id', async () => {
    const outcomes: Outcome[] = [];
    const sent = new Map<string, number>();
    let running = true;
    const clients = Array.from({ length: 8 }, async (_, c) => {
      const device = `restart-${c}`;
      let value = 0;
      for (; running; value++) {
        for (;;) {
          const started = performance.now();
          const reply = await request(`${ingest.url}/ingest`, { body: { device_id: device, id: `${device}-${value}`, cpu: value } });
          outcomes.push({ device, value, status: reply.status, ms: performance.now() - started, retryAfter: reply.headers.get('retry-after') });
          if (reply.status === 202) break;
          await sleep(20);
        }
        // Bad input in the middle of it all is refused and never stored.
        if (value % 50 === 0) expect((await request(`${ingest.url}/ingest`, { body: { device_id: device, cpu: 'x' } })).status).toBe(400);
      }
      sent.set(device, value);
    });

    await sleep(1000);
    await redis.stop();
    await sleep(1500);
    const health = await request(`${ingest.url}/health`);
    redis = await startRedis({ port: redis.port, dataDir });
    await sleep(2000);
    running = false;
    await Promise.all(clients);

    expect([...new Set(outcomes.map((o) => o.status))].sort()).toEqual([202, 503]);
    expect(health.status).toBe(503);
    const unavailable = outcomes.filter((o) => o.status === 503);
    expect(unavailable.length).toBeGreaterThan(10);
    expect(unavailable.every((o) => o.retryAfter === '1')).toBe(true);
    expect(Math.max(...unavailable.map((o) => o.ms))).toBeLessThan(1000);
    expect(ingest.process.exitCode).toBeNull();

    const check = new Redis(redis.url);
    try {
      for (let c = 0; c < 8; c++) {
        const device = `restart-${c}`;
        const stored = (await check.lrange(`faults:dev:{${device}}:w:cpu`, 0, -1)).map(Number);
        expect(stored, device).toEqual(Array.from({ length: sent.get(device)! }, (_, v) => v));
      }
    } finally {
      check.disconnect();
    }
  });
});

describe('a slow Redis', () => {
  it('gets a 503 within the command timeout, never a hang', async () => {
    const admin = new Redis(redis.url);
    try {
      await admin.client('PAUSE', 3000, 'ALL');
      const started = performance.now();
      const reply = await request(`${ingest.url}/ingest`, { body: { device_id: 'slow', cpu: 1 } });
      const ms = performance.now() - started;
      expect(reply.status).toBe(503);
      expect(reply.body).toEqual({ error: 'unavailable', message: 'The data store is unavailable; retry shortly' });
      expect(ms).toBeLessThan(2500);
    } finally {
      await admin.client('UNPAUSE').catch(() => undefined);
      admin.disconnect();
    }
    await sleep(200);
    expect((await request(`${ingest.url}/ingest`, { body: { device_id: 'slow', cpu: 2 } })).status).toBe(202);
  });
});

describe('a 50 MB body', () => {
  const rss = () => rssMb(ingest.process.pid!);
  const send = (headers: Record<string, string>) => rawUpload(ingest.url, { method: 'POST', path: '/ingest/batch' }, headers);

  it.each([
    ['with its length declared', { 'content-type': 'application/json', 'content-length': String(50 * 1024 * 1024 + 1) }],
    ['chunked', { 'content-type': 'application/json', 'transfer-encoding': 'chunked' }],
  ])('is refused with 413 %s, without being buffered', async (_how, headers) => {
    const before = rss();
    const reply = await send(headers);
    expect(reply.status, `${reply.body}\nserver: ${ingest.output().slice(-1500)}`).toBe(413);
    expect(JSON.parse(reply.body)).toMatchObject({ error: 'payload_too_large', details: { limit_bytes: 1048576 } });
    expect(rss() - before).toBeLessThan(30);
    expect(ingest.process.exitCode).toBeNull();
  });
});
