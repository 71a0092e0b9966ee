import { http } from '@google-cloud/functions-framework';
import { type Context, defaultContext } from './context.js';
import { serve } from './http/pipeline.js';
import { startDispatcher } from './outbox/dispatcher.js';
import type { Routes } from './http/routes.js';
import { warnIfEndOfLife } from './runtime.js';
import { observe, whenServed } from './telemetry/observe.js';

export interface FunctionOptions {
  /** Export the per-device gauges (read from Redis: METRICS_DEVICES and the top devices): one function per deployment does. */
  readonly seriesGauges: boolean;
  /** With K_SINK set, deliver the outboxes of anomaly events (the functions that write them do). */
  readonly delivers?: boolean;
}

/**
 * Registers a function with functions-framework behind the one request pipeline, and sets up its
 * reporting when it is the target this process serves. The only way a function is registered.
 */
export function defineFunction(name: string, routes: (context: Context) => Routes, options: FunctionOptions): void {
  const context = defaultContext();
  warnIfEndOfLife();
  http(name, serve(name, routes(context), context.config, context.metrics));
  whenServed(name, () => {
    observe(name, context, options);
    const { sinkUrl } = context.config;
    if (options.delivers && sinkUrl) startDispatcher(context.store.outbox, { ...context.config, sinkUrl }, context.metrics);
  });
}
