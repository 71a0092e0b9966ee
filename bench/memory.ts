// npm run bench:memory: Redis memory per series (bytes per (device, metric)), fed through the real ingest
// function. A throw-away redis-server and the built ingest function (dist/, or --source) are started; one warm-up
// request makes the function connect and load its scripts, FLUSHALL empties the store, and INFO memory's
// used_memory is read (before). Then every device sends --values events of --metrics realistic decimal
// texts in 1,000-event batches to /ingest/batch, one value per series per round, --interval seconds apart
// ending now; used_memory is read again (after). (after − before) / series is the figure. The keys are
// listed with SCAN and sorted into kinds (shared/store/keys.ts); a sample of each kind is weighed with
// MEMORY USAGE <key> SAMPLES 0 (every global key is weighed), and what MEMORY USAGE does not show (the
// expire entries, the buckets of the key and expire tables, allocator rounding) is total − the sum.
// Last, scratch keys weigh the same bytes stored in other shapes (the service is not changed).
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { parseDeviceAnomaly } from '../shared/store/anomaly-record.js';
import { parseCommandLine, usageError } from '../support/cli.js';
import { startFunction } from '../support/functions.js';
import { rng } from '../support/random.js';
import { startRedis } from '../support/servers.js';
import { startSink } from '../support/sink.js';

const { values: opts } = parseCommandLine({
  usage: 'npm run bench:memory -- [options]',
  summary: [
    'Redis memory per series (device, metric) at a warm steady state, fed through the real ingest function: INFO',
    'used_memory before and after / series, a breakdown by key kind (MEMORY USAGE on a sample, OBJECT ENCODING), the',
    'per-key overhead MEMORY USAGE does not show (total − sum), and what other shapes of the same bytes would weigh.',
  ].join('\n'),
  options: {
    devices: { type: 'string', default: '10000', arg: 'n', doc: 'devices' },
    metrics: { type: 'string', default: '4', arg: 'n', doc: 'metrics per device, 1-8 (cpu 37.25, memory 61.4, rps 1234, latency 12.875, then temp, disk, net_in, errors)' },
    values: { type: 'string', default: '60', arg: 'n', doc: 'values per series (≥ the window, so windows are full)' },
    interval: { type: 'string', default: '60', arg: 's', doc: 'seconds between two values of a device (the last one now); 60 s × 60 values spans an hour boundary, as a long-running series does' },
    window: { type: 'string', default: '50', arg: 'W', doc: 'WINDOW_SIZE of the function' },
    sample: { type: 'string', default: '1000', arg: 'n', doc: 'keys weighed per kind' },
    concurrency: { type: 'string', default: '2', arg: 'n', doc: 'batches in flight' },
    ids: { type: 'boolean', doc: 'events carry an id (the device keeps its ids key)' },
    'rate-limit': { type: 'boolean', doc: 'turn the per-device rate limit on (RATE_LIMIT_PER_DEVICE=1, burst = values: nothing refused), so each device keeps its bucket key' },
    sink: { type: 'boolean', doc: 'set K_SINK to a local sink, so devices with alert episodes keep an outbox' },
    source: { type: 'string', arg: 'dir', doc: 'a built checkout whose ingest function is run (dist/functions/index.js; default: this one)' },
  },
  examples: [
    'npm run build && npm run bench:memory',
    'npm run bench:memory -- --devices 2000 --values 60 --ids --rate-limit --sink',
    'npm run bench:memory -- --source ../other-build',
  ],
});

const int = (name: keyof typeof opts, lo: number, hi: number): number => {
  const n = Number(opts[name]);
  if (!Number.isInteger(n) || n < lo || n > hi) usageError(`--${name} must be an integer ${lo}-${hi} (got ${String(opts[name])})`);
  return n;
};
const DEVICES = int('devices', 1, 1_000_000);
const METRIC_COUNT = int('metrics', 1, 8);
const VALUES = int('values', 1, 100_000);
const INTERVAL_S = int('interval', 1, 86_400);
const WINDOW = int('window', 2, 10_000);
const SAMPLE = int('sample', 1, 1_000_000);
const CONCURRENCY = int('concurrency', 1, 64);
const SOURCE = opts.source;
if (SOURCE !== undefined && !existsSync(join(SOURCE, 'dist/functions/index.js'))) usageError(`--source must name a built checkout (no ${join(SOURCE, 'dist/functions/index.js')})`);
const PREFIX = 'iot:';
const BATCH = 1000;

