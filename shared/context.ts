import { type Config, configFromEnvOrExit } from './config/load.js';
import { type Store, createStore } from './store/store.js';
import { type Metrics, processMetrics } from './telemetry/metrics.js';

/** What a function needs to serve: its configuration, the store, and the metrics it counts on. */
export interface Context {
  readonly config: Config;
  readonly store: Store;
  readonly metrics: Metrics;
}

/**
 * A context on its own store (tests make one per configuration), counting on the process's metrics
 * unless given its own (createMetrics(): a test that reads them).
 */
export function createContext(config: Config, metrics: Metrics = processMetrics()): Context {
  return { config, store: createStore(config, metrics), metrics };
}

let processContext: Context | undefined;

/** The context of this process, built once from the environment (all targets share one Redis client). */
export function defaultContext(): Context {
  processContext ??= createContext(configFromEnvOrExit());
  return processContext;
}
