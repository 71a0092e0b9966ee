import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiRoutes } from '../../functions/api.js';
import { type TestApp, request, startApp } from '../support/app.js';

// The exact messages of refusals: a client (or its operator) reads them, so they are part of the API.
let app: TestApp;
beforeAll(async () => {
  app = await startApp(apiRoutes, { MAX_BATCH: '200' });
});
afterAll(() => app?.close());

const batch = (body: unknown) => request(`${app.url}/ingest/batch`, { body });
const bad = (n: number) => Array.from({ length: n }, () => ({ cpu: null }));

describe('refusal messages', () => {
  it('say what is wrong with a batch as a whole', async () => {
    expect((await batch({ cpu: 1 })).body).toEqual({ error: 'invalid_batch', message: 'A batch must be a JSON array of events or {"metrics": [...]}' });
    expect((await batch([])).body).toEqual({ error: 'invalid_batch', message: 'The batch is empty' });
    expect((await batch(Array.from({ length: 201 }, () => ({ cpu: 1 })))).body).toEqual({
      error: 'invalid_batch',
      message: 'The batch has 201 events; at most 200 are allowed',
      details: { max_batch: 200 },
    });
  });

  it('name one bad field with its reason, and several by position (five at most, then how many more)', async () => {
    const one = await request(`${app.url}/ingest`, { body: { cpu: null } });
    expect(one.body.message).toBe('cpu: must be a finite JSON number (got null)');
    const two = await request(`${app.url}/ingest`, { body: { cpu: null, rps: 'x' } });
    expect(two.body.message).toBe('2 invalid fields: cpu, rps');
    expect((await batch(bad(5))).body.message).toBe('5 invalid fields: [0].cpu, [1].cpu, [2].cpu, [3].cpu, [4].cpu');
    const seven = await batch(bad(7));
    expect(seven.body.message).toBe('7 invalid fields: [0].cpu, [1].cpu, [2].cpu, [3].cpu, [4].cpu and 2 more');
    expect(seven.body.details).toHaveLength(7);
    expect(seven.body.details[6]).toEqual({ index: 6, field: 'cpu', message: 'must be a finite JSON number (got null)' });
    // Details stop at 100 entries; the message still counts them all.
    const many = await batch(bad(150));
    expect(many.body.details).toHaveLength(100);
    expect(many.body.message).toMatch(/^150 invalid fields: .* and 145 more$/);
  });

  it('name each bad query parameter, and take the last of a repeated one', async () => {
    const reply = await request(`${app.url}/anomalies?limit=0&device=no%20spaces`);
    expect(reply.status).toBe(400);
    expect(reply.body.details.map((d: { field: string }) => d.field).sort()).toEqual(['device', 'limit']);
    expect(reply.body.message).toBe(reply.body.details.map((d: { field: string; message: string }) => `${d.field}: ${d.message}`).join('; '));
    expect(reply.body.message).toContain('limit: must be at least 1');
    expect((await request(`${app.url}/devices?limit=0&limit=2`)).status).toBe(200);
    expect((await request(`${app.url}/devices?limit=2&limit=0`)).status).toBe(400);
  });

  it('name the first repeated key of a body, shortened past 64 characters', async () => {
    const first = await request(`${app.url}/ingest`, { raw: '{"a": 1, "b": 1, "b": 2, "a": 2}' });
    expect(first.body).toEqual({ error: 'malformed_json', message: 'The body repeats the key "b" in one object', details: { field: 'b' } });
    const long = 'k'.repeat(70);
    const shortened = await request(`${app.url}/ingest`, { raw: `{"${long}": 1, "${long}": 2}` });
    expect(shortened.body.details).toEqual({ field: `${'k'.repeat(64)}…` });
    const exact = 'k'.repeat(64);
    expect((await request(`${app.url}/ingest`, { raw: `{"${exact}": 1, "${exact}": 2}` })).body.details).toEqual({ field: exact });
  });
});
