import type { Reading } from '../schemas/event.js';
import { type BatchOutcome, batchOutcome } from './batch-outcome.js';
import { coalescer } from './coalescer.js';
import { type MetricResult, type RunResult, runsByDevice } from './record-script.js';
import { type WritePath, apply } from './write-path.js';

export type { BatchAlert, BatchAnomaly, BatchOutcome, Counted } from './batch-outcome.js';
export type { MetricResult } from './record-script.js';

/** What became of one event: applied (with its per-metric results), a duplicate of one applied before, or refused by the device's rate limit. */
export type EventOutcome =
  | { status: 'applied'; metrics: MetricResult[] }
  | { status: 'duplicate' }
  | { status: 'rate_limited'; retryAfterMs: number };

/** The write path as the functions use it. */
export interface Recorder {
  /**
   * Applies one event. The single events of one turn of the event loop share record calls; each still
   * gets its own outcome, and a failure of another device's run does not fail it.
   */
  recordOne(reading: Reading): Promise<EventOutcome>;
  /** Applies a batch (its devices share record calls, all in one round trip); returns its anomalies and refusals. */
  recordBatch(readings: readonly Reading[]): Promise<BatchOutcome>;
}

/**
 * The write path (shared/store/write-path.ts) behind the functions' two ways in: single events, coalesced
 * per turn of the event loop, and batches; replies become typed outcomes.
 */
export function createRecorder(w: WritePath): Recorder {
  return {
    recordOne: coalesced(w),
    recordBatch: async (readings) => {
      const runs = runsByDevice(readings);
      return batchOutcome(readings, runs, await apply(w, readings, runs, 'anomalies'));
    },
  };
}

/**
 * Single events, coalesced: those arriving in one turn of the event loop leave together, each as its
 * own run (so two events of one device are limited and checked for duplicates one after the other, as
 * two requests would be), and each request gets its own outcome or its own error.
 */
function coalesced(w: WritePath): (reading: Reading) => Promise<EventOutcome> {
  const turn = coalescer(
    (): Reading[] => [],
    (readings) => apply(w, readings, readings.flatMap((_, i) => runsByDevice(readings, [i])), 'full'),
  );
  return (reading) => {
    const { batch, done } = turn();
    const index = batch.push(reading) - 1;
    return done.then(({ results }) => eventOutcome(results[index]!, index));
  };
}

/** What became of the event at `index`, from the result of the run that holds it; a failed run's error is thrown. */
export function eventOutcome(result: RunResult, index: number): EventOutcome {
  if (result.kind === 'failed') throw result.error;
  if (result.kind === 'limited') return { status: 'rate_limited', retryAfterMs: result.retryAfterMs };
  if (result.duplicates.has(index)) return { status: 'duplicate' };
  return { status: 'applied', metrics: result.results.get(index)! };
}
