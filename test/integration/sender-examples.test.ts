import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import protobuf from 'protobufjs';
import { parse as parseToml } from 'smol-toml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { apiRoutes } from '../../functions/api.js';
import { ingestRoutes } from '../../functions/ingest/routes.js';
import { OTLP_DESCRIPTOR } from '../../shared/http/otlp-descriptor.js';
import { type TestApp, request, startApp } from '../support/app.js';

/**
 * examples/telegraf.conf and examples/otel-collector.yaml, parsed (no Telegraf or Collector binary): the
 * URL, path, encoding, compression and token each would use, sent as that sender would to the service.
 */
const TOKEN = 'example-token-0123456789';
const read = (name: string) => readFileSync(new URL(`../../examples/${name}`, import.meta.url), 'utf8');
const env = (text: string, url: string) => text.replaceAll('${INGEST_URL}', url).replaceAll('${env:INGEST_URL}', url).replaceAll('${INGEST_TOKEN}', TOKEN).replaceAll('${env:INGEST_TOKEN}', TOKEN);

let app: TestApp;
beforeAll(async () => {
  app = await startApp(apiRoutes, { INGEST_TOKENS: TOKEN });
});
afterAll(() => app.close());

describe('examples/telegraf.conf', () => {
  it('posts gzip line protocol with a token to /api/v2/write, within MAX_BATCH', async () => {
    const conf = parseToml(env(read('telegraf.conf'), app.url)) as any;
    const out = conf.outputs.influxdb_v2[0];
    expect(conf.agent.metric_batch_size).toBeLessThanOrEqual(app.context.config.maxBatch);
    expect(out.content_encoding).toBe('gzip');
    // Telegraf's influxdb_v2 output: <url>/api/v2/write?bucket=…&org=…, Authorization: Token <token>.
    const url = new URL('/api/v2/write', out.urls[0]);
    url.search = new URLSearchParams({ bucket: out.bucket, org: out.organization }).toString();
    expect(Object.keys(ingestRoutes(app.context))).toContain(url.pathname);
    const reply = await request(url.toString(), {
      raw: gzipSync('cpu,cpu=cpu-total,host=telegraf-host usage_idle=97.5,usage_user=1.5\nmem,host=telegraf-host used_percent=40.25,available=123i'),
      headers: { authorization: `Token ${out.token}`, 'content-encoding': 'gzip', 'content-type': 'text/plain; charset=utf-8' },
    });
    expect(reply.status).toBe(204);
    const series = await request(`${app.url}/analyze?device=telegraf-host`);
    expect(series.body.series.map((s: { metric: string }) => s.metric).sort()).toEqual(['cpu_usage_idle', 'cpu_usage_user', 'mem_available', 'mem_used_percent']);
  });
});

describe('examples/otel-collector.yaml', () => {
  it('exports gzip protobuf with a bearer token to /v1/metrics, within MAX_BATCH', async () => {
    const conf = parseYaml(env(read('otel-collector.yaml'), app.url));
    const exporter = conf.exporters['otlphttp/iot'];
    expect(conf.service.pipelines.metrics.exporters).toContain('otlphttp/iot');
    expect(conf.processors.batch.send_batch_max_size).toBeLessThanOrEqual(app.context.config.maxBatch);
    expect(exporter.encoding).toBe('proto');
    expect(exporter.compression).toBe('gzip');
    // The otlphttp exporter appends /v1/metrics to `endpoint` (metrics_endpoint would be used as it is).
    const url = exporter.metrics_endpoint ?? `${exporter.endpoint.replace(/\/$/, '')}/v1/metrics`;
    expect(Object.keys(ingestRoutes(app.context))).toContain(new URL(url).pathname);
    const Request = protobuf.Root.fromJSON(OTLP_DESCRIPTOR).lookupType('opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest');
    const body = Request.encode(
      Request.fromObject({
        resourceMetrics: [
          {
            resource: { attributes: [{ key: 'host.name', value: { stringValue: 'collector-host' } }] },
            scopeMetrics: [{ metrics: [{ name: 'system.memory.utilization', gauge: { dataPoints: [{ timeUnixNano: `${Date.now()}000000`, asDouble: 0.5 }] } }] }],
          },
        ],
      }),
    ).finish();
    const reply = await fetch(url, {
      method: 'POST',
      body: gzipSync(body),
      headers: { ...exporter.headers, 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' },
    });
    expect(reply.status).toBe(200);
    const series = await request(`${app.url}/analyze?device=collector-host`);
    expect(series.body.series.map((s: { metric: string }) => s.metric)).toEqual(['system_memory_utilization']);
  });
});