/** name, level range, relative spread, decimals: values as devices send them (37.25, 61.4, 1234, 12.875). */
const METRICS = [
  { name: 'cpu', lo: 10, hi: 80, spread: 0.08, decimals: 2 },
  { name: 'memory', lo: 30, hi: 90, spread: 0.02, decimals: 1 },
  { name: 'rps', lo: 200, hi: 3000, spread: 0.05, decimals: 0 },
  { name: 'latency', lo: 5, hi: 40, spread: 0.1, decimals: 3 },
  { name: 'temp', lo: 30, hi: 70, spread: 0.03, decimals: 1 },
  { name: 'disk', lo: 20, hi: 95, spread: 0.01, decimals: 2 },
  { name: 'net_in', lo: 1000, hi: 90000, spread: 0.1, decimals: 0 },
  { name: 'errors', lo: 0, hi: 5, spread: 0.5, decimals: 0 },
].slice(0, METRIC_COUNT);
const SERIES = DEVICES * METRIC_COUNT;

const r = rng(31);
const levels = Array.from({ length: DEVICES }, () => METRICS.map((m) => m.lo + (m.hi - m.lo) * r.next()));
const value = (device: number, m: number): number => {
  const { spread, decimals } = METRICS[m]!;
  const level = levels[device]![m]!;
  const x = Math.max(0, level + level * spread * r.gauss() + (m === 7 ? spread * r.gauss() : 0));
  const scale = 10 ** decimals;
  return Math.round(x * scale) / scale;
};
let textBytes = 0;
let texts = 0;

