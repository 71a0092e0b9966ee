import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parse } from 'yaml';
import { apiRoutes } from '../../functions/api.js';
import { type TestApp, request, startApp } from '../support/app.js';
import { type FleetEvent, simulatedFleet } from '../support/fleet.js';
import { startFunction } from '../../support/functions.js';
import { type Sample, query, startPrometheus, startPushgateway } from '../../support/prometheus.js';
import type { Running } from '../../support/servers.js';
import { waitFor } from '../../support/servers.js';

const repo = (path: string) => fileURLToPath(new URL(`../../${path}`, import.meta.url));
const dashboard = JSON.parse(readFileSync(repo('grafana/dashboards/iot-metrics.json'), 'utf8')) as {
  panels: Array<{ title: string; targets: Array<{ expr: string }> }>;
  templating: { list: Array<{ name: string; definition: string }> };
};
const rules = parse(readFileSync(repo('prometheus/rules.yml'), 'utf8')) as {
  groups: Array<{ rules: Array<{ record?: string; alert?: string; expr: string }> }>;
};
const allRules = rules.groups.flatMap((g) => g.rules);

/** Dashboard variables as Grafana would substitute them with "All" selected. */
function substitute(expr: string): string {
  return expr.replaceAll('$__rate_interval', '1m').replaceAll('$metric', '.*').replaceAll('$device', '.*');
}

/** The signal of an alert: its expression without the final comparison with a threshold. */
function signal(expr: string): string {
  const match = /^(.*\S)\s*(>|<|==|!=|>=|<=)\s*[\d.e+-]+$/s.exec(expr.trim());
  if (!match) throw new Error(`alert expression is not "<series> <op> <threshold>": ${expr}`);
  return match[1]!;
}

/** The one expression of a dashboard panel, as Grafana would send it with "All" selected. */
function panelExpr(title: string): string {
  const panel = dashboard.panels.find((p) => p.title === title);
  if (panel?.targets.length !== 1) throw new Error(`no panel "${title}" with one query`);
  return substitute(panel.targets[0]!.expr);
}

let pushgateway: Running;
let prometheus: Running;
const functions: Array<Running & { output(): string }> = [];
const sent = { values: 0, anomalies: 0, requests: 0, events: 0 };
const METRICS_DEVICES = ['default', 'sensor-2'];
/** METRICS_TOP_DEVICES of the stats function: fewer than the fleet's hot devices, so the bound shows. */
const TOP = 5;
const fleet = simulatedFleet(1200, 8);

/** Sends a batch, checks how many anomalies it found, and counts it in `sent`. */
async function sendBatch(url: string, events: FleetEvent[], anomalies: number): Promise<void> {
  const reply = await request(`${url}/batch`, { body: events });
  expect(reply.status).toBe(202);
  expect(reply.body.anomalies).toHaveLength(anomalies);
  sent.values += events.reduce((n, e) => n + Object.keys(e).length - 1, 0); // every field but device_id
  sent.anomalies += anomalies;
  sent.requests += 1;
  sent.events += events.length;
}

/**
 * The fleet: two rounds of usual values over 1,200 devices, a second apart (so that rate() sees them
 * rise), the hot devices' baselines, then all their anomalies in one batch (so the top devices go from
 * the stream's to the fleet's at once, and never pass through others).
 */
async function sendFleet(a: Running, b: Running): Promise<void> {
  for (const round of [0, 1]) {
    if (round > 0) await new Promise((r) => setTimeout(r, 1200));
    for (const [i, events] of fleet.usual(round, 600).entries()) await sendBatch((i % 2 ? a : b).url, events, 0);
  }
  await sendBatch(a.url, fleet.warmUp(), 0);
  await sendBatch(b.url, fleet.spikes(), fleet.hot.reduce((n, h) => n + h.anomalies, 0));
}

/** A gateway's batch: 13 events of two devices, 13 cpu and 4 rps values, one anomaly (the last cpu of gw-a). */
function gatewayBatch(prefix: string): Array<Record<string, string | number>> {
  const events: Array<Record<string, string | number>> = Array.from({ length: 12 }, (_, i) => ({
    device_id: `${prefix}-a`,
    cpu: i === 11 ? 99 : 40 + (i % 2),
    ...(i % 3 === 0 ? { rps: 100 } : {}),
  }));
  events.push({ device_id: `${prefix}-b`, cpu: 5 });
  return events;
}

