// The benchmark cases, in the order they run (BENCHMARKS.md, "What is measured"). Each records its
// rows on the harness; the order matters, as later cases read the devices the ingest cases wrote.
import { startRedisCluster } from '../support/cluster.js';
import type { Running } from '../support/servers.js';
import { type AnomalyEventsAB, anomalyEventsAB } from './anomaly-events.js';
import { type Harness, log } from './harness.js';
import { type BodyRequest, type OpenLoopResult, closedLoop, openLoop } from './load.js';
import { type ProfileSplit, type Row, round } from './report.js';
import { deployedPod } from './pod.js';
import { batches, singleEvents } from './workload.js';

export interface Workloads {
  single: BodyRequest[];
  batch100: BodyRequest[];
  /** Batches of 1,000 events by how many devices they span: a fleet, a gateway, one buffering device. */
  batch1000: BodyRequest[];
  gateway: BodyRequest[];
  oneDevice: BodyRequest[];
}

export function workloads(): Workloads {
  return {
    single: singleEvents('/ingest', 1000),
    batch100: batches('/ingest/batch', 100, 1000),
    batch1000: batches('/ingest/batch', 1000, 1000),
    gateway: batches('/ingest/batch', 1000, 10, 20, 4),
    oneDevice: batches('/ingest/batch', 1000, 1, 20, 5),
  };
}

/** The batch mixes measured on both standalone Redis and Cluster. */
const MIXES = [
  ['batch1000', 'from 1000 devices'],
  ['gateway', 'from 10 devices'],
  ['oneDevice', 'from 1 device'],
] as const;

/** What the targets and the final log lines need beyond the harness's rows and RSS. */
export interface CaseResults {
  open: OpenLoopResult;
  /** events/s by window size */
  windows: Record<number, number>;
  one: Row;
  two: Row;
  profiles: Record<string, ProfileSplit>;
  anomalyEvents: AnomalyEventsAB;
}


