/**
 * Monotonic cumulative sums (counters) stored as their rate per second since the previous point of the
 * same stream: a running total says nothing about the moment, its increase does, and a rate (unlike a
 * delta) stays right whichever instance saw the previous point (each instance keeps its own last points,
 * and a gap just spans a longer interval). The first point of a stream, and the first after a reset (a
 * new start time or a lower value), is a baseline only.
 */
export interface Rates {
  /** The rate since this stream's previous point, or undefined for a baseline. */
  next(stream: string, startMs: number, timeMs: number, value: number): number | undefined;
}

/** Streams remembered per process; past it the least recently updated is forgotten (~150 bytes each). */
export const MAX_STREAMS = 50_000;

/** The per-process memory of each stream's last point (its start time, time and value), bounded by `maxStreams`. */
export function cumulativeRates(maxStreams = MAX_STREAMS): Rates {
  const last = new Map<string, { start: number; time: number; value: number }>();
  return {
    next(stream, start, time, value) {
      const previous = last.get(stream);
      if (previous && time <= previous.time && start === previous.start) return undefined;
      last.delete(stream);
      last.set(stream, { start, time, value });
      if (last.size > maxStreams) last.delete(last.keys().next().value!);
      if (!previous || previous.start !== start || value < previous.value) return undefined;
      return ((value - previous.value) * 1000) / (time - previous.time);
    },
  };
}
