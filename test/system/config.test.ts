import { detectorParams } from '../../shared/detector/params.js';
import { PROFILES } from '../../shared/detector/profiles.js';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, vi } from 'vitest';
import { readFileSync } from 'node:fs';
import { configTable, loadConfig } from '../../shared/config/load.js';
import { SETTINGS } from '../../shared/config/settings.js';

describe('loadConfig', () => {
  it('has the documented defaults', () => {
    expect(loadConfig({ HOSTNAME: 'pod-1' })).toEqual({
      port: 8080,
      redisUrl: 'redis://127.0.0.1:6379',
      redisClusterNodes: [],
      redisTlsCa: undefined,
      keyPrefix: 'iot:',
      detectorProfile: 'default',
      windowSize: 50,
      zThreshold: 2,
      minSamples: 10,
      likelihoodShort: 10,
      likelihoodLong: 1000,
      episodeTrigger: 'baseline',
      episodeLikelihood: 0.9999,
      episodeScore: 0,
      episodeCloseAfter: 5,
      episodeRefractory: 0,
      episodeFlatline: 0,
      episodeWarmup: 0,
      baselineLong: 8000,
      baselineShort: 10,
      baselineSpikeZ: 6,
      baselineLevelZ: 3,
      baselineRefractory: 50,
      baselineWarmup: 100,
      baselineHourSpan: 100,
      baselineFlatRun: 10,
      baselineFlatShare: 0.2,
      maxBatch: 1000,
      maxBodyBytes: 1048576,
      maxInflightBytes: 4194304,
      admissionWaitMs: 1000,
      seriesTtlSeconds: 604800,
      recentAnomalies: 1000,
      redisCommandTimeoutMs: 1000,
      readyMemoryHigh: 0.95,
      readyMemoryLow: 0.9,
      pushgatewayUrl: undefined,
      pushIntervalMs: 5000,
      metricsDevices: ['default'],
      metricsTopDevices: 10,
      instance: 'pod-1',
      idempotencyTtlSeconds: 86400,
      rateLimitPerDevice: 0,
      rateLimitBurst: 1,
      ingestTokens: [],
      deviceTokenKeys: [],
      readTokens: [],
      sinkUrl: undefined,
      ceOverrides: {},
      outboxMaxLength: 1000,
      outboxMaxAttempts: 8,
      outboxLeaseMs: 10_000,
      outboxRetryMs: 1000,
    });
  });

  it('takes the detector parameters from DETECTOR_PROFILE, each variable overriding its own', () => {
    const infra = loadConfig({ DETECTOR_PROFILE: 'infra' });
    expect(detectorParams(infra)).toEqual(PROFILES.infra);
    // A variable set but empty is unset: the profile's value, not the default's.
    expect(loadConfig({ DETECTOR_PROFILE: 'infra', WINDOW_SIZE: '' }).windowSize).toBe(PROFILES.infra.windowSize);
    const tuned = loadConfig({ DETECTOR_PROFILE: 'infra', WINDOW_SIZE: '300', EPISODE_TRIGGER: 'flag' });
    expect(detectorParams(tuned)).toEqual({ ...PROFILES.infra, windowSize: 300, episodeTrigger: 'flag' });
    expect(() => loadConfig({ DETECTOR_PROFILE: 'fast' })).toThrowError('Invalid configuration: DETECTOR_PROFILE must be one of default, infra (got "fast")');
    expect(() => loadConfig({ EPISODE_LIKELIHOOD: '1.5' })).toThrowError('Invalid configuration: EPISODE_LIKELIHOOD must be a number from 0.5 to 1 (got "1.5")');
    expect(() => loadConfig({ EPISODE_TRIGGER: 'score' })).toThrowError(/EPISODE_TRIGGER must be one of baseline, flag, likelihood/);
    expect(() => loadConfig({ BASELINE_FLAT_SHARE: '2' })).toThrowError('Invalid configuration: BASELINE_FLAT_SHARE must be a number from 0 to 1 (got "2")');
  });

  it('reads device-token signing keys, and never echoes a secret in its refusal', () => {
    const keys = loadConfig({ DEVICE_TOKEN_KEYS: `k2:${'b'.repeat(32)}, k1:${'a'.repeat(40)}` }).deviceTokenKeys;
    expect(keys).toEqual([{ id: 'k2', secret: 'b'.repeat(32) }, { id: 'k1', secret: 'a'.repeat(40) }]);
    for (const bad of [`k1:${'s'.repeat(31)}`, `:${'s'.repeat(32)}`, `k1:${'s'.repeat(32)},k1:${'t'.repeat(32)}`, 'only-an-id']) {
      expect(() => loadConfig({ DEVICE_TOKEN_KEYS: bad })).toThrowError(/DEVICE_TOKEN_KEYS must/);
      expect(() => loadConfig({ DEVICE_TOKEN_KEYS: bad })).not.toThrowError(/sss|ttt/);
    }
  });

  it('honours the source services variables as fallbacks, REDIS_URL first', () => {
    expect(loadConfig({ REDIS_HOST: 'cache', REDIS_PORT: '6380', REDIS_PASSWORD: 'p@ss' }).redisUrl).toBe('redis://:p%40ss@cache:6380');
    expect(loadConfig({ REDIS_ADDR: 'redis:6379' }).redisUrl).toBe('redis://redis:6379');
    expect(loadConfig({ REDIS_ADDR: 'redis:6379', REDIS_URL: 'rediss://managed:6380' }).redisUrl).toBe('rediss://managed:6380');
    expect(loadConfig({ SERVER_PORT: '9000' }).port).toBe(9000);
    expect(loadConfig({ REDIS_CLUSTER_NODES: 'a:7000, b:7001' }).redisClusterNodes).toEqual([
      { host: 'a', port: 7000 },
      { host: 'b', port: 7001 },
    ]);
    expect(loadConfig({ SERVER_PORT: '9000', PORT: '8081' }).port).toBe(8081);
  });

  it.each([
    [{ WINDOW_SIZE: '1' }, 'WINDOW_SIZE must be an integer from 2 to 10000 (got "1")'],
    [{ WINDOW_SIZE: '10001' }, 'WINDOW_SIZE must be an integer from 2 to 10000'],
    [{ WINDOW_SIZE: '5.5' }, 'WINDOW_SIZE must be an integer'],
    [{ Z_THRESHOLD: '0' }, 'Z_THRESHOLD must be a number greater than 0 (got "0")'],
    [{ Z_THRESHOLD: 'high' }, 'Z_THRESHOLD must be a number greater than 0'],
    [{ MIN_SAMPLES: '0' }, 'MIN_SAMPLES must be an integer from 1'],
    [{ MIN_SAMPLES: '60' }, 'MIN_SAMPLES must not exceed WINDOW_SIZE (got 60 > 50)'],
    [{ MAX_BATCH: '0' }, 'MAX_BATCH must be an integer from 1'],
    [{ SERIES_TTL_SECONDS: '5' }, 'SERIES_TTL_SECONDS must be an integer from 60'],
    [{ REDIS_URL: 'http://x' }, 'REDIS_URL must be a redis:// or rediss:// URL'],
    [{ REDIS_ADDR: 'nope' }, 'REDIS_ADDR must be host:port'],
    [{ REDIS_CLUSTER_NODES: 'a:7000,b' }, 'REDIS_CLUSTER_NODES must be a comma-separated list of host:port'],
    [{ PORT: '70000' }, 'PORT must be an integer from 1 to 65535'],
    [{ KEY_PREFIX: 'has space' }, 'KEY_PREFIX must be at most 64 characters'],
    [{ PUSHGATEWAY_URL: 'localhost:9091' }, 'PUSHGATEWAY_URL must be an http:// or https:// URL'],
    [{ PUSH_INTERVAL_MS: '10' }, 'PUSH_INTERVAL_MS must be an integer from 100'],
    [{ METRICS_DEVICES: 'a,b c' }, 'METRICS_DEVICES must be a comma-separated list of device ids'],
    [{ INGEST_TOKENS: 'short' }, 'INGEST_TOKENS must be a comma-separated list of tokens of at least 16 characters'],
  ])('refuses %o with one line naming the variable', (env, message) => {
    expect(() => loadConfig(env)).toThrowError(`Invalid configuration: ${message}`);
  });
});