/** Events of 2-4 metrics for `devices` devices, 1,000 a request, sent until every device is known. */
async function prefillDevices(url: string, devices: number): Promise<void> {
  for (let from = 0; from < devices; from += 1000) {
    const body = Array.from({ length: Math.min(1000, devices - from) }, (_, i) => ({ device_id: `fleet-${from + i}`, cpu: i % 97, rps: i % 13 }));
    const res = await fetch(`${url}/ingest/batch`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    if (res.status !== 202) throw new Error(`prefill failed: ${res.status} ${await res.text()}`);
  }
}

/** Runs every case in order. */
export async function runCases(h: Harness, w: Workloads): Promise<CaseResults> {
  await ceiling(h, w);
  const ingest = await ingestThroughput(h, w);
  await reads(h);
  const open = await latencyAtFixedLoad(h, ingest, w);
  const windows = await windowSizes(h);
  const { one, two } = await oneVsTwoProcesses(h, ingest, w);
  await memory(h, ingest, w);
  await ingest.stop();
  await deployedPod(h);
  await onCluster(h, w);
  const anomalyEvents = await anomalyEventsAB(h, w);
  const profiles = await profileIngest(h, w);
  return { open, windows, one, two, profiles, anomalyEvents };
}

/** 1. Two ceilings every other value is also given as a ratio to: the bare framework, and the framework with one Redis round trip. */
async function ceiling(h: Harness, w: Workloads): Promise<void> {
  log('1. ceilings');
  const { seconds, warmup } = h.durations;
  for (const [target, source, name, kind] of [
    ['hello', 'bench/hello-function.js', 'hello-world function (same framework)', 'framework'],
    ['hello_redis', 'bench/redis-function.js', 'function with one Redis round trip (same framework)', 'redis'],
  ] as const) {
    const fn = await h.start(target, { REDIS_URL: h.env('ceiling').REDIS_URL! }, { source });
    await closedLoop(fn.url, w.single, warmup);
    await h.measure(name, () => closedLoop(fn.url, w.single, seconds), { perRequest: 0, unit: 'req/s', pids: [fn.process.pid!], ceiling: kind });
    await fn.stop();
  }
}

/** 2-3. Single events and batches into one ingest process, which stays up for the later cases. */
async function ingestThroughput(h: Harness, w: Workloads): Promise<Running> {
  log('2-4. throughput of one ingest process');
  const { seconds, warmup } = h.durations;
  const ingest = await h.start('ingest', h.env('main'));
  const stopRss = h.sampleRss('ingest under load', ingest.process.pid!);
  await closedLoop(ingest.url, w.single, warmup);
  const pids = [ingest.process.pid!];
  await h.measure('single-event ingest (2-4 metrics, 1000 devices)', () => closedLoop(ingest.url, w.single, seconds), { perRequest: 1, unit: 'req/s', pids });
  await h.measure('batch ingest, 100 events/request', () => closedLoop(ingest.url, w.batch100, seconds, 8), { perRequest: 100, unit: 'events/s', pids });
  for (const [mix, devices] of MIXES) {
    await h.measure(`batch ingest, 1000 events/request ${devices}`, () => closedLoop(ingest.url, w[mix], seconds, 4), { perRequest: 1000, unit: 'events/s', pids });
  }
  stopRss();
  return ingest;
}

/** 4. The reads, over the 1,000 devices the ingest cases wrote, and /stats over 100,000 devices. */
async function reads(h: Harness): Promise<void> {
  const { seconds } = h.durations;
  const analyze = await h.start('analyze', h.env('main'));
  const stats = await h.start('stats', h.env('main'));
  const analyzeRequests: BodyRequest[] = Array.from({ length: 100 }, (_, i) => ({ method: 'GET', path: `/analyze?device=device-${i * 7}` }));
  const read = (pid: number) => ({ perRequest: 0, unit: 'req/s', pids: [pid] });
  await h.measure('GET /analyze?device=…', () => closedLoop(analyze.url, analyzeRequests, seconds), read(analyze.process.pid!));
  await h.measure('GET /anomalies?limit=50', () => closedLoop(analyze.url, [{ method: 'GET', path: '/anomalies?limit=50' }], seconds), read(analyze.process.pid!));
  await h.measure('GET /stats (1000 devices)', () => closedLoop(stats.url, [{ method: 'GET', path: '/stats' }], seconds), read(stats.process.pid!));
  await analyze.stop();
  await stats.stop();

  const writer = await h.start('ingest', h.env('fleet'));
  await prefillDevices(writer.url, 100_000);
  await writer.stop();
  const fleet = await h.start('stats', h.env('fleet'));
  await h.measure('GET /stats (100,000 devices)', () => closedLoop(fleet.url, [{ method: 'GET', path: '/stats' }], seconds), read(fleet.process.pid!));
  await fleet.stop();
}

/** 5. Open loop at 1,000 req/s: latency counted from when each request was due. */
async function latencyAtFixedLoad(h: Harness, ingest: Running, w: Workloads): Promise<OpenLoopResult> {
  log('5. latency at a fixed offered load (open loop)');
  const { seconds } = h.durations;
  const redis = await h.redisWindow();
  const open = await openLoop(ingest.url, w.single, 1000, seconds);
  const { calls } = await redis();
  const value = open.sent / seconds;
  h.rows.push({ case: 'single-event ingest at 1000 req/s offered', value, unit: 'req/s', ratio: h.ratio(value), ratio_redis: h.ratio(value, 'redis'), p50: round(open.p50, 2), p99: round(open.p99, 2), p999: round(open.p999, 2), failures: open.failures, ...calls });
  const reasons = open.failures ? `: ${JSON.stringify(open.reasons)}` : '';
  log(`  p50 ${open.p50.toFixed(2)} ms  p99 ${open.p99.toFixed(2)} ms  p99.9 ${open.p999.toFixed(2)} ms  (${open.sent} sent, ${open.failures} failed${reasons})`);
  return open;
}

/** Fills every series of `devices` devices to `count` values, in batches of 1000. */
async function prefill(url: string, devices: number, count: number): Promise<void> {
  for (let sent = 0; sent < count * devices; sent += 1000) {
    const body = Array.from({ length: 1000 }, (_, i) => {
      const k = sent + i;
      return { device_id: `device-${k % devices}`, cpu: 50 + (k % 7), rps: 100 + (k % 11), memory: 55 + (k % 3), latency: 20 + (k % 5) };
    });
    const res = await fetch(`${url}/ingest/batch`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    if (res.status !== 202) throw new Error(`prefill failed: ${res.status} ${await res.text()}`);
  }
}

/** 6. Full windows of W = 50, 1,000, 10,000; returns events/s by W. */
async function windowSizes(h: Harness): Promise<Record<number, number>> {
  log('6. window size (20 devices × 4 metrics, windows full, batches of 100)');
  const { seconds, warmup } = h.durations;
  const windows: Record<number, number> = {};
  for (const w of [50, 1000, 10_000]) {
    const fn = await h.start('ingest', h.env(`w${w}`, { WINDOW_SIZE: String(w) }));
    await prefill(fn.url, 20, w + 10);
    const load = batches('/ingest/batch', 100, 20, 20, 3);
    await closedLoop(fn.url, load, warmup, 8);
    windows[w] = (await h.measure(`W = ${w}`, () => closedLoop(fn.url, load, seconds, 8), { perRequest: 100 })).value;
    await fn.stop();
  }
  return windows;
}

/** 7. A second ingest process on the same Redis and key prefix. */
async function oneVsTwoProcesses(h: Harness, ingest: Running, w: Workloads): Promise<{ one: Row; two: Row }> {
  log('7. one vs two ingest processes on one Redis (batches of 1000)');
  const { seconds } = h.durations;
  const second = await h.start('ingest', h.env('main'));
  const one = await h.measure('one process', () => closedLoop(ingest.url, w.batch1000, seconds, 4), { perRequest: 1000 });
  const two = await h.measure(
    'two processes',
    async () => {
      const [a, b] = await Promise.all([closedLoop(ingest.url, w.batch1000, seconds, 4), closedLoop(second.url, w.batch1000, seconds, 4)]);
      return { rps: a.rps + b.rps, requests: a.requests + b.requests, failures: a.failures + b.failures, p50: Math.max(a.p50, b.p50), p99: Math.max(a.p99, b.p99) };
    },
    { perRequest: 1000 },
  );
  await second.stop();
  return { one, two };
}

/** The ingest process's RSS over a longer run of single events. */
async function memory(h: Harness, ingest: Running, w: Workloads): Promise<void> {
  const { soakSeconds } = h.durations;
  log(`memory: single-event ingest for ${soakSeconds} s`);
  const stopSoak = h.sampleRss('ingest over the soak', ingest.process.pid!);
  await h.measure(`single-event ingest, ${soakSeconds} s`, () => closedLoop(ingest.url, w.single, soakSeconds), { perRequest: 1, unit: 'req/s' });
  stopSoak();
  log(`  RSS ${JSON.stringify(h.rss)}`);
}

/** 8. The same ingest cases on a three-master Redis Cluster, Redis CPU summed over the masters. */
async function onCluster(h: Harness, w: Workloads): Promise<void> {
  log('8. on a three-master Redis Cluster');
  const { seconds, warmup } = h.durations;
  const cluster = await startRedisCluster();
  try {
    h.watch(cluster.ports.map((port) => `redis://127.0.0.1:${port}`));
    const ingest = await h.start('ingest', h.env('cluster', { REDIS_CLUSTER_NODES: cluster.nodes }));
    const pids = [ingest.process.pid!];
    await closedLoop(ingest.url, w.single, warmup);
    await h.measure('Cluster: single-event ingest', () => closedLoop(ingest.url, w.single, seconds), { perRequest: 1, unit: 'req/s', pids });
    for (const [mix, devices] of MIXES) {
      await h.measure(`Cluster: batch ingest, 1000 events/request ${devices}`, () => closedLoop(ingest.url, w[mix], seconds, 4), { perRequest: 1000, unit: 'events/s', pids });
    }
    await ingest.stop();
  } finally {
    h.watch([h.env('main').REDIS_URL!]);
    await cluster.stop();
  }
}

/** Where the time goes: CPU profiles of a fresh ingest process. */
async function profileIngest(h: Harness, w: Workloads): Promise<Record<string, ProfileSplit>> {
  log('where the time goes (CPU profiles of the ingest process)');
  const profiles = { 'single-event ingest': await h.profile('single', w.single), 'batch ingest, 1000 events/request': await h.profile('batch', w.batch1000) };
  for (const [name, split] of Object.entries(profiles)) log(`  ${name}: ${Object.entries(split).map(([k, v]) => `${k} ${v}%`).join(', ')}`);
  return profiles;
}
