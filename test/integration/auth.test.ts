import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiRoutes } from '../../functions/api.js';
import { type TestApp, request, snapshot, startApp } from '../support/app.js';

const INGEST = ['ingest-token-0123456789', 'ingest-token-abcdefghij'];
const READ = 'read-token-0123456789ab';
let app: TestApp;
beforeAll(async () => {
  app = await startApp(apiRoutes, { INGEST_TOKENS: INGEST.join(','), READ_TOKENS: READ });
});
afterAll(() => app.close());

const auth = (token: string) => ({ authorization: `Bearer ${token}` });

describe('bearer tokens', () => {
  it.each([
    ['no header', {}],
    ['a wrong token', auth('ingest-token-0123456780')],
    ['a read token', auth(READ)],
    ['another scheme', { authorization: `Basic ${INGEST[0]}` }],
  ])('ingest refuses %s with 401, storing nothing', async (_case, headers) => {
    const before = await snapshot(app.context.config);
    const reply = await request(`${app.url}/ingest`, { body: { cpu: 1 }, headers });
    expect(reply.status).toBe(401);
    expect(reply.body).toMatchObject({ error: 'unauthorized' });
    expect(reply.headers.get('www-authenticate')).toBe('Bearer');
    expect(await snapshot(app.context.config)).toEqual(before);
  });

  it('ingest accepts any of its tokens', async () => {
    for (const token of INGEST) {
      expect((await request(`${app.url}/ingest`, { body: { cpu: 1 }, headers: auth(token) })).status).toBe(202);
      expect((await request(`${app.url}/ingest/batch`, { body: [{ cpu: 2 }], headers: auth(token) })).status).toBe(202);
    }
  });

  it.each(['/analyze', '/anomalies', '/devices', '/stats', '/metrics'])('%s needs the read token', async (path) => {
    expect((await request(`${app.url}${path}`)).status).toBe(401);
    expect((await request(`${app.url}${path}`, { headers: auth(INGEST[0]!) })).status).toBe(401);
    expect((await request(`${app.url}${path}`, { headers: auth(READ) })).status).toBe(200);
  });

  it('leaves the health paths open', async () => {
    for (const path of ['/health', '/healthz', '/health/liveness', '/health/readiness']) {
      expect((await request(`${app.url}${path}`)).status).toBe(200);
    }
  });
});
