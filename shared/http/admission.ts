import { HttpError } from './errors.js';

/** Seconds an overloaded process asks a client to wait before it sends again. */
export const OVERLOADED_RETRY_SECONDS = 1;

/** Takes a share of the budget; resolves to its release once admitted, or rejects with a 503. */
export type Admit = (cost: number) => Promise<() => void>;

interface Waiting {
  readonly cost: number;
  readonly admit: () => void;
}

/**
 * Admission control by request bytes held at once in one process (MAX_INFLIGHT_BYTES): what a request
 * costs in memory grows with its body, so a process that admits bodies only while their sum fits keeps
 * its heap bounded whatever the concurrency. A request that does not fit waits, first come first
 * served, for at most `waitMs`, then is refused (503 `overloaded`, Retry-After) before anything of it
 * is read or written. A request larger than the whole budget is admitted alone.
 */
export function admission(budget: number, waitMs: number): Admit {
  let held = 0;
  const queue: Waiting[] = [];
  const drain = () => {
    while (queue.length > 0 && held + queue[0]!.cost <= budget) {
      const next = queue.shift()!;
      held += next.cost;
      next.admit();
    }
  };
  const release = (cost: number) => () => {
    held -= cost;
    drain();
  };
  return (requested) => {
    const cost = Math.min(requested, budget);
    if (queue.length === 0 && held + cost <= budget) {
      held += cost;
      return Promise.resolve(release(cost));
    }
    return new Promise((resolve, reject) => {
      const entry: Waiting = { cost, admit: () => (clearTimeout(timer), resolve(release(cost))) };
      const timer = setTimeout(() => {
        queue.splice(queue.indexOf(entry), 1);
        reject(overloaded(budget));
        drain();
      }, waitMs);
      queue.push(entry);
    });
  };
}

function overloaded(budget: number): HttpError {
  const message = `This instance is at its limit of ${budget} request bytes in flight; retry in ${OVERLOADED_RETRY_SECONDS} s`;
  return new HttpError(503, 'overloaded', message, { retry_after_seconds: OVERLOADED_RETRY_SECONDS }, { 'Retry-After': String(OVERLOADED_RETRY_SECONDS) });
}
