/** The store cannot answer now (Redis unreachable, too slow, loading, or its cluster is down): retry shortly. */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
  constructor(override readonly cause: unknown) {
    super(`the data store is unavailable: ${cause instanceof Error ? cause.message : String(cause)}`);
  }
}
