// The measuring side of the bench: the function processes it starts, the counters it reads around each
// load (Redis CPU and script time, function CPU from /proc), and the rows, RSS and profiles it records.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { type FunctionOptions, startFunction } from '../support/functions.js';
import { type BodyRequest, type Throughput, closedLoop } from './load.js';
import { splitProfile } from './profile.js';
import { cpuUs, sampleRss } from '../support/proc.js';
import { type ProfileSplit, type Row, type RssSummary, fmt, round } from './report.js';

/** How long each case runs: seconds per case, warm-up before it, and the memory run. */
export interface Durations {
  seconds: number;
  warmup: number;
  soakSeconds: number;
}

export interface MeasureOptions {
  /** Events per request, turning requests/s into events/s when above 1; 0 when a request writes no event. */
  perRequest: number;
  unit?: string;
  /** Function processes whose CPU time is charged to the requests. */
  pids?: number[];
  /** This row is a ceiling later ratios are taken against: the bare framework, or the framework with one Redis round trip. */
  ceiling?: 'framework' | 'redis';
}

/** SLOWLOG keeps the script calls that ran longer than this (µs); shorter ones are not seen. */
export const SLOWLOG_FLOOR_US = 200;

export function log(line: string): void {
  process.stdout.write(`${line}\n`);
}

function logRow(row: Row, value: number, result: Throughput): void {
  const cpu = row.function_cpu_us_per_event === undefined ? '' : `  fn CPU ${row.function_cpu_us_per_event} µs/event`;
  const redisCpu = row.redis_us_per_event === undefined ? '' : `  redis ${row.redis_us_per_event} µs/event`;
  const slowest = row.longest_call_us === undefined ? '' : `  longest call ${row.longest_call_us || `<${SLOWLOG_FLOOR_US}`} µs (${row.calls_over_1ms} of ${row.script_calls} over 1 ms)`;
  const failures = result.failures ? `  FAILURES ${result.failures}` : '';
  const ratios = `${String(row.ratio).padStart(5)}× ${String(row.ratio_redis ?? '').padStart(5)}×`;
  log(`  ${row.case.padEnd(52)} ${fmt(value).padStart(9)} ${row.unit.padEnd(8)} ${ratios}  p50 ${result.p50} ms  p99 ${result.p99} ms${cpu}${redisCpu}${slowest}${failures}`);
}

const cpuOf = (pids: number[]) => pids.reduce((sum, pid) => sum + cpuUs(pid), 0);

export class Harness {
  readonly rows: Row[] = [];
  readonly rss: Record<string, RssSummary> = {};
  private readonly ceilings = { framework: 1, redis: 1 };
  private readonly processes: Array<{ stop(): Promise<void> }> = [];
  /** The Redis servers whose CPU, script time and slow calls are charged to each case. */
  private admins: Redis[] = [];

  constructor(
    readonly durations: Durations,
    private readonly redisUrl: string,
  ) {
    this.watch([redisUrl]);
  }

  /** Charges the cases that follow to these Redis servers (all the masters of a Cluster). */
  watch(urls: string[]): void {
    for (const admin of this.admins) admin.disconnect();
    this.admins = urls.map((url) => new Redis(url));
  }

  /** The environment of a function process: its own key prefix, batches and bodies large enough for every case. */
  env(prefix: string, extra: Record<string, string> = {}): Record<string, string> {
    return { REDIS_URL: this.redisUrl, KEY_PREFIX: `bench:${prefix}:`, MAX_BATCH: '1000', MAX_BODY_BYTES: '4194304', ...extra };
  }

  /** Starts a function process, stopped by close() if the case does not stop it itself. */
  async start(target: string, vars: Record<string, string>, options?: FunctionOptions) {
    const fn = await startFunction(target, vars, options);
    this.processes.push(fn);
    return fn;
  }

  /** `value` as a ratio to a ceiling, two decimals. */
  ratio(value: number, ceiling: 'framework' | 'redis' = 'framework'): number {
    return round(value / this.ceilings[ceiling], 2);
  }

