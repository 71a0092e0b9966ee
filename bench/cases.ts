// The benchmark cases, in the order they run (BENCHMARKS.md, "What is measured"). Each records its
// rows on the harness; the order matters, as later cases read the devices the ingest cases wrote.
import type { Running } from '../support/servers.js';
import { type Harness, log } from './harness.js';
import { type BodyRequest, type OpenLoopResult, closedLoop, openLoop } from './load.js';
import { type ProfileSplit, type Row, round } from './report.js';
import { batches, singleEvents } from './workload.js';

export interface Workloads {
  single: BodyRequest[];
  batch100: BodyRequest[];
  batch1000: BodyRequest[];
  /** A gateway sending the buffered readings of a few devices: fewer script calls per event. */
  gateway: BodyRequest[];
}

export function workloads(): Workloads {
  return {
    single: singleEvents('/ingest', 1000),
    batch100: batches('/ingest/batch', 100, 1000),
    batch1000: batches('/ingest/batch', 1000, 1000),
    gateway: batches('/ingest/batch', 1000, 10, 20, 4),
  };
}

/** What the targets and the final log lines need beyond the harness's rows and RSS. */
export interface CaseResults {
  open: OpenLoopResult;
  /** events/s by window size */
  windows: Record<number, number>;
  one: Row;
  two: Row;
  profiles: Record<string, ProfileSplit>;
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
  const profiles = await profileIngest(h, w);
  return { open, windows, one, two, profiles };
}

/** 1. A bare functions-framework function: every other value is also given as a ratio to it. */
async function ceiling(h: Harness, w: Workloads): Promise<void> {
  log('1. ceiling');
  const { seconds, warmup } = h.durations;
  const hello = await h.start('hello', {}, { source: 'bench/hello-function.js' });
  await closedLoop(hello.url, w.single, warmup);
  const pids = [hello.process.pid!];
  await h.measure('hello-world function (same framework)', () => closedLoop(hello.url, w.single, seconds), { perRequest: 0, unit: 'req/s', pids, isCeiling: true });
  await hello.stop();
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
  await h.measure('batch ingest, 1000 events/request', () => closedLoop(ingest.url, w.batch1000, seconds, 4), { perRequest: 1000, unit: 'events/s', pids });
  await h.measure('batch ingest, 1000 events/request from 10 devices', () => closedLoop(ingest.url, w.gateway, seconds, 4), { perRequest: 1000, unit: 'events/s', pids });
  stopRss();
  return ingest;
}

/** 4. The reads, over the 1,000 devices the ingest cases wrote. */
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
}

/** 5. Open loop at 1,000 req/s: latency counted from when each request was due. */
async function latencyAtFixedLoad(h: Harness, ingest: Running, w: Workloads): Promise<OpenLoopResult> {
  log('5. latency at a fixed offered load (open loop)');
  const { seconds } = h.durations;
  const open = await openLoop(ingest.url, w.single, 1000, seconds);
  const value = open.sent / seconds;
  h.rows.push({ case: 'single-event ingest at 1000 req/s offered', value, unit: 'req/s', ratio: h.ratio(value), p50: round(open.p50, 2), p99: round(open.p99, 2), p999: round(open.p999, 2), failures: open.failures });
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

/** Where the time goes: CPU profiles of a fresh ingest process. */
async function profileIngest(h: Harness, w: Workloads): Promise<Record<string, ProfileSplit>> {
  log('where the time goes (CPU profiles of the ingest process)');
  const profiles = { 'single-event ingest': await h.profile('single', w.single), 'batch ingest, 1000 events/request': await h.profile('batch', w.batch1000) };
  for (const [name, split] of Object.entries(profiles)) log(`  ${name}: ${Object.entries(split).map(([k, v]) => `${k} ${v}%`).join(', ')}`);
  return profiles;
}