describe('a function started with a bad environment', () => {
  it('exits with status 1 and one line on stderr', () => {
    const main = fileURLToPath(new URL('../../node_modules/@google-cloud/functions-framework/build/src/main.js', import.meta.url));
    const run = spawnSync(process.execPath, [main, '--target=ingest'], {
      cwd: fileURLToPath(new URL('../..', import.meta.url)),
      env: { ...process.env, WINDOW_SIZE: 'fifty', PORT: '18080' },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(run.status).toBe(1);
    expect(run.stderr.trim()).toBe('Invalid configuration: WINDOW_SIZE must be an integer from 2 to 10000 (got "fifty")');
  });
});

describe('the settings, declared once', () => {
  it('are the configuration table of docs/operations.md, row for row (npm run generate writes it)', () => {
    const readme = readFileSync(new URL('../../docs/operations.md', import.meta.url), 'utf8');
    const table = /<!-- config:start -->\n([\s\S]*?)\n<!-- config:end -->/.exec(readme)?.[1];
    expect(table, 'docs/operations.md has no config markers').toBeDefined();
    expect(table).toBe(configTable());
    const documented = [...table!.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((m) => m[1]);
    expect(documented).toEqual(Object.keys(SETTINGS));
  });

  it('refuse every variable by its own rule, naming it', () => {
    for (const variable of Object.keys(SETTINGS)) {
      const rule = SETTINGS[variable as keyof typeof SETTINGS].rule;
      if (rule.text === '' || rule.text === 'host name') continue; // free text: nothing to refuse
      expect(() => loadConfig({ [variable]: ' bad value ' }), variable).toThrowError(`Invalid configuration: ${variable} `);
    }
  });
});

describe('the Node.js runtime', () => {
  it('warns once, in one JSON line, on a Node.js past its end of life, and says nothing on Node 24', async () => {
    const { warnIfEndOfLife } = await import('../../shared/runtime.js');
    const lines: string[] = [];
    const original = console.error;
    console.error = (line: string) => void lines.push(line);
    try {
      expect(warnIfEndOfLife('24.11.0')).toBeUndefined();
      expect(warnIfEndOfLife('20.19.0')).toContain('Node.js 20.19.0 reached its end of life (2026-04-30)');
      expect(warnIfEndOfLife('20.19.0')).toBeUndefined();
    } finally {
      console.error = original;
    }
    expect(lines.map((l) => JSON.parse(l))).toEqual([
      { severity: 'WARNING', message: 'Node.js 20.19.0 reached its end of life (2026-04-30): run this service on Node.js 24 LTS' },
    ]);
  });

  it('says of a Node.js older than 20 that its end came long ago', async () => {
    vi.resetModules();
    const { warnIfEndOfLife } = await import('../../shared/runtime.js');
    const original = console.error;
    console.error = () => undefined;
    try {
      expect(warnIfEndOfLife('18.20.4')).toBe('Node.js 18.20.4 reached its end of life (long ago): run this service on Node.js 24 LTS');
    } finally {
      console.error = original;
    }
  });
});
