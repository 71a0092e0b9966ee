// npm run bench:senders [-- --quick]: InfluxDB line protocol and OTLP protobuf against the JSON batch, on
// the same events (1,000 per request, from 1,000 devices and from 10), into one ingest process: events/s
// and the function's CPU µs per event. Target: each sender within 0.8× of the JSON batch.
import { execFileSync } from 'node:child_process';
import protobuf from 'protobufjs';
import { parseCommandLine, runCommand } from '../support/cli.js';
import { type Rng, rng } from '../support/random.js';
import { startRedis } from '../support/servers.js';
import { OTLP_DESCRIPTOR } from '../shared/http/otlp-descriptor.js';
import { Harness, log } from './harness.js';
import { type BodyRequest, closedLoop } from './load.js';

const METRICS = [['cpu', 50, 10], ['rps', 100, 15], ['memory', 55, 5], ['latency', 20, 4]] as const;
type Event = { device: string; at: number; metrics: Array<[string, number]> };

/** The bench's JSON events (bench/workload.ts), with a time each so the senders' points stay apart. */
function events(r: Rng, size: number, devices: number, base: number): Event[] {
  return Array.from({ length: size }, (_, i) => ({
    device: `device-${r.int(0, devices - 1)}`,
    at: base + i,
    metrics: METRICS.slice(0, r.int(2, 4)).map(([name, level, spread]) => [name, Math.round((level + spread * r.gauss()) * 100) / 100] as [string, number]),
  }));
}

const json = (batch: Event[]): BodyRequest => ({
  method: 'POST',
  path: '/ingest/batch',
  body: JSON.stringify(batch.map((e) => ({ device_id: e.device, timestamp: e.at, ...Object.fromEntries(e.metrics) }))),
});

const lineProtocol = (batch: Event[]): BodyRequest => ({
  method: 'POST',
  path: '/api/v2/write?precision=ms',
  headers: { 'content-type': 'text/plain; charset=utf-8' },
  body: batch.map((e) => `m,device_id=${e.device} ${e.metrics.map(([k, v]) => `${k}=${v}`).join(',')} ${e.at}`).join('\n'),
});

const ExportRequest = protobuf.Root.fromJSON(OTLP_DESCRIPTOR).lookupType('opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest');

/** One resource per device, one gauge per metric, one point per event: what an SDK or a Collector sends. */
function otlp(batch: Event[]): BodyRequest {
  const byDevice = new Map<string, Event[]>();
  for (const e of batch) byDevice.set(e.device, [...(byDevice.get(e.device) ?? []), e]);
  const resourceMetrics = [...byDevice].map(([device, list]) => ({
    resource: { attributes: [{ key: 'service.instance.id', value: { stringValue: device } }] },
    scopeMetrics: [{ metrics: METRICS.map(([name]) => ({ name, gauge: { dataPoints: list.flatMap((e) => e.metrics.filter(([k]) => k === name).map(([, v]) => ({ timeUnixNano: `${e.at}000000`, asDouble: v }))) } })) }],
  }));
  const body = Buffer.from(ExportRequest.encode(ExportRequest.fromObject({ resourceMetrics })).finish());
  return { method: 'POST', path: '/v1/metrics', headers: { 'content-type': 'application/x-protobuf' }, bytes: body };
}

async function bench(quick: boolean): Promise<void> {
  execFileSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit' });
  const redis = await startRedis();
  const h = new Harness({ seconds: quick ? 3 : 10, warmup: quick ? 1 : 3, soakSeconds: 0 }, redis.url);
  try {
    for (const devices of [1000, 10]) {
      const r = rng(7);
      const base = Date.now() - 3_600_000;
      const batches = Array.from({ length: 20 }, (_, i) => events(r, 1000, devices, base + i * 1000));
      for (const [format, make] of [['JSON batch', json], ['line protocol', lineProtocol], ['OTLP protobuf', otlp]] as const) {
        const fn = await h.start('ingest', h.env(`senders-${devices}-${format.replace(' ', '-')}`));
        const load = batches.map(make);
        await closedLoop(fn.url, load, h.durations.warmup, 4);
        await h.measure(`${format}, 1000 events/request from ${devices} devices`, () => closedLoop(fn.url, load, h.durations.seconds, 4), { perRequest: 1000, pids: [fn.process.pid!] });
        await fn.stop();
      }
    }
  } finally {
    await h.close();
    await redis.stop();
  }
  for (const row of h.rows) log(`${row.case}: ${row.value} events/s, ${row.function_cpu_us_per_event} µs/event, failures ${row.failures}`);
}

const { values } = parseCommandLine({
  usage: 'npm run bench:senders -- [options]',
  summary: 'Line protocol and OTLP protobuf against the JSON batch, same events, one ingest process each.',
  options: { quick: { type: 'boolean', doc: '3 s per case' } },
  examples: ['npm run bench:senders -- --quick'],
});
await runCommand(() => bench(values.quick ?? false));
