/** The store cannot answer now (Redis unreachable, too slow, loading, or its cluster is down): retry shortly. */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
  constructor(override readonly cause: unknown) {
    super(`the data store is unavailable: ${cause instanceof Error ? cause.message : String(cause)}`);
  }
}

/**
 * Redis refused a write because it is at `maxmemory` with a policy that does not evict (`noeviction`,
 * the default of most managed Redis): nothing of the refused call was written; retry once memory is
 * freed or raised.
 */
export class StoreFullError extends Error {
  override readonly name = 'StoreFullError';
  constructor(override readonly cause: unknown) {
    super(`the data store is full: ${cause instanceof Error ? cause.message : String(cause)}`);
  }
}
