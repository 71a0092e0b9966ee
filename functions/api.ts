import type { Context } from '../shared/context.js';
import { type Handler, type Route, type Routes, guarded } from '../shared/http/routes.js';
import { analyzeRoutes } from './analyze/routes.js';
import { ingestRoutes } from './ingest/routes.js';
import { statsRoutes } from './stats/routes.js';

/**
 * The all-in-one target for local runs: every path of the three functions on one port (the API of the
 * source services), plus GET /metrics. Each function's own root stays on its named path (/ingest, ...).
 */
export function apiRoutes(context: Context): Routes {
  const all: Record<string, Route> = {};
  // Ingest last: its health paths (ready only while Redis takes writes) are this target's, since it writes.
  for (const routes of [analyzeRoutes(context), statsRoutes(context), ingestRoutes(context)]) {
    for (const [path, route] of Object.entries(routes)) if (path !== '/') all[path] = route;
  }
  const metrics: Handler = async (_req, res) => {
    const { registry } = context.metrics;
    res.set('Content-Type', registry.contentType).send(await registry.metrics());
  };
  const index: Handler = (_req, res) => {
    res.json({ service: 'iot-metrics-analytics', paths: Object.keys(all).concat('/metrics').sort() });
  };
  return {
    ...all,
    '/': { GET: index, POST: all['/ingest']!.POST! },
    '/metrics': { GET: guarded(context.config.readTokens, metrics) },
  };
}