beforeAll(async () => {
  pushgateway = await startPushgateway();
  prometheus = await startPrometheus(pushgateway.url);
  const env = (instance: string) => ({
    REDIS_URL: inject('redisUrl'),
    KEY_PREFIX: `t:${randomUUID().slice(0, 8)}:`,
    PUSHGATEWAY_URL: pushgateway.url,
    PUSH_INTERVAL_MS: '500',
    METRICS_DEVICES: METRICS_DEVICES.join(','),
    METRICS_TOP_DEVICES: String(TOP),
    HOSTNAME: instance,
    // Episodes on every run of flags: this short stream then opens some, and the episode panels and rules get data.
    EPISODE_TRIGGER: 'flag',
  });
  const base = env('x');
  const shared = (instance: string) => ({ ...env(instance), KEY_PREFIX: base.KEY_PREFIX });
  functions.push(
    await startFunction('ingest', shared('ingest-a')),
    await startFunction('ingest', shared('ingest-b')),
    await startFunction('stats', shared('stats-a')),
    await startFunction('analyze', shared('analyze-a')),
  );
  const [a, b] = functions;

  // A known stream: steady readings with spikes every sixth event after the warm-up, ending on a
  // much larger one (|z| well above the alert's 4).
  // Spread over a few seconds, so that Prometheus sees the counters rise (rate() needs it).
  for (let i = 0; i < 60; i++) {
    if (i % 10 === 0) await new Promise((r) => setTimeout(r, 1200));
    const spike = i >= 12 && i % 6 === 5;
    const last = i === 59;
    for (const device of ['default', 'sensor-2']) {
      const body = { device_id: device, cpu: last ? 990 : spike ? 99 : 40 + (i % 5), rps: last ? 9000 : spike ? 900 : 100 + (i % 7) };
      const reply = await request(`${(i % 2 ? a : b)!.url}/ingest`, { body });
      expect(reply.status).toBe(202);
      sent.values += 2;
      sent.anomalies += Object.values(reply.body.metrics as Record<string, { anomaly: boolean }>).filter((m) => m.anomaly).length;
      sent.requests += 1;
      sent.events += 1;
    }
  }
  // And a batch, which is counted value by value too (outside METRICS_DEVICES); then a fleet.
  await sendBatch(b!.url, gatewayBatch('gateway'), 1);
  await sendFleet(a!, b!);
  // One request that fails validation, so that a 4xx series exists too.
  expect((await request(`${a!.url}/ingest`, { body: { cpu: 'x' } })).status).toBe(400);
}, 120_000);

afterAll(async () => {
  await Promise.allSettled(functions.map((f) => f.stop()));
  await prometheus?.stop();
  await pushgateway?.stop();
});

async function scalar(expr: string): Promise<number> {
  const [first] = await query(prometheus.url, expr);
  return first ? Number(first.value[1]) : Number.NaN;
}