const sink = opts.sink ? await startSink({ keep: false }) : undefined;
const redisServer = await startRedis();
const fn = await startFunction('ingest', {
  REDIS_URL: redisServer.url,
  KEY_PREFIX: PREFIX,
  WINDOW_SIZE: String(WINDOW),
  MAX_BATCH: String(BATCH),
  MAX_BODY_BYTES: '4194304',
  REDIS_COMMAND_TIMEOUT_MS: '60000',
  ...(opts['rate-limit'] ? { RATE_LIMIT_PER_DEVICE: '1', RATE_LIMIT_BURST: String(Math.max(10, VALUES)) } : {}),
  ...(sink ? { K_SINK: sink.url } : {}),
}, { timeoutMs: 60_000, ...(SOURCE === undefined ? {} : { source: SOURCE }) });
const redis = new Redis(redisServer.url);

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const info = async () => {
  const text = await redis.info('memory');
  const get = (field: string) => Number(new RegExp(`^${field}:(\\d+)`, 'm').exec(text)![1]);
  return { used: get('used_memory'), dataset: get('used_memory_dataset'), clients: get('mem_clients_normal'), scripts: get('used_memory_scripts_eval') };
};
const post = async (body: string) => {
  const res = await fetch(`${fn.url}/ingest/batch`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  if (res.status !== 202) throw new Error(`ingest answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
  await res.arrayBuffer();
};
const settle = () => new Promise((resolve) => setTimeout(resolve, 3000));

try {
  // Warm-up: the function connects and loads its scripts; then the store is emptied.
  await post(JSON.stringify([{ device_id: 'warm-up', cpu: 1 }]));
  await redis.flushall('SYNC');
  await settle();
  const before = await info();

  const started = Date.now();
  const now = Date.now();
  const bodies = function* () {
    for (let round = 0; round < VALUES; round++) {
      const timestamp = now - (VALUES - 1 - round) * INTERVAL_S * 1000;
      for (let from = 0; from < DEVICES; from += BATCH) {
        const events = [];
        for (let d = from; d < Math.min(DEVICES, from + BATCH); d++) {
          const event: Record<string, string | number> = { device_id: `device-${String(d).padStart(5, '0')}`, timestamp };
          if (opts.ids) event.id = randomUUID();
          METRICS.forEach((m, i) => {
            const v = value(d, i);
            event[m.name] = v;
            textBytes += String(v).length;
            texts++;
          });
          events.push(event);
        }
        yield JSON.stringify(events);
      }
    }
  };
  const queue = bodies();
  let sent = 0;
  const total = VALUES * Math.ceil(DEVICES / BATCH);
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    for (let next = queue.next(); !next.done; next = queue.next()) {
      await post(next.value);
      if (++sent % 100 === 0) process.stderr.write(`  ${sent}/${total} batches, ${fmt((Date.now() - started) / 1000)} s\r`);
    }
  }));
  process.stderr.write(`  ${sent}/${total} batches, ${fmt((Date.now() - started) / 1000)} s\n`);
  await settle();
  const after = await info();
  const keyspace = /keys=(\d+),expires=(\d+)/.exec(await redis.info('keyspace'))!;
  const [dbKeys, dbExpires] = [Number(keyspace[1]), Number(keyspace[2])];

  // The keys, by kind.
  const kinds: Array<[string, RegExp]> = [
    ['window list (w:<metric>)', /^dev:\{[^}]+\}:w:/],
    ['state hash (state)', /^dev:\{[^}]+\}:state$/],
    ['series index (series)', /^dev:\{[^}]+\}:series$/],
    ['event ids (ids)', /^dev:\{[^}]+\}:ids$/],
    ['rate bucket (rate)', /^dev:\{[^}]+\}:rate$/],
    ['anomalies list (anomalies)', /^dev:\{[^}]+\}:anomalies$/],
    ['episode ids (episodes)', /^dev:\{[^}]+\}:episodes$/],
    ['episode records (episode)', /^dev:\{[^}]+\}:episode$/],
    ['outbox stream (outbox)', /^dev:\{[^}]+\}:outbox$/],
    ['outbox retries/lease', /^dev:\{[^}]+\}:outbox:/],
    ['global keys ({global}:*)', /^\{global\}:/],
    ['other', /./],
  ];
  const found = new Map<string, string[]>(kinds.map(([name]) => [name, []]));
  for await (const batch of redis.scanStream({ match: `${PREFIX}*`, count: 1000 })) {
    for (const key of batch as string[]) found.get(kinds.find(([, re]) => re.test(key.slice(PREFIX.length)))![0])!.push(key);
  }
  const unprefixed = dbKeys - [...found.values()].reduce((s, k) => s + k.length, 0);

  const pick = (keys: string[], n: number) => {
    if (keys.length <= n) return keys;
    const copy = keys.slice();
    for (let i = 0; i < n; i++) {
      const j = i + Math.floor(r.next() * (copy.length - i));
      [copy[i], copy[j]] = [copy[j]!, copy[i]!];
    }
    return copy.slice(0, n);
  };
  type Row = { kind: string; keys: number; encodings: string; mean: number; perSeries: number };
  const rows: Row[] = [];
  for (const [kind, keys] of found) {
    if (keys.length === 0) continue;
    const sample = kind.startsWith('global') ? keys : pick(keys, SAMPLE);
    const p = redis.pipeline();
    for (const key of sample) p.call('MEMORY', 'USAGE', key, 'SAMPLES', '0').object('ENCODING', key);
    const replies = (await p.exec())!.map(([error, reply]) => {
      if (error) throw error;
      return reply;
    });
    const sizes = replies.filter((_, i) => i % 2 === 0).map(Number);
    const encs = new Map<string, number>();
    replies.filter((_, i) => i % 2 === 1).forEach((e) => encs.set(String(e), (encs.get(String(e)) ?? 0) + 1));
    const mean = sizes.reduce((s, x) => s + x, 0) / sizes.length;
    const encodings = [...encs].map(([e, n]) => (encs.size === 1 ? e : `${e} ${Math.round((100 * n) / sample.length)}%`)).join(', ');
    rows.push({ kind, keys: keys.length, encodings, mean, perSeries: (mean * keys.length) / SERIES });
    if (kind.startsWith('global')) {
      for (let i = 0; i < sample.length; i++) rows.push({ kind: `  ${sample[i]!.slice(PREFIX.length)}`, keys: 1, encodings: String(replies[2 * i + 1]), mean: sizes[i]!, perSeries: sizes[i]! / SERIES });
    }
  }

  // Details of the two per-series kinds.
  const windows = pick(found.get('window list (w:<metric>)')!, 200);
  const states = pick(found.get('state hash (state)')!, 200);
  const wp = redis.pipeline();
  for (const key of windows) wp.lrange(key, 0, -1);
  const windowTexts = (await wp.exec())!.map(([, v]) => v as string[]);
  const windowLength = windowTexts.reduce((s, v) => s + v.length, 0) / windowTexts.length;
  const windowText = windowTexts.flat().reduce((s, v) => s + v.length, 0) / windowTexts.flat().length;
  const sp = redis.pipeline();
  const metric = METRICS[0]!.name;
  for (const key of states) sp.hlen(key).hstrlen(key, metric).hstrlen(key, `${metric}:h`);
  const stateReplies = (await sp.exec())!.map(([, v]) => Number(v));
  const avg = (k: number) => stateReplies.filter((_, i) => i % 3 === k).reduce((s, x) => s + x, 0) / states.length;
  const withHours = stateReplies.filter((x, i) => i % 3 === 2 && x > 0).length / states.length;
  const anomalyKeys = found.get('anomalies list (anomalies)')!;
  const ap = redis.pipeline();
  for (const key of pick(anomalyKeys, 200)) ap.lrangeBuffer(key, 0, -1);
  const anomalyLists = (await ap.exec())!.map(([, v]) => v as Buffer[]);
  const anomalyEntries = anomalyLists.flat();
  const anomalyLength = anomalyLists.length === 0 ? 0 : anomalyEntries.length / anomalyLists.length;
  const anomalyText = anomalyEntries.length === 0 ? 0 : anomalyEntries.reduce((s, v) => s + v.length, 0) / anomalyEntries.length;

  const delta = after.used - before.used;
  const perSeries = delta / SERIES;
  const summed = rows.filter((row) => !row.kind.startsWith('  ')).reduce((s, row) => s + row.perSeries, 0);
  const overhead = perSeries - summed;
  const keysPerSeries = dbKeys / SERIES;
  const overheadPerKey = (overhead * SERIES) / dbKeys;

  const out: string[] = [];
  const line = (s = '') => out.push(s);
  line(`Redis ${(await redis.info('server')).match(/redis_version:(\S+)/)![1]}, ${fmt(DEVICES)} devices × ${METRIC_COUNT} metrics (${METRICS.map((m) => m.name).join(', ')}) = ${fmt(SERIES)} series, ${VALUES} values each ${INTERVAL_S} s apart, W = ${WINDOW}${opts.ids ? ', ids' : ''}${opts['rate-limit'] ? ', rate limit' : ''}${sink ? ', sink' : ''}; fed in ${fmt((Date.now() - started) / 1000)} s; function: ${SOURCE ?? 'this checkout'}`);
  line(`mean value text ${fmt(textBytes / texts, 2)} bytes; keys ${fmt(dbKeys)} (${fmt(keysPerSeries, 2)} per series), with expiry ${fmt(dbExpires)}${unprefixed ? `, ${unprefixed} without the prefix` : ''}`);
  line(`used_memory before ${fmt(before.used)} B, after ${fmt(after.used)} B (dataset ${fmt(before.dataset)} → ${fmt(after.dataset)}, clients ${fmt(before.clients)} → ${fmt(after.clients)}, scripts ${fmt(before.scripts)} → ${fmt(after.scripts)})`);
  line();
  const head = ['key kind', 'keys', 'keys/series', 'encoding (sample)', 'MEMORY USAGE mean B', 'B per series'];
  const table = [
    head,
    ...rows.map((row) => [row.kind, fmt(row.keys), row.kind.startsWith('  ') ? '' : fmt(row.keys / SERIES, 3), row.encodings, fmt(row.mean), fmt(row.perSeries, 1)]),
    ['sum of MEMORY USAGE', '', '', '', '', fmt(summed, 1)],
    [`not shown by MEMORY USAGE (total − sum; ${fmt(overheadPerKey, 1)} B per key)`, '', '', '', '', fmt(overhead, 1)],
    ['used_memory after − before, per series', fmt(dbKeys), fmt(keysPerSeries, 2), '', '', fmt(perSeries, 1)],
  ];
  const widths = head.map((_, c) => Math.max(...table.map((row) => row[c]!.length)));
  for (const [i, row] of table.entries()) {
    line(row.map((cell, c) => (c === 0 || c === 3 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  '));
    if (i === 0 || i === rows.length) line(widths.map((w) => '-'.repeat(w)).join('  '));
  }
  line();
  line(`window lists: ${fmt(windowLength, 1)} values of ${fmt(windowText, 2)} bytes of text on average; device state hashes: ${fmt(avg(0), 2)} fields, a state ${fmt(avg(1), 1)} bytes, hours (240 bytes) in ${fmt(100 * withHours)}% of the series`);
  line(`device anomaly lists: ${fmt((100 * anomalyKeys.length) / DEVICES)}% of devices, ${fmt(anomalyLength, 1)} entries of ${fmt(anomalyText, 1)} bytes (packed) on average (capped at 100 per device; ${fmt((100 * anomalyLength) / (VALUES * METRIC_COUNT), 1)}% of the values were flagged)`);

  // The same bytes in other shapes, on scratch keys (the service is not changed).
  // Scratch keys named as long as the real ones (device-00000 → scratch00000), so that key names weigh the same.
  const scratchKey = (i: number) => `${PREFIX}dev:{scratch${String(i).padStart(5, '0')}}:w:${METRICS[0]!.name}`;
  const usage = async (key: string) => Number(await redis.call('MEMORY', 'USAGE', key, 'SAMPLES', '0'));
  const encoding = async (key: string) => String(await redis.object('ENCODING', key));
  const device = found.get('series index (series)')![0]!.slice(PREFIX.length).match(/^dev:\{([^}]+)\}/)![1]!;
  const realState = await redis.hgetallBuffer(`${PREFIX}dev:{${device}}:state`);
  const realWindow = await redis.lrangeBuffer(`${PREFIX}dev:{${device}}:w:${METRICS[0]!.name}`, 0, -1);
  const stateBytes = realState[METRICS[0]!.name]!;
  const hoursBytes = realState[`${METRICS[0]!.name}:h`] ?? Buffer.alloc(240);
  const numbers = realWindow.map((b) => Number(b.toString()));
  const doubles = Buffer.alloc(8 * numbers.length);
  numbers.forEach((x, i) => doubles.writeDoubleLE(x, 8 * i));
  const floats = Buffer.alloc(4 * numbers.length);
  numbers.forEach((x, i) => floats.writeFloatLE(x, 4 * i));
  const [, maxValue] = (await redis.config('GET', 'hash-max-listpack-value')) as string[];
  const shapes: Array<[string, string, () => Promise<unknown>, number]> = [];
  const shape = (name: string, keys: number, make: (key: string) => Promise<unknown>) => {
    const key = scratchKey(shapes.length);
    shapes.push([name, key, () => make(key), keys]);
  };
  const asListpack = async (fn: () => Promise<unknown>) => {
    await redis.config('SET', 'hash-max-listpack-value', '1024');
    try {
      await fn();
    } finally {
      await redis.config('SET', 'hash-max-listpack-value', maxValue!);
    }
  };
  shape(`state hash as stored: state ${stateBytes.length} B + hours ${hoursBytes.length} B, default hash-max-listpack-value ${maxValue}`, 1, (k) => redis.hset(k, 'state', stateBytes, 'hours', hoursBytes));
  shape('the same two fields as a listpack (hash-max-listpack-value raised for this key)', 1, (k) => asListpack(() => redis.hset(k, 'state', stateBytes, 'hours', hoursBytes)));
  shape(`state hash without hours (state only), hashtable`, 1, (k) => redis.hset(k, 'state', stateBytes));
  shape(`state only, listpack`, 1, (k) => asListpack(() => redis.hset(k, 'state', stateBytes)));
  shape('state and hours as one string key (SET of both blocks)', 1, (k) => redis.set(k, Buffer.concat([stateBytes, hoursBytes])));
  shape(`window as stored: ${realWindow.length} texts ("${realWindow[0]}" …) in a list`, 1, (k) => redis.rpush(k, ...realWindow));
  shape(`window as ${numbers.length} doubles in one string (${doubles.length} B)`, 1, (k) => redis.set(k, doubles));
  shape(`window as ${numbers.length} float32 in one string (${floats.length} B)`, 1, (k) => redis.set(k, floats));
  shape('one key per series: list of state, hours, then the window texts', 1, (k) => redis.rpush(k, stateBytes, hoursBytes, ...realWindow));
  shape('one key per series: listpack hash {state, hours, window as doubles}', 1, (k) => asListpack(() => redis.hset(k, 'state', stateBytes, 'hours', hoursBytes, 'w', doubles)));
  shape('one key per series: listpack hash {state, hours, window as float32}', 1, (k) => asListpack(() => redis.hset(k, 'state', stateBytes, 'hours', hoursBytes, 'w', floats)));
  // A device's anomaly list once full (100 entries, as long-running devices have it), as stored and more compact.
  const full = Array.from({ length: 100 }, (_, i) => anomalyEntries[i % Math.max(1, anomalyEntries.length)] ?? Buffer.alloc(0));
  const asJson = full.map((entry) => JSON.stringify(parseDeviceAnomaly(entry, device) ?? {}));
  const perDevice = `(per device, ÷ ${METRIC_COUNT})`;
  if (anomalyEntries.length > 0) {
    shape(`device anomaly list full: 100 entries as stored (${fmt(anomalyText, 0)} B packed) ${perDevice}`, 1, (k) => redis.rpush(k, ...full));
    shape(`the same as JSON with the device id, as kept before (${fmt(asJson.reduce((s, v) => s + v.length, 0) / 100, 0)} B) ${perDevice}`, 1, (k) => redis.rpush(k, ...asJson));
  }
  const rowsShapes: string[][] = [['shape (one series unless said)', 'keys', 'encoding', 'MEMORY USAGE B', `+ ${fmt(overheadPerKey, 0)} B per key`, 'per series']];
  let fullList = 0;
  for (const [name, key, make, keyCount] of shapes) {
    await make();
    const bytes = await usage(key);
    const withKeys = bytes + keyCount * overheadPerKey;
    if (name.startsWith('device anomaly list full')) fullList = withKeys;
    rowsShapes.push([name, String(keyCount), await encoding(key), fmt(bytes), fmt(withKeys), fmt(name.endsWith(perDevice) ? withKeys / METRIC_COUNT : withKeys)]);
  }
  await redis.del(...shapes.map(([, key]) => key));
  const sw = rowsShapes[0]!.map((_, c) => Math.max(...rowsShapes.map((row) => row[c]!.length)));
  line();
  for (const [i, row] of rowsShapes.entries()) {
    line(row.map((cell, c) => (c === 0 || c === 2 ? cell.padEnd(sw[c]!) : cell.padStart(sw[c]!))).join('  '));
    if (i === 0) line(sw.map((w) => '-'.repeat(w)).join('  '));
  }
  if (fullList > 0) {
    const anomalyRow = rows.find((row) => row.kind.startsWith('anomalies'))!;
    const now = anomalyRow.perSeries + (overheadPerKey * anomalyRow.keys) / SERIES;
    line(`with every device's anomaly list full (100 entries, as after ~${fmt(100 / Math.max(anomalyLength / VALUES, 1e-9))} events at this flag rate): ${fmt(perSeries - now + fullList / METRIC_COUNT, 0)} B per series`);
  }
  line();
  const method = [
    `Method: a throw-away redis-server and the built ingest function (${SOURCE ?? 'dist/'}) are started; one warm-up request makes the`,
    'function connect and load its scripts, FLUSHALL empties the store and, after 3 s, INFO memory used_memory is read.',
    `Every device then sends ${VALUES} events (one value of each metric, realistic decimal texts, ${INTERVAL_S} s apart, the last`,
    'one now) in 1,000-event batches to /ingest/batch; after 3 s used_memory is read again: (after − before) / series.',
    'SCAN lists the keys by kind; a sample of each kind (every global key) is weighed with MEMORY USAGE <key> SAMPLES 0',
    '(value, key name and its table entry; Redis 7.0) and OBJECT ENCODING. What MEMORY USAGE does not show (the expire',
    'entries, the buckets of the key and expire tables, allocator rounding) is the total less the sum. Last, scratch keys',
    "weigh one series' real bytes in other shapes, plus that measured overhead per key.",
  ].join(' ');
  // One paragraph, wrapped at 116 columns.
  let row = '';
  for (const word of method.split(' ')) {
    if (row && row.length + 1 + word.length > 116) {
      line(row);
      row = word;
    } else row = row ? `${row} ${word}` : word;
  }
  line(row);
  process.stdout.write(`${out.join('\n')}\n`);
} finally {
  redis.disconnect();
  await fn.stop();
  await redisServer.stop();
  await sink?.stop();
}
process.exit(0);
