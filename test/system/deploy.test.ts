import { execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Broker } from '@kubernetes-models/knative/eventing.knative.dev/v1/Broker';
import { Trigger } from '@kubernetes-models/knative/eventing.knative.dev/v1/Trigger';
import { SinkBinding } from '@kubernetes-models/knative/sources.knative.dev/v1/SinkBinding';
import { Service as KnativeService } from '@kubernetes-models/knative/serving.knative.dev/v1/Service';
import { CLOUDEVENT_TYPES } from '../../shared/http/cloudevent.js';
import { ANOMALY_EVENT_TYPES } from '../../shared/outbox/anomaly-event.js';
import { PodMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor';
import { PrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule';
import Ajv from 'ajv-draft-04';
import addFormats from 'ajv-formats';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { loadConfig } from '../../shared/config/load.js';
import { FUNCTIONS, bundle } from '../../scripts/bundle.js';
import { render } from '../../scripts/generate-manifests.js';
import { freePort, stopProcess, waitFor } from '../../support/servers.js';
import { analyzeRoutes } from '../../functions/analyze/routes.js';
import { ingestRoutes } from '../../functions/ingest/routes.js';
import { statsRoutes } from '../../functions/stats/routes.js';
import { type TestApp, request, startApp } from '../support/app.js';

const repo = (path: string) => fileURLToPath(new URL(`../../${path}`, import.meta.url));
const read = (path: string) => readFileSync(repo(path), 'utf8');
const version = (JSON.parse(read('package.json')) as { version: string }).version;
const IMAGE = `dev.local/iot-metrics-analytics:${version}`;
const RESERVED_PORTS = [8012, 8013, 8022, 9090, 9091, 8008];
const SIDECAR_PORT = 9092;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Doc = any;

/** What `kubectl apply -k knative/` would send: rendered by the real kustomize (kubectl kustomize). */
const rendered: Doc[] = parseAllDocuments(execFileSync('kubectl', ['kustomize', repo('knative')], { encoding: 'utf8' })).map((d) =>
  d.toJS(),
);
const ofKind = (kind: string, apiVersion?: string) =>
  rendered.filter((d) => d.kind === kind && (!apiVersion || d.apiVersion === apiVersion));
const services: Doc[] = ofKind('Service', 'serving.knative.dev/v1');
const secrets: Doc[] = ofKind('Secret');

const models: Record<string, new (data: Doc) => { validate(): void }> = {
  'serving.knative.dev/v1/Service': KnativeService,
  'eventing.knative.dev/v1/Broker': Broker,
  'eventing.knative.dev/v1/Trigger': Trigger,
  'sources.knative.dev/v1/SinkBinding': SinkBinding,
  'monitoring.coreos.com/v1/PodMonitor': PodMonitor,
  'monitoring.coreos.com/v1/PrometheusRule': PrometheusRule,
  'apps/v1/StatefulSet': StatefulSet,
  'v1/ConfigMap': ConfigMap,
  'v1/Namespace': Namespace,
  'v1/Secret': Secret,
  'v1/Service': Service,
};

function secretValue(ref: { name: string; key: string }): string {
  const secret = secrets.find((s) => s.metadata.name === ref.name);
  if (!secret) throw new Error(`no Secret ${ref.name}`);
  const value = secret.stringData?.[ref.key] ?? (secret.data?.[ref.key] ? Buffer.from(secret.data[ref.key], 'base64').toString() : undefined);
  if (value === undefined) throw new Error(`Secret ${ref.name} has no key ${ref.key}`);
  return value;
}

/** The environment a container gets, with Secret references resolved. */
function environment(container: Doc): Record<string, string> {
  return Object.fromEntries(
    (container.env ?? []).map((e: Doc) => [e.name, e.value ?? secretValue(e.valueFrom.secretKeyRef)]),
  );
}

describe('knative/ (rendered by kustomize)', () => {
  it('holds everything the deployment needs, in the iot namespace', () => {
    expect(rendered.map((d) => `${d.kind}/${d.metadata.name}`).sort()).toEqual([
      'Broker/default',
      'ConfigMap/iot-metrics-dashboard',
      'Namespace/iot',
      'PodMonitor/iot-functions',
      'PrometheusRule/iot-metrics-analytics',
      'Secret/redis',
      'Secret/tokens',
      'Service/analyze',
      'Service/ingest',
      'Service/redis',
      'Service/stats',
      'SinkBinding/ingest-anomaly-events',
      'StatefulSet/redis',
      'Trigger/device-reading',
      'Trigger/device-readings',
    ]);
    for (const d of rendered.filter((d) => d.kind !== 'Namespace')) expect(d.metadata.namespace, d.metadata.name).toBe('iot');
  });

  it('routes every CloudEvent type ingest accepts from the Broker to the ingest Service, and nothing else', () => {
    const triggers = ofKind('Trigger', 'eventing.knative.dev/v1');
    expect(triggers.map((t) => t.spec.filter.attributes.type).sort()).toEqual(Object.values(CLOUDEVENT_TYPES).sort());
    for (const trigger of triggers) {
      expect(trigger.spec.broker).toBe(ofKind('Broker')[0].metadata.name);
      expect(trigger.spec.subscriber.ref).toEqual({ apiVersion: 'serving.knative.dev/v1', kind: 'Service', name: 'ingest' });
    }
    expect(services.map((s) => s.metadata.name)).toContain('ingest');
  });

  it('binds the ingest Service (the dispatcher of anomaly events) to the Broker, with overrides it accepts', () => {
    const [binding] = ofKind('SinkBinding', 'sources.knative.dev/v1');
    expect(binding.spec.subject).toEqual({ apiVersion: 'serving.knative.dev/v1', kind: 'Service', name: 'ingest' });
    expect(binding.spec.sink.ref).toEqual({ apiVersion: 'eventing.knative.dev/v1', kind: 'Broker', name: ofKind('Broker')[0].metadata.name });
    // What the binding injects passes the configuration's rules (K_SINK as the Broker's address).
    const config = loadConfig({ K_SINK: 'http://broker-ingress.knative-eventing.svc.cluster.local/iot/default', K_CE_OVERRIDES: JSON.stringify(binding.spec.ceOverrides) });
    expect(config.ceOverrides).toEqual(binding.spec.ceOverrides.extensions);
    expect(read('functions/ingest/index.ts')).toContain('delivers: true');
    // Anomaly events reach the Broker: no Trigger may route them back into ingest.
    const routed = ofKind('Trigger').map((t) => t.spec.filter.attributes.type);
    for (const type of Object.values(ANOMALY_EVENT_TYPES)) expect(routed).not.toContain(type);
    expect(ofKind('Namespace')[0].metadata.labels['bindings.knative.dev/include']).toBe('true');
  });

  it.each(rendered.map((d) => [`${d.kind}/${d.metadata.name}`, d]))('%s validates against its Kubernetes model', (_name, doc) => {
    const Model = models[`${doc.apiVersion}/${doc.kind}`];
    expect(Model, `no model for ${doc.apiVersion} ${doc.kind}`).toBeDefined();
    // The generated SinkBinding schema requires `status`, which only the API server writes: an empty
    // one stands in for it, everything else is checked as written.
    const checked = doc.kind === 'SinkBinding' ? { ...doc, status: {} } : doc;
    expect(() => new Model!(checked).validate()).not.toThrow();
  });

  it('has one Knative Service per function', () => {
    expect(services.map((s) => s.metadata.name).sort()).toEqual([...FUNCTIONS].sort());
  });

  describe.each(FUNCTIONS.map((name) => [name]))('the %s Service', (name) => {
    const service = services.find((s) => s.metadata.name === name);
    const template = service?.spec.template;
    const containers: Doc[] = template?.spec.containers ?? [];
    const fn = containers.find((c) => c.name === 'function');
    const sidecar = containers.find((c) => c.name === 'pushgateway');
    const annotations: Record<string, string> = template?.metadata.annotations ?? {};

    it('declares exactly one container port, and no port Knative reserves', () => {
      const ports = containers.flatMap((c) => (c.ports ?? []).map((p: Doc) => p.containerPort));
      expect(ports).toEqual([8080]);
      const sidecarPort = Number(/--web\.listen-address=:(\d+)/.exec(sidecar.args.join(' '))?.[1]);
      expect(sidecarPort).toBe(SIDECAR_PORT);
      for (const port of [...ports, sidecarPort]) expect(RESERVED_PORTS).not.toContain(port);
      expect(sidecar.ports).toBeUndefined();
      expect(sidecar.args).toContain('--persistence.file=');
    });

    it('puts the autoscaling annotations on the template only, within range', () => {
      expect(Object.keys(service.metadata.annotations ?? {}).filter((k) => k.startsWith('autoscaling.knative.dev/'))).toEqual([]);
      expect(annotations['autoscaling.knative.dev/metric']).toBe('concurrency');
      const target = Number(annotations['autoscaling.knative.dev/target']);
      const utilization = Number(annotations['autoscaling.knative.dev/target-utilization-percentage']);
      const min = Number(annotations['autoscaling.knative.dev/min-scale']);
      const max = Number(annotations['autoscaling.knative.dev/max-scale']);
      expect(target).toBeGreaterThanOrEqual(0.01);
      expect(utilization).toBeGreaterThanOrEqual(1);
      expect(utilization).toBeLessThanOrEqual(100);
      expect(Number.isInteger(min) && min >= 0).toBe(true);
      expect(max).toBeGreaterThanOrEqual(Math.max(min, 1));
      const concurrency = template.spec.containerConcurrency;
      expect(concurrency).toBeGreaterThan(0);
      expect(target).toBeLessThanOrEqual(concurrency);
    });

    it('runs the image of this repository with a FUNCTION_TARGET that exists, and a valid configuration', () => {
      expect(fn.image).toBe(IMAGE);
      expect(existsSync(repo('Dockerfile'))).toBe(true);
      const env = environment(fn);
      expect(env.FUNCTION_TARGET).toBe(name);
      expect(read(`functions/${name}/index.ts`)).toContain(`defineFunction('${name}'`);
      expect(env.NODE_ENV).toBe('production');
      // Every variable the deployment relies on is set (the defaults point at localhost), and all pass the schema.
      const tokens = name === 'ingest' ? 'INGEST_TOKENS' : 'READ_TOKENS';
      for (const required of ['REDIS_URL', 'PUSHGATEWAY_URL', tokens]) expect(env, required).toHaveProperty(required);
      const config = loadConfig(env);
      expect(name === 'ingest' ? config.ingestTokens : config.readTokens).not.toEqual([]);
      expect(new URL(config.redisUrl).hostname).toBe(`redis.iot.svc.cluster.local`);
      expect(new URL(config.pushgatewayUrl!).port).toBe(String(SIDECAR_PORT));
    });

    it('probes the health paths on the serving port, and sets requests and limits', () => {
      expect(fn.readinessProbe.httpGet).toEqual({ path: '/health/readiness', port: 8080 });
      expect(fn.livenessProbe.httpGet).toEqual({ path: '/health/liveness', port: 8080 });
      for (const c of containers) {
        expect(c.resources.requests, c.name).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
        expect(c.resources.limits, c.name).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
      }
    });
  });

  it('scrapes every function pod through its sidecar, keeping the pushed labels', () => {
    const [monitor] = ofKind('PodMonitor');
    const [endpoint] = monitor.spec.podMetricsEndpoints;
    expect(endpoint.honorLabels).toBe(true);
    expect(endpoint.relabelings).toContainEqual(expect.objectContaining({ targetLabel: '__address__', replacement: `$1:${SIDECAR_PORT}` }));
    const selected = monitor.spec.selector.matchExpressions[0].values;
    for (const s of services) expect(selected).toContain(s.spec.template.metadata.labels['app.kubernetes.io/name']);
  });

  it('keeps Redis on a PersistentVolumeClaim with AOF, behind the Secret the functions read', () => {
    const [redis] = ofKind('StatefulSet');
    const args: string[] = redis.spec.template.spec.containers[0].args;
    expect(args.join(' ')).toContain('--appendonly yes');
    expect(redis.spec.volumeClaimTemplates[0].spec.resources.requests.storage).toBeDefined();
    const url = new URL(secretValue({ name: 'redis', key: 'url' }));
    expect(decodeURIComponent(url.password)).toBe(secretValue({ name: 'redis', key: 'password' }));
    expect(url.hostname.split('.')[0]).toBe(ofKind('Service', 'v1').find((s) => s.metadata.name === 'redis').metadata.name);
  });

  it('generates the PrometheusRule and the dashboard ConfigMap from the local files, up to date', () => {
    for (const [path, text] of Object.entries(render())) expect(read(path), `${path}: run npm run generate`).toBe(text);
    const [rule] = ofKind('PrometheusRule');
    expect(rule.spec.groups).toEqual((parse(read('prometheus/rules.yml')) as { groups: unknown }).groups);
    const [dashboard] = ofKind('ConfigMap');
    expect(dashboard.metadata.labels.grafana_dashboard).toBe('1');
    expect(dashboard.data['iot-metrics.json']).toBe(read('grafana/dashboards/iot-metrics.json'));
  });
});

describe('func.yaml', () => {
  const schema = JSON.parse(readFileSync(repo('test/fixtures/func_yaml-schema.json'), 'utf8'));
  const ajv = new Ajv.default({ allErrors: true, strict: false });
  addFormats.default(ajv);
  const validate = ajv.compile(schema);

  describe.each(FUNCTIONS.map((name) => [name]))('of %s', (name) => {
    const func: Doc = parse(read(`functions/${name}/func.yaml`));
    const service = services.find((s) => s.metadata.name === name);
    const template = service.spec.template;
    const fn = template.spec.containers.find((c: Doc) => c.name === 'function');

    it('validates against the func.yaml schema (specVersion 0.36.0)', () => {
      expect(validate(func), JSON.stringify(validate.errors)).toBe(true);
      expect(func.specVersion).toBe('0.36.0');
    });

    it('builds with Google Cloud buildpacks for this target', () => {
      expect(func.build.builder).toBe('pack');
      expect(func.build.builderImages.pack).toBe('gcr.io/buildpacks/builder');
      const envs = Object.fromEntries(func.build.buildEnvs.map((e: Doc) => [e.name, e.value]));
      expect(envs).toEqual({ GOOGLE_FUNCTION_TARGET: name, GOOGLE_FUNCTION_SIGNATURE_TYPE: 'http', GOOGLE_NODEJS_VERSION: '24.x.x' });
      const pkg = JSON.parse(read(`functions/${name}/package.json`));
      expect(pkg.main).toBe('build/index.js');
      // Node 24 LTS, said the same way to the buildpack and to npm.
      expect(pkg.engines.node).toBe('24.x');
    });

    it('agrees with the manifest: Secret, scale, resources, health endpoints', () => {
      for (const e of fn.env.filter((e: Doc) => e.valueFrom?.secretKeyRef)) {
        const ref = e.valueFrom.secretKeyRef;
        expect(func.run.envs).toContainEqual({ name: e.name, value: `{{ secret:${ref.name}:${ref.key} }}` });
      }
      const annotations = template.metadata.annotations;
      expect(func.deploy.options.scale).toEqual({
        min: Number(annotations['autoscaling.knative.dev/min-scale']),
        max: Number(annotations['autoscaling.knative.dev/max-scale']),
        metric: annotations['autoscaling.knative.dev/metric'],
        target: Number(annotations['autoscaling.knative.dev/target']),
        utilization: Number(annotations['autoscaling.knative.dev/target-utilization-percentage']),
      });
      expect(func.deploy.options.resources).toEqual({
        requests: fn.resources.requests,
        limits: { ...fn.resources.limits, concurrency: template.spec.containerConcurrency },
      });
      expect(func.deploy.healthEndpoints).toEqual({ liveness: fn.livenessProbe.httpGet.path, readiness: fn.readinessProbe.httpGet.path });
      expect(func.deploy.namespace).toBe('iot');
      const literal = Object.fromEntries(func.run.envs.filter((e: Doc) => !e.value.includes('{{')).map((e: Doc) => [e.name, e.value]));
      expect(() => loadConfig(literal)).not.toThrow();
    });
  });
});

describe('each function directory builds on its own (npm run bundle)', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  /** Bundles one function, installs only functions-framework beside it, and serves it on a loopback port. */
  async function serveBundle(name: (typeof FUNCTIONS)[number], keyPrefix: string): Promise<{ url: string; stop(): Promise<void> }> {
    const root = mkdtempSync(join(tmpdir(), 'iot-bundle-'));
    dirs.push(root);
    await bundle(name, root);
    const dir = join(root, name);
    cpSync(repo(`functions/${name}/package.json`), join(dir, 'package.json'));
    mkdirSync(join(dir, 'node_modules/@google-cloud'), { recursive: true });
    symlinkSync(repo('node_modules/@google-cloud/functions-framework'), join(dir, 'node_modules/@google-cloud/functions-framework'));
    const port = await freePort();
    const child = spawn(process.execPath, ['node_modules/@google-cloud/functions-framework/build/src/main.js', `--target=${name}`, `--port=${port}`], {
      cwd: dir,
      env: { ...process.env, REDIS_URL: inject('redisUrl'), KEY_PREFIX: keyPrefix, NODE_ENV: 'production' },
      stdio: 'ignore',
    });
    const url = `http://127.0.0.1:${port}`;
    try {
      await waitFor(`${name} bundle`, async () => (await fetch(`${url}/health`)).ok, child);
    } catch (error) {
      await stopProcess(child);
      throw error;
    }
    return { url, stop: () => stopProcess(child) };
  }

  /** Runs `check` against the bundle and the source build of the same function, on one fresh key prefix. */
  async function withBundle(
    name: (typeof FUNCTIONS)[number],
    check: (bundled: string, source: { ingest: TestApp; own: TestApp }) => Promise<void>,
  ): Promise<void> {
    const keyPrefix = `t:bundle-${name}-${randomUUID().slice(0, 8)}:`;
    const served = await serveBundle(name, keyPrefix);
    const routes = { ingest: ingestRoutes, analyze: analyzeRoutes, stats: statsRoutes }[name];
    const ingest = await startApp(ingestRoutes, { KEY_PREFIX: keyPrefix });
    const own = await startApp(routes, { KEY_PREFIX: keyPrefix });
    try {
      await check(served.url, { ingest, own });
    } finally {
      await served.stop();
      await Promise.all([ingest.close(), own.close()]);
    }
  }

  it('ingest serves from its bundle with only functions-framework installed: events are applied and answered', async () => {
    await withBundle('ingest', async (url, { own }) => {
      // Baselines {10} and {10, 20}: the third value has z = (30 - 15) / 5.
      const expected = [
        { value: 10, avg: 10, zscore: 0, anomaly: false, score: 0, likelihood: 0.5, episode: null },
        { value: 20, avg: 15, zscore: null, anomaly: false, score: 0, likelihood: 0.5, episode: null },
        { value: 30, avg: 20, zscore: 3, anomaly: false, score: 0, likelihood: 0.5, episode: null },
      ];
      for (const [i, path] of ['/', '/ingest', '/metrics-data'].entries()) {
        const reply = await request(`${url}${path}`, { body: { device_id: 'bundled', timestamp: 1700000000 + i, cpu: expected[i]!.value } });
        expect(reply.status, path).toBe(202);
        expect(reply.body, path).toEqual({
          device_id: 'bundled',
          timestamp: new Date((1700000000 + i) * 1000).toISOString(),
          metrics: { cpu: expected[i] },
        });
      }
      const batch = await request(`${url}/ingest/batch`, { body: [{ device_id: 'bundled', cpu: 40 }, { device_id: 'other', rps: 1 }] });
      expect(batch.status).toBe(202);
      expect(batch.body).toEqual({ accepted: 2, anomalies: [], alerts: [], duplicates: [] });
      // What the bundle wrote is what the source build reads back.
      const [cpu] = await own.context.store.series('bundled');
      expect(cpu).toMatchObject({ metric: 'cpu', value: 40, avg: 25, samples: 4, count: 4, anomalies: 0 });
      expect(await own.context.store.totals()).toMatchObject({ events: 5, per_metric: { cpu: { events: 4 }, rps: { events: 1 } } });
      expect((await request(`${url}/analyze`)).status).toBe(404);
    });
  });

  it('analyze serves from its bundle with only functions-framework installed: it reads back what was stored', async () => {
    await withBundle('analyze', async (url, { ingest, own }) => {
      for (const cpu of [1, 2, 3, 4]) {
        expect((await request(`${ingest.url}/ingest`, { body: { device_id: 'bundled', cpu, ...(cpu === 4 ? { rps: 9 } : {}) } })).status).toBe(202);
      }
      const analyze = await request(`${url}/analyze?device=bundled`);
      expect(analyze.status).toBe(200);
      expect(analyze.body).toMatchObject({ device_id: 'bundled', window_size: 50, z_threshold: 2, min_samples: 10 });
      expect(analyze.body.series).toHaveLength(2);
      expect(analyze.body.series[0]).toMatchObject({ metric: 'cpu', value: 4, avg: 2.5, samples: 4, count: 4, anomalies: 0, anomaly: false });
      expect(analyze.body.series[1]).toMatchObject({ metric: 'rps', value: 9, avg: 9, zscore: 0, samples: 1, count: 1 });
      expect(analyze.body).toEqual((await request(`${own.url}/analyze?device=bundled`)).body);
      // The root path, the device index and the anomalies answer as the source build does.
      expect((await request(`${url}/?device=bundled`)).body).toEqual(analyze.body);
      const devices = await request(`${url}/devices`);
      expect(devices.status).toBe(200);
      expect(devices.body.devices.map((d: { device_id: string }) => d.device_id)).toEqual(['bundled']);
      const anomalies = await request(`${url}/anomalies`);
      expect(anomalies.status).toBe(200);
      expect(anomalies.body).toEqual((await request(`${own.url}/anomalies`)).body);
      expect(anomalies.body).toMatchObject({ total: 0, per_metric: { cpu: { events: 4, anomalies: 0 }, rps: { events: 1, anomalies: 0 } } });
    });
  });

  it('stats serves from its bundle with only functions-framework installed: it answers with the counts', async () => {
    await withBundle('stats', async (url, { ingest, own }) => {
      const events = [{ device_id: 's1', cpu: 1, rps: 2 }, { device_id: 's1', cpu: 3 }, { device_id: 's2', cpu: 5 }];
      expect((await request(`${ingest.url}/batch`, { body: events })).status).toBe(202);
      const stats = await request(`${url}/stats`);
      expect(stats.status).toBe(200);
      expect(stats.body).toMatchObject({
        events: 3,
        anomalies: 0,
        devices: 2,
        series: 3,
        per_metric: { cpu: { events: 3, anomalies: 0 }, rps: { events: 1, anomalies: 0 } },
        config: { window_size: 50, z_threshold: 2, min_samples: 10 },
      });
      expect(stats.body).toEqual((await request(`${own.url}/stats`)).body);
      expect((await request(`${url}/`)).body).toEqual(stats.body);
    });
  });
});

describe('alertmanager/alertmanager.yml', () => {
  it('passes amtool check-config, routes to a webhook, and is where Prometheus sends its alerts', () => {
    const out = execFileSync('amtool', ['check-config', repo('alertmanager/alertmanager.yml')], { encoding: 'utf8' });
    expect(out).toContain('SUCCESS');
    expect(out).toMatch(/1 receivers/);
    const config = parse(read('alertmanager/alertmanager.yml')) as { receivers: Array<{ webhook_configs?: unknown[] }> };
    expect(config.receivers[0]!.webhook_configs).toHaveLength(1);
    const prometheus = parse(read('prometheus/prometheus.yml')) as { alerting: { alertmanagers: Array<{ static_configs: Array<{ targets: string[] }> }> } };
    expect(prometheus.alerting.alertmanagers[0]!.static_configs[0]!.targets).toEqual(['alertmanager:9093']);
  });
});

describe('docker-compose.yml', () => {
  const compose: Doc = parse(read('docker-compose.yml'), { merge: true });
  const entries = Object.entries(compose.services as Record<string, Doc>);

  it('describes every service with an image or this repository build, and healthchecks behind depends_on', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['alertmanager', 'analyze', 'api', 'grafana', 'ingest', 'prometheus', 'pushgateway', 'redis', 'stats']);
    for (const [name, service] of entries) {
      expect(typeof service.image === 'string' || service.build === '.', name).toBe(true);
      for (const [dependency, { condition }] of Object.entries(service.depends_on ?? {}) as Array<[string, { condition: string }]>) {
        expect(compose.services, `${name} depends on ${dependency}`).toHaveProperty(dependency);
        expect(condition).toBe('service_healthy');
        expect(compose.services[dependency].healthcheck, `${dependency} has no healthcheck`).toBeDefined();
      }
    }
    expect(compose.services.redis.command.join(' ')).toContain('--appendonly yes');
  });

  it('gives every function a valid configuration and an existing target', () => {
    const functions = entries.filter(([, s]) => s.build === '.');
    expect(functions.map(([n]) => n).sort()).toEqual(['analyze', 'api', 'ingest', 'stats']);
    for (const [name, service] of functions) {
      const env = service.environment as Record<string, string>;
      expect(env.FUNCTION_TARGET).toBe(name);
      expect(() => loadConfig(env), name).not.toThrow();
      expect(loadConfig(env).redisUrl).toBe('redis://redis:6379');
      expect(read(name === 'api' ? 'functions/index.ts' : `functions/${name}/index.ts`)).toContain(`defineFunction('${name}'`);
    }
    expect(compose.services.api.ports).toEqual(['8080:8080']);
    expect(['ingest', 'analyze', 'stats'].map((name) => compose.services[name].ports[0])).toEqual(['8081:8080', '8082:8080', '8083:8080']);
  });

  it('has no colliding host ports, and every mounted file exists', () => {
    const hostPorts = entries.flatMap(([, s]) => (s.ports ?? []).map((p: string) => p.split(':')[0]));
    expect(new Set(hostPorts).size).toBe(hostPorts.length);
    const mounts = entries.flatMap(([, s]) => (s.volumes ?? []).filter((v: string) => v.startsWith('./')).map((v: string) => v.split(':')[0]));
    expect(mounts.length).toBeGreaterThan(0);
    for (const mount of mounts) expect(existsSync(repo(mount)), mount).toBe(true);
    const prometheusConfig = parse(read('prometheus/prometheus.yml'));
    expect(prometheusConfig.scrape_configs[0].static_configs[0].targets).toEqual(['pushgateway:9091']);
  });
});

