import { apiTime } from '../schemas/time.js';

/**
 * An alert episode, times in ms, as read from Redis (parseEpisode) and carried by the outbox (JSON).
 * Opened, it has `end: null` and no peak; a closing replaces the record with the complete one.
 */
export interface StoredEpisode {
  device_id: string;
  metric: string;
  start: number;
  /** The last unusual value's time; null while the episode is open. */
  end: number | null;
  /** The value that opened the episode, its score and likelihood. */
  value: number;
  score: number;
  likelihood: number;
  detected_at: number;
  peak_score?: number;
  peak_value?: number;
  peak_at?: number;
  closed_at?: number;
}

/** An episode as the API shows it: times in ISO-8601, open or closed, the peak once closed. */
export interface EpisodeRecord {
  device_id: string;
  metric: string;
  status: 'open' | 'closed';
  start: string;
  end: string | null;
  value: number;
  score: number;
  likelihood: number;
  detected_at: string;
  peak: { score: number; value: number; at: string } | null;
  closed_at: string | null;
}

/** Bytes of a record as record.lua packs it: ten little-endian doubles (lua/includes/episode-notes.lua's header lists them). */
const PACKED_BYTES = 80;

/**
 * A record as the episode hashes hold it (the device's, written by record.lua, and the global one,
 * written by tally.lua), packed; undefined for another form (JSON, as versions before layout v4 kept
 * it: `npm run migrate` packs those). The device and metric are in the id: `<start>/<metric>` in the
 * device's hash, `<device>/<start>/<metric>` in the global one (neither contains a '/').
 */
export function parseEpisode(raw: Buffer, id: string, device?: string): StoredEpisode | undefined {
  if (raw.length !== PACKED_BYTES) return undefined;
  const parts = id.split('/');
  const d = (i: number) => raw.readDoubleLE(8 * i);
  const closedAt = d(9);
  const stored: StoredEpisode = {
    device_id: device ?? parts[0]!, metric: parts[parts.length - 1]!, start: d(0), end: closedAt > 0 ? d(1) : null,
    value: d(2), score: d(3), likelihood: d(4), detected_at: d(5),
  };
  if (closedAt > 0) Object.assign(stored, { peak_score: d(6), peak_value: d(7), peak_at: d(8), closed_at: closedAt });
  return stored;
}

/** The one conversion from the stored form to the API's. */
export function presentEpisode(stored: StoredEpisode): EpisodeRecord {
  const { device_id, metric, start, end, value, score, likelihood, detected_at, peak_score, peak_value, peak_at, closed_at } = stored;
  const closed = end !== null;
  return {
    device_id, metric, status: closed ? 'closed' : 'open', start: apiTime(start), end: closed ? apiTime(end) : null,
    value, score, likelihood, detected_at: apiTime(detected_at),
    peak: closed && peak_score !== undefined ? { score: peak_score, value: peak_value!, at: apiTime(peak_at!) } : null,
    closed_at: closed && closed_at !== undefined ? apiTime(closed_at) : null,
  };
}
