import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batches, singleEvents } from '../../bench/workload.js';
import { startFunction } from '../../support/functions.js';
import { type LoadTally, ingestPod, sendUntil } from '../../support/pod.js';
import { sampleRss } from '../../support/proc.js';
import { type Running, startRedis } from '../../support/servers.js';

// The ingest pod as knative/ingest.yaml deploys it: its NODE_OPTIONS, admission budget, memory limit and
// containerConcurrency, read from the manifest.
const pod = ingestPod();
const SECONDS = 8;

let redis: Running;
let ingest: Awaited<ReturnType<typeof startFunction>>;
let stats: Awaited<ReturnType<typeof startFunction>>;
beforeAll(async () => {
  redis = await startRedis();
  const env = { ...pod.env, REDIS_URL: redis.url, KEY_PREFIX: 'pod:', PUSHGATEWAY_URL: '' };
  ingest = await startFunction('ingest', env);
  stats = await startFunction('stats', env);
});
afterAll(async () => {
  await ingest?.stop();
  await stats?.stop();
  await redis?.stop();
});

describe('the deployed ingest pod at twice its containerConcurrency', () => {
  it('does not crash, stays under 80% of its memory limit, answers 202 or 503 with Retry-After, and counts what it acknowledged', async () => {
    const largest = batches('/ingest/batch', 1000, 1000, 10).map((r) => r.body!);
    const single = singleEvents('/ingest', 1000, 500).map((r) => r.body!);
    const tally: LoadTally = { statuses: {}, acknowledged: 0, refusalsWithoutRetryAfter: 0 };
    const stop = sampleRss(ingest.process.pid!, 100);
    const until = Date.now() + SECONDS * 1000;
    await Promise.all([
      sendUntil(ingest.url, '/ingest/batch', largest, 2 * pod.concurrency, until, tally),
      sendUntil(ingest.url, '/ingest', single, 8, until, tally),
    ]);
    const rss = Math.max(...stop());

    expect(ingest.process.exitCode).toBeNull();
    expect(ingest.output()).not.toMatch(/heap out of memory|FATAL/);
    expect(rss).toBeLessThanOrEqual(0.8 * pod.memoryLimitMb);
    // Only acknowledgements and refusals for being over the budget: no timeouts, no lost connections.
    expect(Object.keys(tally.statuses).sort()).toEqual(['202', '503 overloaded']);
    expect(tally.refusalsWithoutRetryAfter).toBe(0);
    expect(tally.statuses['202']).toBeGreaterThan(20);
    const body = (await (await fetch(`${stats.url}/stats`)).json()) as { events: number };
    expect(body.events).toBe(tally.acknowledged);
  });
});
