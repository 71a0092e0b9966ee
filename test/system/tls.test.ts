import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { apiRoutes } from '../../functions/api.js';
import { loadConfig } from '../../shared/config/load.js';
import { type Certificates, makeCertificates } from '../../support/certificates.js';
import { startFunction } from '../../support/functions.js';
import { type Running, startRedis } from '../../support/servers.js';
import { request, startApp } from '../support/app.js';

// A redis-server that speaks TLS only, with a certificate from a CA this file makes with openssl.
const dir = mkdtempSync(join(tmpdir(), 'iot-tls-'));
let certs: Certificates;
let redis: Running;
beforeAll(async () => {
  certs = makeCertificates(dir);
  redis = await startRedis({ tls: { cert: certs.cert, key: certs.key } });
});
afterAll(async () => {
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('Redis over TLS (rediss://), certificate verification on', () => {
  it('ingests and analyzes through a verified connection', async () => {
    expect(redis.url).toMatch(/^rediss:\/\//);
    const app = await startApp(apiRoutes, { REDIS_URL: redis.url, REDIS_TLS_CA_FILE: certs.ca, MIN_SAMPLES: '2' });
    try {
      for (const cpu of [10, 12, 11]) expect((await request(`${app.url}/ingest`, { body: { device_id: 'tls-1', cpu } })).status).toBe(202);
      const batch = await request(`${app.url}/ingest/batch`, { body: [{ device_id: 'tls-1', cpu: 90 }, { device_id: 'tls-2', rps: 3 }] });
      expect(batch.body).toMatchObject({ accepted: 2, anomalies: [{ index: 0, device_id: 'tls-1', metric: 'cpu', value: 90 }] });
      const analyze = await request(`${app.url}/analyze?device=tls-1`);
      expect(analyze.body.series[0]).toMatchObject({ metric: 'cpu', value: 90, samples: 4, count: 4 });
      expect((await request(`${app.url}/stats`)).body).toMatchObject({ events: 5, devices: 2 });
      expect((await request(`${app.url}/health/readiness`)).status).toBe(200);
    } finally {
      await app.close();
    }
  });

  it('refuses a server its CA did not sign: 503 unavailable, and a log line that says what to set', async () => {
    const logged = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    const app = await startApp(apiRoutes, { REDIS_URL: redis.url, REDIS_TLS_CA_FILE: certs.otherCa, REDIS_COMMAND_TIMEOUT_MS: '500' });
    try {
      const reply = await request(`${app.url}/ingest`, { body: { device_id: 'tls-untrusted', cpu: 1 } });
      expect(reply.status).toBe(503);
      expect(reply.body).toMatchObject({ error: 'unavailable' });
      expect((await request(`${app.url}/health/liveness`)).status).toBe(503);
      const lines = logged.mock.calls.map((args) => String(args[0]));
      // Said once, however often the client retries.
      expect(lines.filter((line) => line.includes('redis TLS certificate not trusted') && line.includes('REDIS_TLS_CA_FILE'))).toHaveLength(1);
    } finally {
      await app.close();
      logged.mockRestore();
    }
  });

  it('refuses a CA file that is not PEM certificates when the configuration loads', () => {
    expect(() => loadConfig({ REDIS_URL: redis.url, REDIS_TLS_CA_FILE: certs.key })).toThrowError(/REDIS_TLS_CA_FILE must be a PEM file of certificates/);
    expect(() => loadConfig({ REDIS_URL: redis.url, REDIS_TLS_CA_FILE: join(dir, 'missing.pem') })).toThrowError(/REDIS_TLS_CA_FILE must name a readable file \(ENOENT/);
  });

  it('answers 503 at once while the TLS Redis is down, and ingests again once it is back', async () => {
    const own = await startRedis({ tls: { cert: certs.cert, key: certs.key } });
    const ingest = await startFunction('ingest', { REDIS_URL: own.url, REDIS_TLS_CA_FILE: certs.ca, KEY_PREFIX: 'tls-faults:' });
    try {
      expect((await request(`${ingest.url}/ingest`, { body: { device_id: 'tls-f', cpu: 1 } })).status).toBe(202);
      await own.stop();
      const started = Date.now();
      const down = await request(`${ingest.url}/ingest`, { body: { device_id: 'tls-f', cpu: 2 } });
      expect(down.status).toBe(503);
      expect(down.headers.get('retry-after')).toBe('1');
      expect(Date.now() - started).toBeLessThan(1500);
      const back = await startRedis({ port: own.port, tls: { cert: certs.cert, key: certs.key } });
      try {
        let status = 0;
        for (let i = 0; i < 50 && status !== 202; i++) {
          status = (await request(`${ingest.url}/ingest`, { body: { device_id: 'tls-f', cpu: 3 } })).status;
          if (status !== 202) await sleep(100);
        }
        expect(status).toBe(202);
      } finally {
        await back.stop();
      }
    } finally {
      await ingest.stop();
      await own.stop();
    }
  });
});
