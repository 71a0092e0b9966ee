/** The batch of one turn of the event loop, and what its flush will give. */
export interface Turn<B, R> {
  readonly batch: B;
  readonly done: Promise<R>;
}

/**
 * One batch per turn of the event loop: the turn's first call opens it and schedules `flush` (setImmediate);
 * every call of that turn gets the same batch to add to and the same promise of what `flush` returns.
 */
export function coalescer<B, R>(open: () => B, flush: (batch: B) => R | PromiseLike<R>): () => Turn<B, R> {
  let current: Turn<B, R> | undefined;
  return () => {
    if (current) return current;
    const batch = open();
    const done = new Promise((resolve) => setImmediate(resolve)).then(() => {
      current = undefined;
      return flush(batch);
    });
    current = { batch, done };
    return current;
  };
}
