// Case 9 of the bench: what delivering anomaly events (K_SINK) costs ingest, as an A/B in one run.
import { Redis } from 'ioredis';
import { keys } from '../shared/store/keys.js';
import { cpuUs } from '../support/proc.js';
import { type Running, waitFor } from '../support/servers.js';
import { type Sink, startSink } from '../support/sink.js';
import type { Workloads } from './cases.js';
import { type Harness, log } from './harness.js';
import { type BodyRequest, closedLoop } from './load.js';
import { type Row, round } from './report.js';

const ROUNDS = 3;

/** Per load: events/s without and with K_SINK (summed over the rounds), function CPU per event, and how many events it delivered. */
export interface AnomalyEventsAB {
  loads: Array<{
    load: string;
    without: number;
    with: number;
    /** µs per event ingested: without K_SINK, with it during the run, and with it once the deliveries it left are made too. */
    cpu: { without: number; with: number; delivered: number };
    /** Anomaly events the sink took, per 1,000 events ingested with K_SINK. */
    perThousand: number;
  }>;
}

interface Load {
  load: string;
  requests: BodyRequest[];
  perRequest: number;
  connections: number;
  profile: 'default' | 'infra';
}

type Side = { side: 'without' | 'with'; fn: Running };

/**
 * 9. Anomaly events A/B: per detector profile, two ingest processes on one Redis, one without K_SINK
 * and one delivering to a sink on loopback that takes every event, measured in turns on the same loads
 * (A B, B A, A B). After each run of the delivering one, its outboxes are drained before anything else
 * runs, and the CPU that took is charged to the events of that run: neither side pays for the other's.
 */
export async function anomalyEventsAB(h: Harness, w: Workloads): Promise<AnomalyEventsAB> {
  log('9. anomaly events: ingest without and with K_SINK (A/B, alternating)');
  const loads: Load[] = [
    { load: 'single-event ingest', requests: w.single, perRequest: 1, connections: 32, profile: 'default' },
    { load: 'batch ingest, 1000 events/request from 1000 devices', requests: w.batch1000, perRequest: 1000, connections: 4, profile: 'default' },
    { load: 'single-event ingest, DETECTOR_PROFILE=infra', requests: w.single, perRequest: 1, connections: 32, profile: 'infra' },
  ];
  const sink = await startSink({ keep: false });
  const admin = new Redis(h.env('main').REDIS_URL!);
  const processes = new Map<string, Running>();
  try {
    const results = [];
    for (const load of loads) {
      const sides = await startSides(h, sink, load.profile, processes);
      const drained = drainedCheck(admin, sink, `${h.env(`events-${load.profile}-b`).KEY_PREFIX}${keys.outboxDevices}`);
      await closedLoop(sides[0].fn.url, load.requests, h.durations.warmup, load.connections);
      await closedLoop(sides[1].fn.url, load.requests, h.durations.warmup, load.connections);
      await drained();
      results.push(await measureLoad(h, load, sides, sink, drained));
    }
    return { loads: results };
  } finally {
    for (const fn of processes.values()) await fn.stop();
    admin.disconnect();
    await sink.stop();
  }
}

/** The pair of processes of a profile, started once and kept for its loads. */
async function startSides(h: Harness, sink: Sink, profile: string, processes: Map<string, Running>): Promise<[Side, Side]> {
  const start = async (name: string, extra: Record<string, string>) => {
    let fn = processes.get(name);
    if (!fn) processes.set(name, (fn = await h.start('ingest', h.env(name, { DETECTOR_PROFILE: profile, ...extra }))));
    return fn;
  };
  return [
    { side: 'without', fn: await start(`events-${profile}-a`, {}) },
    { side: 'with', fn: await start(`events-${profile}-b`, { K_SINK: sink.url }) },
  ];
}

/**
 * Drained: no device left in the set and nothing delivered for a second (a pass takes its devices out
 * of the set as it starts, so an empty set alone means only that the last pass has begun).
 */
function drainedCheck(admin: Redis, sink: Sink, backlog: string): () => Promise<void> {
  return async () => {
    let last = { count: -1, at: 0 };
    await waitFor('the outboxes drained', async () => {
      const count = sink.count();
      if (count !== last.count) last = { count, at: Date.now() };
      return Date.now() - last.at >= 1000 && (await admin.scard(backlog)) === 0;
    }, undefined, 600_000);
  };
}

/** The rounds of one load, the order alternating; logs and returns its sums and means. */
async function measureLoad(h: Harness, load: Load, sides: [Side, Side], sink: Sink, drained: () => Promise<void>) {
  const { seconds } = h.durations;
  const total = { load: load.load, without: 0, with: 0, cpu: { without: 0, with: 0, delivered: 0 }, perThousand: 0 };
  let delivered = 0;
  let ingested = 0;
  for (let turn = 1; turn <= ROUNDS; turn++) {
    for (const { side, fn } of turn % 2 ? sides : [...sides].reverse()) {
      const pid = fn.process.pid!;
      const sent = sink.count();
      const name = `anomaly events A/B ${turn}: ${load.load}, ${side} K_SINK`;
      const row: Row = await h.measure(name, () => closedLoop(fn.url, load.requests, seconds, load.connections), { perRequest: load.perRequest, pids: [pid] });
      total[side] += row.value;
      const cpu = row.function_cpu_us_per_event ?? 0;
      total.cpu[side] += cpu / ROUNDS;
      if (side === 'without') continue;
      const during = sink.count() - sent;
      const cpuBefore = cpuUs(pid);
      await drained();
      const events = row.value * seconds;
      ingested += events;
      delivered += sink.count() - sent;
      total.cpu.delivered += (cpu + (cpuUs(pid) - cpuBefore) / events) / ROUNDS;
      log(`    ${during} anomaly events delivered during the run, ${sink.count() - sent - during} after it`);
    }
  }
  const result = {
    ...total,
    cpu: { without: round(total.cpu.without, 1), with: round(total.cpu.with, 1), delivered: round(total.cpu.delivered, 1) },
    perThousand: round((delivered / Math.max(1, ingested)) * 1000, 1),
  };
  const cpu = `function CPU ${result.cpu.without} → ${result.cpu.with} µs/event (${result.cpu.delivered} with every delivery made)`;
  log(`  ${load.load}: with K_SINK ${round(result.with / result.without, 3)}× the events/s without; ${cpu}; ${result.perThousand} anomaly events per 1,000 events`);
  return result;
}
