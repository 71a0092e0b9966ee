import { apiTime } from '../schemas/time.js';

/**
 * An alert episode as both lists in Redis hold it (the device's, written by record.lua, and the global
 * one, written by tally.lua): JSON with times in ms. Opened, it has `end: null` and no peak; a closing
 * replaces the record with the complete one.
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
