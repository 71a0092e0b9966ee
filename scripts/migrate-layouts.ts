// The series states that earlier versions wrote (layouts v1 to v5), rewritten in the one layout the
// service reads (v6, shared/store/series-state.ts and the header of shared/store/lua/includes/series-state.lua). Only `npm run migrate`
// knows the old layouts: the service itself reads v6 alone.
import { BASELINE_FIELDS, HOURS } from '../shared/detector/baseline.js';
import { METRIC_NAME } from '../shared/schemas/names.js';
import type { StoredAnomaly } from '../shared/store/anomaly-record.js';
import { EPISODE_FIELDS, LAYOUT, SERIES_FIELDS, STATE_BYTES } from '../shared/store/series-state.js';

/** A state rewritten: the `state` field in v6 and, for v5's hour-of-day table, the `hours` field. */
export interface Rewritten {
  from: string;
  state: Buffer;
  hours?: Buffer;
}

const V1 = ['version', 'n', 'k', 's1', 's2', 'e1', 'e2', 'w', 'count', 'anomalies', 'refreshed', 'last', 'avg', 'z', 'anomaly', 'ts', 'updated'] as const;
const V3 = [
  ...V1, 'score', 'likelihood', 'sh', 'mu', 'v', 'lc', 'ep', 'start', 'calm', 'cool', 'episodes',
  'last_unusual', 'peak', 'peak_value', 'peak_at', 'open_value', 'open_score', 'open_likelihood', 'opened_at', 'same',
] as const;
/** v5 as first written: the baseline method's 9 numbers, 24 hour means and 24 counts, all doubles. */
const V5_WIDE = SERIES_FIELDS.length + BASELINE_FIELDS.length + 2 * HOURS;
const V6_DOUBLES = STATE_BYTES / 8;

const doubles = (packed: Buffer, from: number, count: number) => Array.from({ length: count }, (_, i) => packed.readDoubleLE(8 * (from + i)));
const named = (names: readonly string[], values: number[]) => Object.fromEntries(names.map((name, i) => [name, values[i]!]));

/** The v6 state from its series fields (by name), the baseline method's 12 numbers and the episode's fields (when one is open). */
function pack(series: Record<string, number>, baseline: number[], episode: number[] | undefined): Buffer {
  const values = [LAYOUT, ...SERIES_FIELDS.slice(1).map((name) => series[name] ?? 0), ...baseline, ...(episode ?? [])];
  const out = Buffer.alloc(8 * values.length);
  values.forEach((value, i) => out.writeDoubleLE(value, 8 * i));
  return out;
}

/** The baseline method's state when it starts: 9 zeros, no pending hour (-1), its mean and count. */
const NO_BASELINE = [...BASELINE_FIELDS.map(() => 0), -1, 0, 0];

/** v3 (and v2, and v1): what the v6 series fields can take from them. v3 kept the likelihood itself, not its d and variance: it reads 0.5 until the next value. */
function fromV3(packed: Buffer, version: number): Rewritten {
  const wide = packed.length === 8 * V3.length;
  const f = named(wide ? V3 : V1, doubles(packed, 0, wide ? V3.length : V1.length));
  if (version === 2) Object.assign(f, { sh: 0, mu: 0, v: 0, lc: 0 }); // v2's likelihood averaged another measure
  const series = { ...f, bits: f.anomaly! === 1 ? 1 : 0, d: 0, variance: 0 };
  const episode = f.ep === 1 ? EPISODE_FIELDS.map((name) => f[name] ?? 0) : undefined;
  return { from: `v${version}`, state: pack(series, NO_BASELINE, episode) };
}

