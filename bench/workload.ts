import type { BodyRequest } from './load.js';
import { type Rng, rng } from '../support/random.js';

const METRICS = [
  ['cpu', 50, 10],
  ['rps', 100, 15],
  ['memory', 55, 5],
  ['latency', 20, 4],
] as const;

function event(r: Rng, devices: number) {
  const out: Record<string, number | string> = { device_id: `device-${r.int(0, devices - 1)}` };
  const count = r.int(2, 4);
  for (const [name, level, spread] of METRICS.slice(0, count)) out[name] = Math.round((level + spread * r.gauss()) * 100) / 100;
  return out;
}

/** Single events of 2-4 metrics, devices drawn from `devices`. */
export function singleEvents(path: string, devices: number, count = 2000, seed = 1): BodyRequest[] {
  const r = rng(seed);
  return Array.from({ length: count }, () => ({ method: 'POST', path, body: JSON.stringify(event(r, devices)) }));
}

/** Batches of `size` events. */
export function batches(path: string, size: number, devices: number, count = 20, seed = 2): BodyRequest[] {
  const r = rng(seed);
  return Array.from({ length: count }, () => ({
    method: 'POST',
    path,
    body: JSON.stringify(Array.from({ length: size }, () => event(r, devices))),
  }));
}
