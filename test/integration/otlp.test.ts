import { type DiagLogger, DiagLogLevel, diag } from '@opentelemetry/api';
import { AggregationTemporalityPreference, OTLPMetricExporter as JsonExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPMetricExporter as ProtoExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { CompressionAlgorithm } from '@opentelemetry/otlp-exporter-base';
import { JsonMetricsSerializer, ProtobufMetricsSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider, PeriodicExportingMetricReader, type PushMetricExporter } from '@opentelemetry/sdk-metrics';
import fc from 'fast-check';
import protobuf from 'protobufjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiRoutes } from '../../functions/api.js';
import { OTLP_DESCRIPTOR } from '../../shared/http/otlp-descriptor.js';
import { type TestApp, request, snapshot, startApp } from '../support/app.js';

/**
 * OTLP/HTTP metrics on /v1/metrics, exported by the OpenTelemetry JS SDK (protobuf and JSON exporters,
 * gzip on): gauges and sums become readings in GET /analyze, histograms are refused per point in
 * partial_success; refusals are google.rpc.Status bodies in the request's encoding, Redis untouched.
 */
const TOKEN = 'otlp-secret-token-0123456';
const MAX_BODY_BYTES = 16_384;
let api: TestApp;
const warnings: string[] = [];
const logger: DiagLogger = {
  error: () => {},
  warn: (...args: unknown[]) => void warnings.push(args.map(String).join(' ')),
  info: () => {},
  debug: () => {},
  verbose: () => {},
};
beforeAll(async () => {
  api = await startApp(apiRoutes, { INGEST_TOKENS: TOKEN, MAX_BODY_BYTES: String(MAX_BODY_BYTES) });
  diag.setLogger(logger, DiagLogLevel.WARN);
});
afterAll(async () => {
  diag.disable();
  await api.close();
});

const Status = protobuf.Root.fromJSON(OTLP_DESCRIPTOR).lookupType('google.rpc.Status');
const options = () => ({ url: `${api.url}/v1/metrics`, headers: { Authorization: `Bearer ${TOKEN}` }, compression: CompressionAlgorithm.GZIP });

function provider(exporter: PushMetricExporter, attributes: Record<string, string>) {
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
  return { meters: new MeterProvider({ resource: resourceFromAttributes(attributes), readers: [reader] }), reader };
}

async function series(device: string) {
  const reply = await request(`${api.url}/analyze?device=${device}`);
  return Object.fromEntries((reply.body.series as Array<{ metric: string; value: number }>).map((s) => [s.metric, s.value]));
}

describe('the OpenTelemetry SDK exporting to /v1/metrics', () => {
  it('protobuf, gzip, cumulative: gauges and up-down sums as given, a counter as its rate, a histogram refused', async () => {
    const { meters, reader } = provider(new ProtoExporter(options()), { 'service.instance.id': 'otel-proto', 'host.name': 'not-this' });
    const meter = meters.getMeter('test');
    const temperature = meter.createGauge('room.temperature');
    const requests = meter.createCounter('http.requests');
    const queue = meter.createUpDownCounter('queue.depth');
    const latency = meter.createHistogram('http.latency');
    temperature.record(21.5);
    requests.add(100);
    queue.add(7);
    latency.record(12);
    warnings.length = 0;
    await reader.forceFlush();
    expect(warnings.join('\n')).toMatch(/"rejectedDataPoints":"?1"?.*http\.latency: histogram points are not stored/);
    expect(await series('otel-proto')).toEqual({ room_temperature: 21.5, queue_depth: 7 });
    await new Promise((resolve) => setTimeout(resolve, 20));
    requests.add(50);
    queue.add(-2);
    await reader.forceFlush();
    const after = await series('otel-proto');
    expect(after.queue_depth).toBe(5);
    expect(after.http_requests_rate).toBeGreaterThan(0);
    await meters.shutdown();
  });

  it('JSON, gzip, delta: counters as their increase, the device from a point attribute or host.name', async () => {
    const exporter = new JsonExporter({ ...options(), temporalityPreference: AggregationTemporalityPreference.DELTA });
    const { meters, reader } = provider(exporter, { 'host.name': 'otel-json' });
    const meter = meters.getMeter('test');
    meter.createCounter('Energy.Wh').add(5);
    meter.createGauge('cpu.usage').record(0.25, { device_id: 'otel-point', core: '0' });
    warnings.length = 0;
    await reader.forceFlush();
    expect(warnings).toEqual([]);
    expect(await series('otel-json')).toEqual({ energy_wh: 5 });
    expect(await series('otel-point')).toEqual({ cpu_usage: 0.25 });
    await meters.shutdown();
  });
});

const nowNanos = () => `${Date.now()}000000`;
const gauge = (name: string, value: number, device = 'raw') => ({
  name,
  gauge: { dataPoints: [{ timeUnixNano: nowNanos(), asDouble: value, attributes: [{ key: 'device_id', value: { stringValue: device } }] }] },
});
const exportBody = (metrics: unknown[]) => ({ resourceMetrics: [{ resource: { attributes: [] }, scopeMetrics: [{ metrics }] }] });
const post = (body: string | Uint8Array, type: string, headers: Record<string, string> = { authorization: `Bearer ${TOKEN}` }) =>
  fetch(`${api.url}/v1/metrics`, { method: 'POST', body, headers: { 'content-type': type, ...headers } });

describe('answers in the request encoding', () => {
  it('partial_success in JSON and protobuf, read by the OpenTelemetry serializers', async () => {
    const body = exportBody([
      gauge('ok.value', 1),
      { name: 'h', summary: { dataPoints: [{ timeUnixNano: nowNanos() }, { timeUnixNano: nowNanos() }] } },
      { name: 'late', gauge: { dataPoints: [{ timeUnixNano: '9999999999999000000', asInt: '3' }] } },
    ]);
    const json = await post(JSON.stringify(body), 'application/json');
    expect(json.status).toBe(200);
    expect(json.headers.get('content-type')).toMatch(/^application\/json/);
    const answer = JsonMetricsSerializer.deserializeResponse(new Uint8Array(await json.arrayBuffer()));
    expect(Number(answer.partialSuccess?.rejectedDataPoints)).toBe(3);
    expect(answer.partialSuccess?.errorMessage).toMatch(/3 of 4 points rejected: h: summary points are not stored.*late: the timestamp is more than 24 hours/);

    const root = protobuf.Root.fromJSON(OTLP_DESCRIPTOR);
    const Request = root.lookupType('opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest');
    const bytes = Request.encode(Request.fromObject(exportBody([gauge('p.value', 2), { name: 'e', exponentialHistogram: { dataPoints: [{}] } }]))).finish();
    const proto = await post(bytes, 'application/x-protobuf');
    expect(proto.status).toBe(200);
    const decoded = ProtobufMetricsSerializer.deserializeResponse(new Uint8Array(await proto.arrayBuffer()));
    expect(Number(decoded.partialSuccess?.rejectedDataPoints)).toBe(1);
    expect((await series('raw')).p_value).toBe(2);
  });

  const rows: Array<[string, string | Uint8Array, string, Record<string, string> | undefined, number, number]> = [
    ['protobuf that does not decode', new Uint8Array([0x0a, 0xff, 0xff, 0xff]), 'application/x-protobuf', undefined, 400, 3],
    ['JSON that is not OTLP', '{"resourceMetrics": 5}', 'application/json', undefined, 400, 3],
    ['JSON that is not JSON', '{"resourceMetrics": [', 'application/json', undefined, 400, 3],
    ['another content type', 'x', 'text/plain', undefined, 415, 3],
    ['no token', '{}', 'application/json', {}, 401, 16],
    ['no token, protobuf', new Uint8Array(), 'application/x-protobuf', {}, 401, 16],
    ['too large', JSON.stringify(exportBody(Array.from({ length: 400 }, (_, i) => gauge(`m${i}`, i)))), 'application/json', undefined, 413, 8],
  ];
  it.each(rows)('%s: a google.rpc.Status, Redis unchanged', async (_name, body, type, headers, status, code) => {
    const before = await snapshot(api.context.config);
    const reply = await post(body, type, headers);
    expect(reply.status).toBe(status);
    const bytes = new Uint8Array(await reply.arrayBuffer());
    const proto = type === 'application/x-protobuf';
    expect(reply.headers.get('content-type')).toMatch(proto ? /^application\/x-protobuf/ : /^application\/json/);
    const decoded = proto ? Status.toObject(Status.decode(bytes)) : JSON.parse(Buffer.from(bytes).toString());
    expect(decoded.code).toBe(code);
    expect(typeof decoded.message).toBe('string');
    expect(await snapshot(api.context.config)).toEqual(before);
  });
});

describe('fuzzed OTLP bodies', () => {
  const value = fc.oneof(fc.double(), fc.integer(), fc.string({ maxLength: 5 }), fc.constant(null), fc.boolean());
  const point = fc.record({ timeUnixNano: fc.oneof(fc.constant(nowNanos()), fc.string({ maxLength: 25 })), asDouble: value, asInt: value, flags: value, attributes: fc.jsonValue({ maxDepth: 2 }) }, { requiredKeys: [] });
  const metric = fc.record({
    name: fc.oneof(fc.string({ maxLength: 10 }), fc.constant('fuzz.metric')),
    gauge: fc.record({ dataPoints: fc.array(point, { maxLength: 3 }) }, { requiredKeys: [] }),
    sum: fc.record({ dataPoints: fc.array(point, { maxLength: 3 }), aggregationTemporality: value, isMonotonic: value }, { requiredKeys: [] }),
    histogram: fc.jsonValue({ maxDepth: 2 }),
  }, { requiredKeys: [] });
  const jsonBody = fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.array(metric, { maxLength: 4 }).map(exportBody)).map((v) => JSON.stringify(v) ?? '');
  const body = fc.oneof(
    jsonBody.map((text) => ({ text, type: 'application/json' })),
    fc.uint8Array({ maxLength: 200 }).map((bytes) => ({ text: bytes, type: 'application/x-protobuf' })),
  );
  it('never answers 5xx; every refusal is a Status; a refused request leaves Redis as it was', async () => {
    await fc.assert(
      fc.asyncProperty(body, async ({ text, type }) => {
        const before = await snapshot(api.context.config);
        const reply = await post(text, type);
        expect(reply.status).toBeLessThan(500);
        const bytes = new Uint8Array(await reply.arrayBuffer());
        if (reply.status === 200) return;
        const decoded = type === 'application/json' ? JSON.parse(Buffer.from(bytes).toString()) : Status.toObject(Status.decode(bytes));
        expect(decoded.code).toBe(3);
        expect(await snapshot(api.context.config)).toEqual(before);
      }),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 300) },
    );
  });
});