describe('the deployment page', () => {
  const readme = read('docs/deployment.md');
  const walkthrough = readme.slice(readme.indexOf('## Minikube walkthrough'), readme.indexOf('## func CLI'));

  it('walks from minikube start to a curl against ingest and the dashboard, every command spelled out', () => {
    const steps = [
      'minikube start',
      'serving-crds.yaml',
      'serving-core.yaml',
      'kourier.yaml',
      'ingress-class":"kourier.ingress.networking.knative.dev',
      'minikube tunnel',
      'serving-default-domain.yaml',
      'helm install monitoring prometheus-community/kube-prometheus-stack',
      `minikube image build -t ${IMAGE} .`,
      'kubectl apply -k knative/',
      "kubectl get ksvc ingest -n iot -o jsonpath='{.status.url}'",
      "TOKEN=$(kubectl get secret tokens -n iot -o jsonpath='{.data.ingest}' | base64 -d)",
      'curl -X POST "$INGEST/ingest" -H "Authorization: Bearer $TOKEN"',
      'kubectl port-forward -n monitoring svc/monitoring-grafana 3000:80',
    ];
    expect(walkthrough.length).toBeGreaterThan(0);
    let at = 0;
    for (const step of steps) {
      const found = walkthrough.indexOf(step, at);
      expect(found, `missing or out of order: ${step}`).toBeGreaterThan(-1);
      at = found;
    }
  });
});
