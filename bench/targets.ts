// The service's performance targets, judged on one run's figures (BENCHMARKS.md, "Targets").
import type { CaseResults } from './cases.js';
import { log } from './harness.js';
import { type Row, type RssSummary, type Target, fmt, round } from './report.js';

/** Each target with what was measured against it and whether it was met. */
export function evaluateTargets(rows: Row[], rss: Record<string, RssSummary>, results: Pick<CaseResults, 'open' | 'windows'>): Target[] {
  const { open, windows } = results;
  const singleRow = rows.find((r) => r.case.startsWith('single-event ingest (2-4'))!;
  const batchRow = rows.find((r) => r.case === 'batch ingest, 1000 events/request')!;
  const soak = rss['ingest over the soak']!;
  const windowRatio = windows[10_000]! / windows[50]!;
  return [
    { target: 'single-event ingest ≥ 0.8× ceiling', measured: `${singleRow.ratio}×`, met: singleRow.ratio >= 0.8 },
    { target: 'p99 ≤ 10 ms at 1000 req/s offered', measured: `${round(open.p99, 2)} ms`, met: open.p99 <= 10 },
    { target: 'batch ingest ≥ 100,000 events/s per process', measured: `${fmt(batchRow.value)} events/s`, met: batchRow.value >= 100_000 },
    { target: 'W = 10,000 at ≥ 0.8× the events/s of W = 50', measured: `${round(windowRatio, 2)}×`, met: windowRatio >= 0.8 },
    { target: 'Redis CPU ≤ 10 µs per event (batch ingest)', measured: `${batchRow.redis_us_per_event} µs`, met: (batchRow.redis_us_per_event ?? Infinity) <= 10 },
    { target: 'function RSS ≤ 150 MB and flat', measured: `max ${soak.max} MB, ${soak.start} → ${soak.end} MB`, met: soak.max <= 150 && soak.end - soak.start <= Math.max(10, 0.1 * soak.start) },
  ];
}

/** The targets, and how far a second process gets on the same Redis. */
export function logTargets(targets: Target[], { one, two }: Pick<CaseResults, 'one' | 'two'>): void {
  log('targets');
  for (const t of targets) log(`  ${t.met ? 'met   ' : 'MISSED'} ${t.target}: ${t.measured}`);
  log(`  two processes / one: ${round(two.value / one.value, 2)}× (Redis ${two.redis_us_per_event} µs/event; one Redis core ≈ ${fmt(1e6 / (two.redis_us_per_event ?? 1))} events/s)`);
}