describe('metrics pushed through a real Pushgateway and scraped by a real Prometheus', () => {
  it('count exactly the values and anomalies that were sent, summed over instances', async () => {
    expect(sent.anomalies).toBeGreaterThan(0.05 * sent.values);
    await waitFor('Prometheus to see every value', async () => (await scalar('sum(metrics_processed_total)')) === sent.values);
    expect(await scalar('sum(anomaly_detected_total)')).toBe(sent.anomalies);
    const instances = await query(prometheus.url, 'sum by (instance) (metrics_processed_total)');
    expect(instances.map((s) => s.metric.instance).sort()).toEqual(['ingest-a', 'ingest-b']);
    // The refused request came last: its push may trail the values' by an interval.
    await waitFor('Prometheus to see the refused request', async () => (await scalar('sum(http_requests_total{function="ingest", status="400"})')) === 1);
    // One observation per accepted request, of its number of events.
    expect(await scalar('sum(ingest_batch_size_count)')).toBe(sent.requests);
    expect(await scalar('sum(ingest_batch_size_sum)')).toBe(sent.events);
  });

  it('show a fleet of 1,200 devices per metric, and its top devices by recent anomalies, at most METRICS_TOP_DEVICES', async () => {
    // Fleet-wide panels carry no device label: the fleet's metrics are there, as values per second and ratios.
    const perMetric = async (title: string) =>
      Object.fromEntries((await query(prometheus.url, panelExpr(title))).map((s) => [s.metric.metric, Number(s.value[1])]));
    await waitFor('the fleet per metric', async () => ((await perMetric('Values per second by metric')).temp ?? 0) > 0);
    const ratios = await perMetric('Anomaly ratio by metric');
    expect(ratios.temp).toBe(0);
    expect(ratios.cpu).toBeGreaterThan(0);

    // The stats function reads the top devices from Redis: the five hot devices with the most, most first.
    const expected = fleet.hot.slice(0, TOP).map((h) => [h.device, String(h.anomalies)]);
    const top = async () => (await query(prometheus.url, panelExpr('Top devices by recent anomalies'))).map((s) => [s.metric.device, s.value[1]]);
    await waitFor('the top devices', async () => JSON.stringify(await top()) === JSON.stringify(expected)).catch(() => undefined);
    expect(await top()).toEqual(expected);
    expect(await query(prometheus.url, 'iot_device_recent_anomalies')).toHaveLength(TOP);

    // Their series are exported beside METRICS_DEVICES', and only theirs: the drill-down variable lists them.
    const withSeries = [...METRICS_DEVICES, ...expected.map(([device]) => device!)].sort();
    const devices = async () => (await query(prometheus.url, 'count by (device) (iot_metric_value)')).map((s) => s.metric.device).sort();
    await waitFor('the series of the top devices', async () => JSON.stringify(await devices()) === JSON.stringify(withSeries)).catch(() => undefined);
    expect(await devices()).toEqual(withSeries);
    const variable = dashboard.templating.list.find((v) => v.name === 'device')!;
    const [, metric, label] = /^label_values\((\w+), (\w+)\)$/.exec(variable.definition)!;
    const since = Math.floor(Date.now() / 1000) - 5;
    const listed = await fetch(`${prometheus.url}/api/v1/label/${label}/values?match[]=${metric}&start=${since}`);
    expect(((await listed.json()) as { data: string[] }).data).toEqual(expect.arrayContaining(withSeries));
  });

  it('export the rolling average and z-score that the analyze function answers', async () => {
    const analyze = functions[3]!;
    const expected: Array<{ labels: string; avg: number; zscore: number; value: number }> = [];
    for (const device of ['default', 'sensor-2']) {
      const { body } = await request(`${analyze.url}/analyze?device=${device}`);
      for (const s of body.series as Array<{ metric: string; avg: number; zscore: number; value: number }>) {
        expected.push({ labels: `{device="${device}", metric="${s.metric}"}`, avg: s.avg, zscore: s.zscore, value: s.value });
      }
    }
    expect(expected).toHaveLength(4);
    const close = (a: number, b: number) => Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b));
    // The last push and scrape may trail the last event by an interval or two.
    await waitFor('gauges to match /analyze', async () => {
      for (const e of expected) {
        if (!close(await scalar(`iot_metric_avg${e.labels}`), e.avg)) return false;
      }
      return true;
    }).catch(() => undefined);
    for (const e of expected) {
      expect(await scalar(`iot_metric_avg${e.labels}`)).toBeCloseTo(e.avg, 9);
      expect(await scalar(`iot_metric_zscore${e.labels}`)).toBeCloseTo(e.zscore, 9);
      expect(await scalar(`iot_metric_value${e.labels}`)).toBe(e.value);
    }
  });

  it('give data for every expression of the dashboard and of the rules', async () => {
    const expressions = [
      ...dashboard.panels.flatMap((p) => p.targets.map((t) => ({ where: `panel "${p.title}"`, expr: substitute(t.expr) }))),
      ...dashboard.templating.list.map((v) => ({ where: `variable ${v.name}`, expr: /label_values\((\w+),/.exec(v.definition)![1]! })),
      ...allRules.map((r) => ({ where: r.record ?? r.alert!, expr: r.alert ? signal(r.expr) : r.expr })),
      ...allRules.filter((r) => r.record).map((r) => ({ where: `recorded ${r.record}`, expr: r.record! })),
    ];
    expect(expressions.length).toBeGreaterThan(25);
    let empty: string[] = [];
    await waitFor('every expression to return data', async () => {
      const results = await Promise.all(expressions.map(async (e) => ({ e, result: await query(prometheus.url, e.expr) })));
      empty = results.filter(({ result }) => result.length === 0).map(({ e }) => `${e.where}: ${e.expr}`);
      return empty.length === 0;
    }).catch(() => undefined);
    expect(empty).toEqual([]);
  });

  it('raise the anomaly alerts (pending or firing), and not the others', async () => {
    let alerts: Array<{ labels: { alertname: string }; state: string }> = [];
    await waitFor('anomaly alerts', async () => {
      const body = (await (await fetch(`${prometheus.url}/api/v1/alerts`)).json()) as { data: { alerts: typeof alerts } };
      alerts = body.data.alerts;
      const names = new Set(alerts.map((a) => a.labels.alertname));
      return names.has('IotHighAnomalyRate') && names.has('IotZScoreHigh');
    }).catch(() => undefined);
    const states = Object.fromEntries(alerts.map((a) => [a.labels.alertname, a.state]));
    expect(states, JSON.stringify(alerts)).toHaveProperty('IotHighAnomalyRate');
    expect(['pending', 'firing']).toContain(states.IotHighAnomalyRate);
    expect(['pending', 'firing']).toContain(states.IotZScoreHigh);
    expect(states.IotRedisUnavailable).toBeUndefined();
    expect(states.IotHttpErrorRatio).toBeUndefined();
  });

  it('report Redis as reachable from every pushing instance', async () => {
    const up: Sample[] = await query(prometheus.url, 'iot:redis_up:min');
    expect(up.map((s) => [s.metric.job, s.metric.instance, s.value[1]]).sort()).toEqual([
      ['analyze', 'analyze-a', '1'],
      ['ingest', 'ingest-a', '1'],
      ['ingest', 'ingest-b', '1'],
      ['stats', 'stats-a', '1'],
    ]);
  });
});

