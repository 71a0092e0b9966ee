// npm run simulate: virtual devices with labelled anomalies, written offline to a file or sent live to the service.
import { createWriteStream, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { finished } from 'node:stream/promises';
import { parseCommandLine } from '../support/cli.js';
import { rng } from '../support/random.js';
import { count, fileProblem, fraction, httpUrl, instant, oneOf, positive, runCommand, seed } from './options.js';
import { ANOMALY_RATE, type LabelledEvent, PRESETS, createDevice, toApiEvent } from './signals.js';

/** Where an offline run writes when no --out is given (out/ is git-ignored). */
const OFFLINE_OUT = 'out/stream.jsonl';
const OFFLINE_EVENTS = 1000;

const { values: o } = parseCommandLine({
  usage: 'npm run simulate -- [options]',
  summary: [
    'Virtual devices sending cpu, rps, memory and latency readings, with anomalies injected and labelled.',
    `Offline (no --url): writes --events readings per device, --interval seconds of simulated time apart from --start,`,
    `to --out (default ${OFFLINE_OUT}); the same options and --seed give a byte-identical file.`,
    'Live (--url): sends the readings to the service at --rate, stamped with the real time (so a live stream is',
    'not reproducible, and --start and --interval do not apply), printing progress each second and a summary.',
  ].join('\n'),
  options: {
    url: { type: 'string', arg: 'url', doc: 'live: base URL of the service; readings are stamped with the real time' },
    devices: { type: 'string', arg: 'n', default: '10', doc: 'number of virtual devices' },
    preset: { type: 'string', arg: 'name', default: 'realistic', doc: `kind of signal: ${PRESETS.slice(0, -1).join(', ')} or ${PRESETS.at(-1)}` },
    'anomaly-rate': {
      type: 'string',
      arg: 'p',
      doc: `probability that an anomaly starts, per reading and metric (default: ${ANOMALY_RATE.realistic} realistic, ${ANOMALY_RATE.infra} infra; source: a fixed 10% of readings)`,
    },
    seed: { type: 'string', arg: 'n', default: '1', doc: 'seed of the random generator (0 to 4294967295)' },
    events: { type: 'string', arg: 'n', doc: `offline: readings per device (default: ${OFFLINE_EVENTS}); live: readings in all, instead of rate × duration` },
    interval: { type: 'string', arg: 'seconds', default: '10', doc: "offline: simulated time between a device's readings" },
    start: { type: 'string', arg: 'time', default: '2026-01-01T00:00:00Z', doc: 'offline: ISO-8601 time of the first readings (UTC without an offset)' },
    out: { type: 'string', arg: 'file', doc: `file for the labelled stream, one JSON event per line (offline default: ${OFFLINE_OUT}; live: none)` },
    rate: { type: 'string', arg: 'n', default: '50', doc: 'live: events per second in all' },
    duration: { type: 'string', arg: 'seconds', default: '60', doc: 'live: how long to send' },
    batch: { type: 'string', arg: 'n', default: '1', doc: 'live: events per request (1: POST /ingest; more: POST /ingest/batch)' },
    token: { type: 'string', arg: 'token', doc: 'live: bearer token for ingest' },
  },
  examples: [
    'npm run simulate -- --preset realistic --devices 20 --events 2000 --interval 60 --seed 7',
    'npm run simulate -- --preset infra --devices 20 --events 5000 --out out/infra.jsonl',
    'npm run simulate -- --url http://localhost:8080 --devices 10 --rate 50 --duration 60 --out out/live.jsonl',
  ],
});

// Every value is checked before anything starts, whichever mode it belongs to.
const preset = oneOf('preset', o.preset, PRESETS);
const devicesCount = count('devices', o.devices);
const anomalyRate = o['anomaly-rate'] === undefined ? undefined : fraction('anomaly-rate', o['anomaly-rate']);
const r = rng(seed('seed', o.seed));
const events = o.events === undefined ? undefined : count('events', o.events);
const intervalMs = positive('interval', o.interval) * 1000;
const start = instant('start', o.start);
const rate = positive('rate', o.rate);
const duration = positive('duration', o.duration);
const batchSize = count('batch', o.batch);
const url = o.url === undefined ? undefined : httpUrl('url', o.url);

const devices = Array.from({ length: devicesCount }, (_, i) => createDevice(`sim-${String(i).padStart(4, '0')}`, preset, r, anomalyRate));
const stats = { sent: 0, accepted: 0, errors: 0, injected: 0, flagged: 0 };

/** The labelled stream's file, opened at once so that a bad path fails before anything is sent. */
function openOut(path: string) {
  let fd: number;
  try {
    mkdirSync(dirname(path), { recursive: true });
    fd = openSync(path, 'w');
  } catch (error) {
    throw fileProblem(path, error);
  }
  const stream = createWriteStream('', { fd });
  const done = finished(stream).catch((error: unknown) => {
    throw fileProblem(path, error);
  });
  done.catch(() => {}); // reported by close()
  return { path, write: (line: string) => stream.write(line), close: () => (stream.end(), done) };
}
type Out = ReturnType<typeof openOut>;

const record = (e: LabelledEvent, out: Out | undefined) => {
  stats.injected += Object.values(e.labels).filter((l) => l !== null).length;
  out?.write(`${JSON.stringify(e)}\n`);
};

/** Offline: a stream of simulated time from --start; nothing in it depends on the clock. */
async function writeOffline(out: Out): Promise<void> {
  const perDevice = events ?? OFFLINE_EVENTS;
  for (let k = 0; k < perDevice; k++) for (const d of devices) record(d.next(start + k * intervalMs), out);
  await out.close();
  const span = `${new Date(start).toISOString()} to ${new Date(start + (perDevice - 1) * intervalMs).toISOString()}`;
  console.log(`wrote ${perDevice * devicesCount} readings of ${devicesCount} devices (${preset}) to ${out.path}, simulated time ${span}; ${stats.injected} anomalous values labelled`);
}

async function post(url: string, headers: Record<string, string>, batch: LabelledEvent[]): Promise<void> {
  const single = batchSize === 1;
  try {
    const response = await fetch(single ? `${url}/ingest` : `${url}/ingest/batch`, {
      method: 'POST',
      headers,
      body: JSON.stringify(single ? toApiEvent(batch[0]!) : batch.map(toApiEvent)),
    });
    const body = (await response.json()) as { metrics?: Record<string, { anomaly: boolean }>; anomalies?: unknown[]; accepted?: number };
    if (response.status !== 202) stats.errors += batch.length;
    else {
      stats.accepted += single ? 1 : (body.accepted ?? 0);
      stats.flagged += single ? Object.values(body.metrics ?? {}).filter((m) => m.anomaly).length : (body.anomalies?.length ?? 0);
    }
  } catch {
    stats.errors += batch.length;
  }
  stats.sent += batch.length;
}

/** Live: readings stamped with the real time, sent at --rate in all, at most 64 requests in flight. */
async function sendLive(url: string, out: Out | undefined): Promise<void> {
  const total = events ?? Math.round(rate * duration);
  const headers: Record<string, string> = { 'content-type': 'application/json', ...(o.token ? { authorization: `Bearer ${o.token}` } : {}) };
  const inFlight = new Set<Promise<void>>();
  const started = Date.now();
  const progress = setInterval(() => {
    const s = Math.round((Date.now() - started) / 1000);
    console.log(`${s}s: sent ${stats.sent}/${total}, accepted ${stats.accepted}, errors ${stats.errors}, anomalies injected ${stats.injected}, flagged ${stats.flagged}`);
  }, 1000);
  try {
    let next = 0;
    while (next < total) {
      const due = Math.min(total, Math.floor(((Date.now() - started) / 1000) * rate));
      while (next < due) {
        const batch: LabelledEvent[] = [];
        for (let k = 0; k < batchSize && next < total; k++, next++) {
          const e = devices[next % devicesCount]!.next(Date.now());
          record(e, out);
          batch.push(e);
        }
        const p = post(url, headers, batch).finally(() => inFlight.delete(p));
        inFlight.add(p);
        if (inFlight.size >= 64) await Promise.race(inFlight);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await Promise.all(inFlight);
  } finally {
    clearInterval(progress);
  }
  await out?.close();
  console.log(
    `done in ${((Date.now() - started) / 1000).toFixed(1)} s: ${stats.sent} readings from ${devicesCount} devices (${preset}), ${stats.accepted} accepted, ` +
      `${stats.errors} errors, ${stats.injected} anomalous values injected, ${stats.flagged} flagged by the service` +
      (out ? `; labelled stream in ${out.path}` : ''),
  );
  if (stats.errors > 0) process.exitCode = 1;
}

await runCommand(async () => {
  if (url) await sendLive(url, o.out === undefined ? undefined : openOut(o.out));
  else await writeOffline(openOut(o.out ?? OFFLINE_OUT));
});
