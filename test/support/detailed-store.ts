// A store with the detailed record beside it (shared/store/record-detailed.ts, not part of Store), for
// tests that compare every value's result; closed together.
import type { Config } from '../../shared/config/load.js';
import { type DetailedRecorder, createDetailedRecorder } from '../../shared/store/record-detailed.js';
import type { Store } from '../../shared/store/store.js';
import type { Metrics } from '../../shared/telemetry/metrics.js';

export type DetailedStore = Store & DetailedRecorder;

/** `store` and a detailed recorder of the same configuration, timed on `metrics` when given. */
export function withDetailed(store: Store, config: Config, metrics?: Pick<Metrics, 'redisTimer'>): DetailedStore {
  const detailed = createDetailedRecorder(config, metrics);
  return {
    ...store,
    recordDetailed: detailed.recordDetailed,
    async close() {
      await Promise.all([detailed.close(), store.close()]);
    },
  };
}
