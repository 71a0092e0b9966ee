import type { Context } from '../../shared/context.js';
import { detectorEcho } from '../../shared/detector/params.js';
import { healthRoutes } from '../../shared/http/health.js';
import { parseQuery } from '../../shared/http/parse.js';
import { type Handler, type Routes, guarded } from '../../shared/http/routes.js';
import { AnalyzeQuery, AnomaliesQuery, DevicesQuery } from '../../shared/schemas/query.js';

export function analyzeRoutes({ config, store }: Context): Routes {
  const detector = { detector_profile: config.detectorProfile, ...detectorEcho(config) };
  const anomaliesQuery = AnomaliesQuery(config.recentAnomalies);

  const analyze: Handler = async (req, res) => {
    const { device, metric, history } = parseQuery(AnalyzeQuery, req.query);
    res.json({ device_id: device, ...detector, series: await store.series(device, metric, history) });
  };

  const anomalies: Handler = async (req, res) => {
    const { limit, device } = parseQuery(anomaliesQuery, req.query);
    const [totals, recent, episodes] = await Promise.all([store.totals(), store.recentAnomalies(limit, device), store.recentEpisodes(limit, device)]);
    res.json({ ...detector, total: totals.anomalies, episodes: totals.episodes, per_metric: totals.per_metric, recent, recent_episodes: episodes });
  };

  const devices: Handler = async (req, res) => {
    const { limit } = parseQuery(DevicesQuery, req.query);
    res.json({ devices: await store.devices(limit) });
  };

  const read = (handler: Handler) => ({ GET: guarded(config.readTokens, handler) });
  return {
    '/': read(analyze),
    '/analyze': read(analyze),
    '/anomalies': read(anomalies),
    '/devices': read(devices),
    ...healthRoutes(store, { writes: false }),
  };
}
