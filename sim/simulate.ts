// npm run simulate -- [--url <ingest URL>] [--devices 10] [--rate 50] [--duration 60 | --events N]
//   [--batch 1] [--preset realistic|source] [--anomaly-rate 0.01] [--interval 10] [--out file.jsonl]
//   [--token T] [--seed 1]
// With --url: N virtual devices send readings at --rate events/s in all (single events, or batches of
// --batch), printing progress each second and a summary. Without --url: writes --events readings per
// device, --interval seconds of simulated time apart, to --out. Either way --out keeps the labelled stream.
import { createWriteStream } from 'node:fs';
import { parseArgs } from 'node:util';
import { rng } from '../support/random.js';
import { type LabelledEvent, PRESETS, type Preset, createDevice, toApiEvent } from './signals.js';

const { values: o } = parseArgs({
  options: {
    url: { type: 'string' },
    devices: { type: 'string', default: '10' },
    rate: { type: 'string', default: '50' },
    duration: { type: 'string', default: '60' },
    events: { type: 'string' },
    batch: { type: 'string', default: '1' },
    preset: { type: 'string', default: 'realistic' },
    'anomaly-rate': { type: 'string', default: '0.01' },
    interval: { type: 'string', default: '10' },
    out: { type: 'string' },
    token: { type: 'string' },
    seed: { type: 'string', default: '1' },
  },
});

const fail = (message: string): never => {
  console.error(message);
  process.exit(2);
};
const positive = (name: string, raw: string | undefined) => {
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) fail(`--${name} must be a number greater than 0 (got "${raw}")`);
  return n;
};
const preset = o.preset as Preset;
if (!PRESETS.includes(preset)) fail(`--preset must be one of ${PRESETS.join(', ')}`);
const devicesCount = Math.round(positive('devices', o.devices));
const batchSize = Math.round(positive('batch', o.batch));
const anomalyRate = Number(o['anomaly-rate']);
if (!(anomalyRate >= 0 && anomalyRate <= 1)) fail('--anomaly-rate must be between 0 and 1');
if (!o.url && !o.out) fail('give --url to send readings, --out to write them, or both');

const r = rng(Number(o.seed));
const devices = Array.from({ length: devicesCount }, (_, i) => createDevice(`sim-${String(i).padStart(4, '0')}`, preset, r, anomalyRate));
const out = o.out ? createWriteStream(o.out) : undefined;
const stats = { sent: 0, accepted: 0, errors: 0, injected: 0, flagged: 0 };
const record = (e: LabelledEvent) => {
  stats.injected += Object.values(e.labels).filter((l) => l !== null).length;
  out?.write(`${JSON.stringify(e)}\n`);
};

if (!o.url) {
  // Offline: a stream of simulated time, ending now.
  const perDevice = Math.round(positive('events', o.events ?? '1000'));
  const interval = positive('interval', o.interval) * 1000;
  const start = Date.now() - perDevice * interval;
  for (let k = 0; k < perDevice; k++) for (const d of devices) record(d.next(start + k * interval));
  out!.end();
  await new Promise<void>((resolve) => out!.on('finish', () => resolve()));
  console.log(`wrote ${perDevice * devicesCount} readings of ${devicesCount} devices (${preset}) to ${o.out}; ${stats.injected} anomalous values labelled`);
} else {
  const url = o.url.replace(/\/$/, '');
  const rate = positive('rate', o.rate);
  const total = o.events ? Math.round(positive('events', o.events)) : Math.round(rate * positive('duration', o.duration));
  const headers: Record<string, string> = { 'content-type': 'application/json', ...(o.token ? { authorization: `Bearer ${o.token}` } : {}) };
  const inFlight = new Set<Promise<void>>();
  let next = 0;
  const started = Date.now();

  const send = async (events: LabelledEvent[]) => {
    const single = batchSize === 1;
    try {
      const response = await fetch(single ? `${url}/ingest` : `${url}/ingest/batch`, {
        method: 'POST',
        headers,
        body: JSON.stringify(single ? toApiEvent(events[0]!) : events.map(toApiEvent)),
      });
      const body = (await response.json()) as { metrics?: Record<string, { anomaly: boolean }>; anomalies?: unknown[]; accepted?: number };
      if (response.status !== 202) stats.errors += events.length;
      else {
        stats.accepted += single ? 1 : (body.accepted ?? 0);
        stats.flagged += single ? Object.values(body.metrics ?? {}).filter((m) => m.anomaly).length : (body.anomalies?.length ?? 0);
      }
    } catch {
      stats.errors += events.length;
    }
    stats.sent += events.length;
  };

  const progress = setInterval(() => {
    const s = Math.round((Date.now() - started) / 1000);
    console.log(`${s}s: sent ${stats.sent}/${total}, accepted ${stats.accepted}, errors ${stats.errors}, anomalies injected ${stats.injected}, flagged ${stats.flagged}`);
  }, 1000);

  while (next < total) {
    const due = Math.min(total, Math.floor(((Date.now() - started) / 1000) * rate));
    while (next < due) {
      const events: LabelledEvent[] = [];
      for (let k = 0; k < batchSize && next < total; k++, next++) {
        const e = devices[next % devicesCount]!.next(Date.now());
        record(e);
        events.push(e);
      }
      const p = send(events).finally(() => inFlight.delete(p));
      inFlight.add(p);
      if (inFlight.size >= 64) await Promise.race(inFlight);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await Promise.all(inFlight);
  clearInterval(progress);
  out?.end();
  const seconds = (Date.now() - started) / 1000;
  console.log(
    `done in ${seconds.toFixed(1)} s: ${stats.sent} readings from ${devicesCount} devices (${preset}), ${stats.accepted} accepted, ` +
      `${stats.errors} errors, ${stats.injected} anomalous values injected, ${stats.flagged} flagged by the service` +
      (o.out ? `; labelled stream in ${o.out}` : ''),
  );
  process.exitCode = stats.errors > 0 ? 1 : 0;
}
