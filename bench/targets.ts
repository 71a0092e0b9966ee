// The service's performance targets, judged on one run's figures (BENCHMARKS.md, "Targets").
import type { CaseResults } from './cases.js';
import { SLOWLOG_FLOOR_US, log } from './harness.js';
import { type Row, type RssSummary, type Target, fmt, round } from './report.js';

/** Each target with what was measured against it and whether it was met. */
export function evaluateTargets(rows: Row[], rss: Record<string, RssSummary>, results: Pick<CaseResults, 'open' | 'windows' | 'anomalyEvents'>): Target[] {
  const { open, windows, anomalyEvents } = results;
  const events = anomalyEvents.loads.map((l) => round(l.with / l.without, 3));
  const row = (name: string) => rows.find((r) => r.case === name)!;
  const single = row('single-event ingest (2-4 metrics, 1000 devices)');
  const mixes = ['1000 devices', '10 devices', '1 device'].map((d) => row(`batch ingest, 1000 events/request from ${d}`));
  const fleet = mixes[0]!;
  const analyze = row('GET /analyze?device=…');
  const anomalies = row('GET /anomalies?limit=50');
  const stats = row('GET /stats (100,000 devices)');
  const soak = rss['ingest over the soak']!;
  const windowRatio = windows[10_000]! / windows[50]!;
  const timed = rows.filter((r) => r.script_calls !== undefined);
  const over = timed.reduce((n, r) => n + (r.calls_over_1ms ?? 0), 0);
  const calls = timed.reduce((n, r) => n + (r.script_calls ?? 0), 0);
  const longest = Math.max(...timed.map((r) => r.longest_call_us ?? 0));
  const paced = row('single-event ingest at 1000 req/s offered');
  const redis = (r: Row) => r.redis_us_per_event ?? Infinity;
  return [
    { target: 'single-event ingest ≥ 0.8× the framework + Redis ceiling', measured: `${single.ratio_redis}×`, met: (single.ratio_redis ?? 0) >= 0.8 },
    { target: 'p99 ≤ 10 ms at 1000 req/s offered', measured: `${round(open.p99, 2)} ms`, met: open.p99 <= 10 },
    { target: 'Redis CPU ≤ 8 µs per single event', measured: `${single.redis_us_per_event} µs`, met: redis(single) <= 8 },
    { target: 'Redis CPU ≤ 5 µs per event of 1000-event batches from 1000, 10, 1 devices', measured: mixes.map((r) => `${r.redis_us_per_event} µs`).join(', '), met: mixes.every((r) => redis(r) <= 5) },
    { target: 'batch ingest ≥ 100,000 events/s per process (1000 devices)', measured: `${fmt(fleet.value)} events/s`, met: fleet.value >= 100_000 },
    { target: '/analyze and /anomalies ≥ 0.8× the framework + Redis ceiling', measured: `${analyze.ratio_redis}×, ${anomalies.ratio_redis}×`, met: Math.min(analyze.ratio_redis ?? 0, anomalies.ratio_redis ?? 0) >= 0.8 },
    { target: '/stats with 100,000 devices ≥ 0.8× /analyze', measured: `${round(stats.value / analyze.value, 2)}×`, met: stats.value >= 0.8 * analyze.value },
    {
      target: 'no script call over 1 ms (SLOWLOG, every case)',
      measured: `${fmt(over)} of ${fmt(calls)} over 1 ms, longest ${longest} µs; at 1000 req/s offered ${paced.calls_over_1ms} of ${fmt(paced.script_calls ?? 0)}, longest ${paced.longest_call_us || `< ${SLOWLOG_FLOOR_US}`} µs`,
      met: over === 0,
    },
    { target: 'W = 10,000 at ≥ 0.8× the events/s of W = 50', measured: `${round(windowRatio, 2)}×`, met: windowRatio >= 0.8 },
    { target: 'ingest with K_SINK ≥ 0.95× without (A/B: single events, 1000-device batches; single events with DETECTOR_PROFILE=infra)', measured: events.map((r) => `${r}×`).join(', '), met: events.every((r) => r >= 0.95) },
    { target: 'function RSS ≤ 150 MB and flat', measured: `max ${soak.max} MB, ${soak.start} → ${soak.end} MB`, met: soak.max <= 150 && soak.end - soak.start <= Math.max(10, 0.1 * soak.start) },
  ];
}

/** The targets, and how far a second process gets on the same Redis. */
export function logTargets(targets: Target[], { one, two }: Pick<CaseResults, 'one' | 'two'>): void {
  log('targets');
  for (const t of targets) log(`  ${t.met ? 'met   ' : 'MISSED'} ${t.target}: ${t.measured}`);
  log(`  two processes / one: ${round(two.value / one.value, 2)}× (Redis ${two.redis_us_per_event} µs/event; one Redis core ≈ ${fmt(1e6 / (two.redis_us_per_event ?? 1))} events/s)`);
}
