/**
 * The state hash of a series holds one field, `state`: 17 little-endian doubles written by
 * shared/store/lua/record.lua with struct.pack (exact, and far cheaper for the script than 17 text fields).
 */
const FIELDS = [
  'version', 'n', 'k', 's1', 's2', 'e1', 'e2', 'w', 'count', 'anomalies', 'refreshed',
  'last', 'avg', 'z', 'anomaly', 'ts', 'updated',
] as const;
export const STATE_FIELD = 'state';

export type SeriesState = Record<(typeof FIELDS)[number], number>;

/** Decodes a packed state, or returns undefined for a missing value or an unknown layout. */
export function decodeState(packed: Buffer | null | undefined): SeriesState | undefined {
  if (!packed || packed.length !== FIELDS.length * 8 || packed.readDoubleLE(0) !== 1) return undefined;
  const state = {} as SeriesState;
  FIELDS.forEach((name, i) => {
    state[name] = packed.readDoubleLE(8 * i);
  });
  return state;
}
