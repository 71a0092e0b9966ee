import type { Config } from '../config/load.js';
import type { Reading } from '../schemas/event.js';
import { type Metrics, processMetrics } from '../telemetry/metrics.js';
import { connect } from './connection.js';
import { type EventOutcome, eventOutcome } from './recorder.js';
import { type DeviceRun, type RunResult, runsByDevice } from './record-script.js';
import { type WritePath, apply, createWritePath } from './write-path.js';

/**
 * The detailed record, for tests and tools that compare every value's result (no function uses it): a
 * batch applied as recordBatch applies it, answered as a whole.
 */
export interface DetailedRecorder {
  /** Applies a batch and returns what became of every event (each value's full result); throws the first failed run's error. */
  recordDetailed(readings: readonly Reading[]): Promise<EventOutcome[]>;
}

/**
 * A detailed recorder on its own connection and write path, beside a store of the same configuration
 * (not part of Store: no function uses it). Its calls are timed on `metrics` (the process's unless given).
 */
export function createDetailedRecorder(config: Config, metrics: Pick<Metrics, 'redisTimer'> = processMetrics()): DetailedRecorder & { close(): Promise<void> } {
  const redis = connect(config);
  const w = createWritePath(redis, config, metrics.redisTimer);
  return {
    recordDetailed: (readings) => recordDetailed(w, readings),
    async close() {
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}

/** Applies a batch on the write path `w` and returns every event's outcome, in batch order; a failed run fails it whole. */
async function recordDetailed(w: WritePath, readings: readonly Reading[]): Promise<EventOutcome[]> {
  const runs = runsByDevice(readings);
  const { results } = await apply(w, readings, runs, 'full');
  return outcomes(readings.length, runs, throwIfFailed(results));
}

/** The results, or the first failure thrown (for callers that answer a request as a whole). */
function throwIfFailed(results: RunResult[]): RunResult[] {
  const failed = results.find((result) => result.kind === 'failed');
  if (failed) throw failed.error;
  return results;
}

/** What became of each event, from the results of the runs that hold them. */
function outcomes(count: number, runs: readonly DeviceRun[], results: readonly RunResult[]): EventOutcome[] {
  const out: EventOutcome[] = new Array(count);
  runs.forEach((run, r) => {
    const result = results[r]!;
    for (const index of run.events) out[index] = eventOutcome(result, index);
  });
  return out;
}