  /** Runs `load` and records a row, with the CPU time of `pids` and of Redis it cost, and its script calls' durations. */
  async measure(name: string, load: () => Promise<Throughput>, options: MeasureOptions): Promise<Row> {
    const { perRequest, unit = perRequest > 1 ? 'events/s' : 'req/s', pids = [] } = options;
    const redis = await this.redisWindow();
    const cpuBefore = cpuOf(pids);
    const result = await load();
    const cpuAfter = cpuOf(pids);
    const spent = await redis();
    const events = result.requests * perRequest;
    const value = result.rps * Math.max(perRequest, 1);
    if (options.ceiling) this.ceilings[options.ceiling] = value;
    const row: Row = { case: name, value: Math.round(value), unit, ratio: this.ratio(value), ratio_redis: this.ratio(value, 'redis'), p50: result.p50, p99: result.p99, failures: result.failures };
    if (pids.length > 0 && result.requests > 0) {
      row.function_cpu_us_per_request = Math.round((cpuAfter - cpuBefore) / result.requests);
      row.function_cpu_us_per_event = perRequest > 1 ? round((cpuAfter - cpuBefore) / events, 2) : row.function_cpu_us_per_request;
    }
    if (perRequest > 0 && events > 0) {
      row.redis_us_per_event = round((spent.cpu * 1e6) / events, 2);
      row.lua_us_per_event = round(spent.lua / events, 2);
      Object.assign(row, spent.calls);
    }
    this.rows.push(row);
    logRow(row, value, result);
    return row;
  }

  /**
   * Starts counting Redis's work; the function returned stops and gives the CPU seconds and script
   * time (µs) spent meanwhile over the watched servers, and the script calls with their longest in
   * SLOWLOG (0 when none took SLOWLOG_FLOOR_US).
   */
  async redisWindow(): Promise<() => Promise<{ cpu: number; lua: number; calls: Pick<Row, 'script_calls' | 'calls_over_1ms' | 'longest_call_us'> }>> {
    const before = await this.redisCounters();
    return async () => {
      const after = await this.redisCounters();
      return {
        cpu: after.cpu - before.cpu,
        lua: after.lua - before.lua,
        calls: { script_calls: after.calls - before.calls, calls_over_1ms: after.over, longest_call_us: after.longest },
      };
    };
  }

  /** Samples the RSS of `pid` every `everyMs` (a second) until the returned function is called, and records it under `name`. */
  sampleRss(name: string, pid: number, everyMs = 1000): () => void {
    const stop = sampleRss(pid, everyMs);
    return () => {
      const samples = stop();
      this.rss[name] = { start: round(samples[0]!, 1), end: round(samples[samples.length - 1]!, 1), max: round(Math.max(...samples), 1) };
    };
  }

  /** A CPU profile of an ingest process under `requests`, split by component. */
  async profile(name: string, requests: BodyRequest[]): Promise<ProfileSplit> {
    const dir = mkdtempSync(join(tmpdir(), 'iot-prof-'));
    const fn = await this.start('ingest', this.env(`prof-${name}`), { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`] });
    await closedLoop(fn.url, requests, this.durations.warmup);
    await closedLoop(fn.url, requests, this.durations.seconds);
    await fn.stop();
    const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
    const split = file ? splitProfile(join(dir, file)) : {};
    rmSync(dir, { recursive: true, force: true });
    return split;
  }

  /** Stops every process still running and the admin connections. */
  async close(): Promise<void> {
    await Promise.allSettled(this.processes.map((p) => p.stop()));
    for (const admin of this.admins) admin.disconnect();
  }

  /**
   * Redis CPU seconds (user + sys), script time (µs) and script calls so far over the watched servers,
   * and from SLOWLOG since the last reading the script calls over 1 ms and the longest (the log is reset).
   */
  private async redisCounters(): Promise<{ cpu: number; lua: number; calls: number; over: number; longest: number }> {
    const each = await Promise.all(
      this.admins.map(async (admin) => {
        const [cpu, stats] = await Promise.all([admin.info('cpu'), admin.info('commandstats')]);
        const slow = (await admin.call('SLOWLOG', 'GET', '-1')) as Array<[number, number, number, string[]]>;
        await admin.call('CONFIG', 'SET', 'slowlog-log-slower-than', String(SLOWLOG_FLOOR_US), 'slowlog-max-len', '100000');
        await admin.call('SLOWLOG', 'RESET');
        const field = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(cpu)?.[1] ?? 0);
        let lua = 0;
        let calls = 0;
        for (const m of stats.matchAll(/cmdstat_(?:eval|evalsha|fcall):calls=(\d+),usec=(\d+)/g)) {
          calls += Number(m[1]);
          lua += Number(m[2]);
        }
        const scripts = slow.filter(([, , , args]) => /^(eval|evalsha|fcall)$/i.test(String(args[0]))).map(([, , us]) => us);
        return { cpu: field('used_cpu_user') + field('used_cpu_sys'), lua, calls, over: scripts.filter((us) => us > 1000).length, longest: Math.max(0, ...scripts) };
      }),
    );
    const sum = (pick: (e: (typeof each)[number]) => number) => each.reduce((total, e) => total + pick(e), 0);
    return { cpu: sum((e) => e.cpu), lua: sum((e) => e.lua), calls: sum((e) => e.calls), over: sum((e) => e.over), longest: Math.max(...each.map((e) => e.longest)) };
  }
}