/** The value of one sample in Prometheus text exposition (0 when the series does not exist yet). */
function sampleValue(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

describe('a batch in the metrics of the process that served it (GET /metrics)', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startApp(apiRoutes);
  });
  afterAll(() => app?.close());

  const SERIES = [
    'metrics_processed_total{metric="cpu"}',
    'metrics_processed_total{metric="rps"}',
    'anomaly_detected_total{metric="cpu"}',
    'anomaly_detected_total{metric="rps"}',
    'ingest_batch_size_count',
    'ingest_batch_size_sum',
    'ingest_batch_size_bucket{le="10"}',
    'ingest_batch_size_bucket{le="25"}',
    'ingest_batch_size_bucket{le="+Inf"}',
  ];
  const scrape = async () => {
    const response = await fetch(`${app.url}/metrics`);
    expect(response.status).toBe(200);
    const text = await response.text();
    return Object.fromEntries(SERIES.map((s) => [s, sampleValue(text, s)]));
  };

  it('moves the value and anomaly counters by the values of the batch, and the histogram by its size', async () => {
    const before = await scrape();
    const batch = gatewayBatch('local');
    const reply = await request(`${app.url}/ingest/batch`, { body: batch });
    expect(reply.status).toBe(202);
    expect(reply.body).toMatchObject({ accepted: 13, duplicates: [] });
    expect(reply.body.anomalies.map((a: { index: number; metric: string }) => [a.index, a.metric])).toEqual([[11, 'cpu']]);
    const after = await scrape();
    const moved = Object.fromEntries(SERIES.map((s) => [s, after[s]! - before[s]!]));
    expect(moved).toEqual({
      'metrics_processed_total{metric="cpu"}': 13,
      'metrics_processed_total{metric="rps"}': 4,
      'anomaly_detected_total{metric="cpu"}': 1,
      'anomaly_detected_total{metric="rps"}': 0,
      'ingest_batch_size_count': 1,
      'ingest_batch_size_sum': 13,
      'ingest_batch_size_bucket{le="10"}': 0,
      'ingest_batch_size_bucket{le="25"}': 1,
      'ingest_batch_size_bucket{le="+Inf"}': 1,
    });
  });

  it('counts a single event as a batch of one', async () => {
    const before = await scrape();
    const reply = await request(`${app.url}/ingest`, { body: { device_id: 'local-c', cpu: 1, rps: 2 } });
    expect(reply.status).toBe(202);
    const after = await scrape();
    expect(after['metrics_processed_total{metric="cpu"}']! - before['metrics_processed_total{metric="cpu"}']!).toBe(1);
    expect(after['metrics_processed_total{metric="rps"}']! - before['metrics_processed_total{metric="rps"}']!).toBe(1);
    expect(after.ingest_batch_size_count! - before.ingest_batch_size_count!).toBe(1);
    expect(after.ingest_batch_size_sum! - before.ingest_batch_size_sum!).toBe(1);
    expect(after['ingest_batch_size_bucket{le="10"}']! - before['ingest_batch_size_bucket{le="10"}']!).toBe(1);
  });
});

describe('the Prometheus files', () => {
  it('pass promtool check config and check rules', () => {
    const config = execFileSync('promtool', ['check', 'config', repo('prometheus/prometheus.yml')], { encoding: 'utf8' });
    expect(config).toContain('SUCCESS');
    const checked = execFileSync('promtool', ['check', 'rules', repo('prometheus/rules.yml')], { encoding: 'utf8' });
    expect(checked).toContain(`SUCCESS: ${allRules.length} rules found`);
  });
});
