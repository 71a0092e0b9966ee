import type { Context } from '../../shared/context.js';
import { statsEcho } from '../../shared/config/load.js';
import { healthRoutes } from '../../shared/http/health.js';
import { parseQuery } from '../../shared/http/parse.js';
import { type Handler, type Routes, guarded } from '../../shared/http/routes.js';
import { StatsQuery } from '../../shared/schemas/query.js';

export function statsRoutes({ config, store }: Context): Routes {
  const stats: Handler = async (req, res) => {
    parseQuery(StatsQuery, req.query);
    const [totals, counts] = await Promise.all([store.totals(), store.counts()]);
    res.json({
      events: totals.events,
      anomalies: totals.anomalies,
      devices: counts.devices,
      series: counts.series,
      per_metric: totals.per_metric,
      config: statsEcho(config),
    });
  };

  const read = { GET: guarded(config.readTokens, stats) };
  return { '/': read, '/stats': read, ...healthRoutes(store, { writes: false }) };
}