/** v4, and v5 in both of its forms (the baseline method's hours inline as doubles, or its 12 numbers). */
function fromV4(packed: Buffer, version: number): Rewritten | undefined {
  const count = packed.length / 8;
  const base = SERIES_FIELDS.length;
  const form = [[base, base + 10, 'v4'], [V6_DOUBLES, V6_DOUBLES + 10, 'v5'], [V5_WIDE, V5_WIDE + 10, 'v5 (hours inline)']] as const;
  const match = form.find(([plain, open]) => count === plain || count === open);
  if (!match || (version === 4) !== (match[2] === 'v4')) return undefined;
  const [plain, , from] = match;
  const series = named(SERIES_FIELDS, doubles(packed, 0, base));
  const episode = count > plain ? doubles(packed, plain, 10) : undefined;
  if (from === 'v4') return { from, state: pack(series, NO_BASELINE, episode) };
  if (from === 'v5') return { from, state: pack(series, doubles(packed, base, V6_DOUBLES - base), episode) };
  const hours = Buffer.alloc(10 * HOURS);
  const table = doubles(packed, base + BASELINE_FIELDS.length, 2 * HOURS);
  table.forEach((value, i) => (i < HOURS ? hours.writeDoubleLE(value, 8 * i) : hours.writeUInt16LE(Math.min(value, 65_535), 8 * HOURS + 2 * (i - HOURS))));
  const numbers = [...doubles(packed, base, BASELINE_FIELDS.length), -1, 0, 0];
  return { from, state: pack(series, numbers, episode), hours };
}

/** A stored state in layout v6; 'current' when it already is; undefined when no layout of ours reads it. */
export function rewrite(packed: Buffer): Rewritten | 'current' | undefined {
  if (packed.length < 8 || packed.length % 8 !== 0) return undefined;
  const version = packed.readDoubleLE(0);
  if (version === LAYOUT) return packed.length === STATE_BYTES || packed.length === STATE_BYTES + 80 ? 'current' : undefined;
  if (version === 4 || version === 5) return fromV4(packed, version);
  if ((version === 2 || version === 3) && packed.length === 8 * V3.length) return fromV3(packed, version);
  if (version === 1 && packed.length === 8 * V1.length) return fromV3(packed, version);
  return undefined;
}

/** The JSON object a record of an earlier version holds; undefined for other text. */
function jsonObject(raw: Buffer): Record<string, unknown> | undefined {
  try {
    const json: unknown = JSON.parse(raw.toString());
    return typeof json === 'object' && json !== null && !Array.isArray(json) ? (json as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * An episode record kept as JSON (before layout v4) in the packed form the service reads (10 doubles,
 * shared/store/episode-record.ts): an open one's end and peak, which are read only once it closes, are
 * its opening; undefined when the text is no record of ours.
 */
export function packEpisode(raw: Buffer): Buffer | undefined {
  const json = jsonObject(raw);
  if (!json) return undefined;
  const number = (name: string, otherwise?: number) => (typeof json[name] === 'number' ? json[name] : otherwise);
  const start = number('start');
  const value = number('value');
  const score = number('score');
  const fields = [
    start, number('end', start), value, score, number('likelihood'), number('detected_at'),
    number('peak_score', score), number('peak_value', value), number('peak_at', start), number('closed_at', 0),
  ];
  if (fields.some((field) => field === undefined)) return undefined;
  const out = Buffer.alloc(80);
  fields.forEach((field, i) => out.writeDoubleLE(field!, 8 * i));
  return out;
}

/** A device's anomaly record kept as JSON (versions before the packed records); undefined when the text is no record of ours. */
export function anomalyOfJson(raw: Buffer): StoredAnomaly | undefined {
  const json = jsonObject(raw);
  if (!json) return undefined;
  const numbers = ['value', 'avg', 'timestamp', 'detected_at'].every((name) => typeof json[name] === 'number');
  const zscore = json.zscore === null || typeof json.zscore === 'number';
  if (!numbers || !zscore || typeof json.metric !== 'string' || !METRIC_NAME.test(json.metric)) return undefined;
  return json as unknown as StoredAnomaly;
}
