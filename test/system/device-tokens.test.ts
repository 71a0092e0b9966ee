import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestRoutes } from '../../functions/ingest/routes.js';
import { mintDeviceToken } from '../../shared/http/device-tokens.js';
import { type TestApp, request, snapshot, startApp } from '../support/app.js';

const OLD = { id: 'old', secret: 'o'.repeat(20) + '-old-secret-0123456789' };
const NEW = { id: 'new', secret: 'n'.repeat(20) + '-new-secret-0123456789' };
const FLEET = 'fleet-gateway-token-0123456789';
const keys = (...list: Array<{ id: string; secret: string }>) => list.map((k) => `${k.id}:${k.secret}`).join(',');

// Mid-rotation: NEW signs, OLD still verifies.
let app: TestApp;
beforeAll(async () => {
  app = await startApp(ingestRoutes, { INGEST_TOKENS: FLEET, DEVICE_TOKEN_KEYS: keys(NEW, OLD) });
});
afterAll(() => app?.close());

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const send = (path: string, body: unknown, token: string) => request(`${app.url}${path}`, { body, headers: bearer(token) });

describe('device tokens (per-device credentials)', () => {
  it('let a device write its own series, single events and batches', async () => {
    const token = await mintDeviceToken(NEW, 'sensor-42', 3600);
    expect((await send('/ingest', { device_id: 'sensor-42', cpu: 1 }, token)).status).toBe(202);
    const batch = await send('/ingest/batch', [{ device_id: 'sensor-42', cpu: 2 }, { device_id: 'sensor-42', rps: 3 }], token);
    expect(batch.status).toBe(202);
    expect((await app.context.store.series('sensor-42')).map((s) => s.count)).toEqual([2, 1]);
  });

  it("refuse another device's event with 403, a batch whole, naming the index, and store nothing", async () => {
    const token = await mintDeviceToken(NEW, 'sensor-42', 3600);
    const before = await snapshot(app.context.config);
    const single = await send('/ingest', { device_id: 'sensor-7', cpu: 1 }, token);
    expect(single.status).toBe(403);
    expect(single.body).toEqual({ error: 'forbidden', message: 'device_id: the token of device sensor-42 may not write device sensor-7', details: { field: 'device_id' } });
    const batch = await send('/ingest/batch', [{ device_id: 'sensor-42', cpu: 1 }, { device_id: 'sensor-42', cpu: 2 }, { device_id: 'other', cpu: 3 }, { cpu: 4 }], token);
    expect(batch.status).toBe(403);
    // The event without device_id (index 3) is the token's device's: only index 2 is another device.
    expect(batch.body).toMatchObject({ error: 'forbidden', details: { field: '[2].device_id', indexes: [2] } });
    expect(batch.body.message).toBe('[2].device_id: the token of device sensor-42 may not write device other');
    expect(await snapshot(app.context.config)).toEqual(before);
  });

  it('leave fleet tokens (INGEST_TOKENS) free to write batches of many devices', async () => {
    const reply = await send('/ingest/batch', [{ device_id: 'gw-1', cpu: 1 }, { device_id: 'gw-2', cpu: 2 }], FLEET);
    expect(reply).toMatchObject({ status: 202, body: { accepted: 2 } });
  });

  it('accept a token of the key being rotated out, and refuse it once that key is gone', async () => {
    const token = await mintDeviceToken(OLD, 'rotating', 3600);
    expect((await send('/ingest', { device_id: 'rotating', cpu: 1 }, token)).status).toBe(202);
    const after = await startApp(ingestRoutes, { INGEST_TOKENS: FLEET, DEVICE_TOKEN_KEYS: keys(NEW) });
    try {
      const refused = await request(`${after.url}/ingest`, { body: { device_id: 'rotating', cpu: 2 }, headers: bearer(token) });
      expect(refused.status).toBe(401);
      expect(refused.body.message).toMatch(/not valid/);
    } finally {
      await after.close();
    }
  });

  it.each([
    ['expired', async () => mintDeviceToken(NEW, 'sensor-42', 60, Date.now() - 120_000), /expired/],
    ['signed with a key not configured (same id, other secret)', async () => mintDeviceToken({ id: 'new', secret: 'x'.repeat(40) }, 'sensor-42', 3600), /not valid/],
    ['signed with an unknown key id', async () => mintDeviceToken({ id: 'gone', secret: NEW.secret }, 'sensor-42', 3600), /not valid/],
    ['tampered (its device changed, signature kept)', async () => tamper(await mintDeviceToken(NEW, 'sensor-42', 3600), 'sensor-7'), /not valid/],
    ['with its signature removed', async () => `${(await mintDeviceToken(NEW, 'sensor-7', 3600)).split('.').slice(0, 2).join('.')}.`, /not valid/],
    ['a fleet token cut short', async () => FLEET.slice(0, -1), /valid token/],
    // Right key, wrong claims or header: each must be refused by the verifier's own rules.
    ['from another issuer', async () => sign({ sub: 'sensor-7', iss: 'elsewhere' }), NOT_VALID],
    ['without an expiry', async () => sign({ sub: 'sensor-7', exp: undefined }), NOT_VALID],
    ['without a device', async () => sign({ sub: undefined }), NOT_VALID],
    ['signed with HS512', async () => sign({ sub: 'sensor-7' }, { alg: 'HS512' }), NOT_VALID],
    ['without a key id', async () => sign({ sub: 'sensor-7' }, { kid: undefined }), NOT_VALID],
    ['naming a device id the event rules refuse', async () => sign({ sub: 'sensor 7' }), /^The device token names no valid device$/],
  ])('refuse a token %s with 401, writing nothing', async (_name, make, message) => {
    const before = await snapshot(app.context.config);
    const reply = await send('/ingest', { device_id: 'sensor-7', cpu: 1 }, await make());
    expect(reply.status).toBe(401);
    expect(reply.body).toMatchObject({ error: 'unauthorized' });
    expect(reply.body.message).toMatch(message);
    expect(reply.headers.get('www-authenticate')).toBe('Bearer');
    expect(await snapshot(app.context.config)).toEqual(before);
  });

  it('refuse a request without a token where device keys are configured, and a device token where none are', async () => {
    const none = await request(`${app.url}/ingest`, { body: { device_id: 'sensor-7', cpu: 1 } });
    expect([none.status, none.body.message]).toEqual([401, 'Send Authorization: Bearer <token> with a valid token']);
    // A target with fleet tokens and no device keys takes a JWT as any other wrong token (not a 500).
    const reads = await startApp(ingestRoutes, { INGEST_TOKENS: FLEET });
    try {
      const jwt = await mintDeviceToken(NEW, 'sensor-7', 3600);
      const reply = await request(`${reads.url}/ingest`, { body: { device_id: 'sensor-7', cpu: 1 }, headers: bearer(jwt) });
      expect([reply.status, reply.body.message]).toEqual([401, 'Send Authorization: Bearer <token> with a valid token']);
    } finally {
      await reads.close();
    }
  });

  it('are minted by npm run token with the first configured key', async () => {
    const root = fileURLToPath(new URL('../..', import.meta.url));
    const tsx = fileURLToPath(new URL('../../node_modules/tsx/dist/cli.mjs', import.meta.url));
    const minted = spawnSync(process.execPath, [tsx, 'scripts/token.ts', '--device', 'minted-1', '--ttl', '1h'], {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, DEVICE_TOKEN_KEYS: keys(NEW, OLD) },
    });
    expect(minted.status, minted.stderr).toBe(0);
    const token = minted.stdout.trim();
    expect(JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString())).toMatchObject({ alg: 'HS256', kid: 'new' });
    expect((await send('/ingest', { device_id: 'minted-1', cpu: 1 }, token)).status).toBe(202);
    expect((await send('/ingest', { device_id: 'minted-2', cpu: 1 }, token)).status).toBe(403);
  });
});

const NOT_VALID = /^The device token is not valid \(signature, key or claims\)$/;

/** A token signed with NEW's secret, its claims and header as given (an undefined one left out). */
function sign(claims: { sub?: string; iss?: string; exp?: number }, header: { alg?: string; kid?: string } = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const all = { iss: 'iot-metrics', iat: now, exp: now + 3600, ...claims };
  const head = { alg: 'HS256', kid: NEW.id, ...header };
  return new SignJWT(Object.fromEntries(Object.entries(all).filter(([, v]) => v !== undefined)))
    .setProtectedHeader(Object.fromEntries(Object.entries(head).filter(([, v]) => v !== undefined)) as { alg: string })
    .sign(new TextEncoder().encode(NEW.secret));
}

/** The token with its subject replaced, header and signature unchanged. */
function tamper(token: string, device: string): string {
  const [header, payload, signature] = token.split('.') as [string, string, string];
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
  return [header, Buffer.from(JSON.stringify({ ...claims, sub: device })).toString('base64url'), signature].join('.');
}
