/**
 * The state hash of a series holds one field, `state`: little-endian doubles written by
 * shared/store/lua/record.lua with struct.pack (exact, and far cheaper for the script than text
 * fields). Layout v3 has 37 (the detection state after the window's); v2, the same fields with its
 * likelihood over another measure, and v1, 17, are still read.
 */
const V1 = [
  'version', 'n', 'k', 's1', 's2', 'e1', 'e2', 'w', 'count', 'anomalies', 'refreshed',
  'last', 'avg', 'z', 'anomaly', 'ts', 'updated',
] as const;
const FIELDS = [
  ...V1, 'score', 'likelihood', 'sh', 'mu', 'v', 'lc', 'ep', 'start', 'calm', 'cool', 'episodes',
  'last_unusual', 'peak', 'peak_value', 'peak_at', 'open_value', 'open_score', 'open_likelihood', 'opened_at', 'same',
] as const;
export const STATE_FIELD = 'state';

export type SeriesState = Record<(typeof FIELDS)[number], number>;

/** Decodes a packed state (a v1 one with a fresh detection state), or returns undefined for a missing value or an unknown layout. */
export function decodeState(packed: Buffer | null | undefined): SeriesState | undefined {
  if (!packed) return undefined;
  const layout = packed.length === V1.length * 8 ? V1 : FIELDS;
  const version = packed.length === layout.length * 8 ? packed.readDoubleLE(0) : 0;
  if (!(layout === V1 ? version === 1 : version === 2 || version === 3)) return undefined;
  const state = Object.fromEntries(FIELDS.map((name) => [name, 0])) as SeriesState;
  if (version === 1) state.likelihood = 0.5;
  layout.forEach((name, i) => {
    state[name] = packed.readDoubleLE(8 * i);
  });
  return state;
}
