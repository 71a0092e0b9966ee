import { type Config, configFromEnvOrExit } from './config/load.js';
import { type Store, createStore } from './store/store.js';

/** What a function needs to serve: its configuration and the store. */
export interface Context {
  readonly config: Config;
  readonly store: Store;
}

/** A context on its own store (tests make one per configuration). */
export function createContext(config: Config): Context {
  return { config, store: createStore(config) };
}

let processContext: Context | undefined;

/** The context of this process, built once from the environment (all targets share one Redis client). */
export function defaultContext(): Context {
  processContext ??= createContext(configFromEnvOrExit());
  return processContext;
}
