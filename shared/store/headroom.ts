/**
 * Readiness with hysteresis on Redis memory: a writer turns not ready when Redis reaches `high` of its
 * maxmemory and ready again only once it is back below `low`. Without the gap, a Redis at 99% (small
 * writes fit, larger ones are refused) would answer ready and not ready by turns, and probes seconds
 * apart would mostly see "ready" while most writes are refused.
 */
export interface Headroom {
  /** Takes a reading (used / maxmemory, 0 when Redis has no limit or evicts; undefined when unknown) and says whether headroom is short. */
  short(use: number | undefined): boolean;
}

/** One gate per store, so per process; an unknown reading keeps the last state. */
export function createHeadroom(high: number, low: number): Headroom {
  let short = false;
  return {
    short(use) {
      if (use === undefined) return short;
      short = short ? use >= low : use >= high;
      return short;
    },
  };
}
