import { bearer } from '../../shared/http/auth.js';
import type { Context } from '../../shared/context.js';
import { healthRoutes } from '../../shared/http/health.js';
import type { Handler, Routes } from '../../shared/http/pipeline.js';
import { parseQuery } from '../../shared/http/parse.js';
import { AnalyzeQuery, AnomaliesQuery, DevicesQuery } from '../../shared/schemas/event.js';

export function analyzeRoutes(context: Context): Routes {
  const { config, store } = context;
  const detector = { window_size: config.windowSize, z_threshold: config.zThreshold, min_samples: config.minSamples };
  const anomaliesQuery = AnomaliesQuery(config.recentAnomalies);

  const analyze: Handler = async (req, res) => {
    const { device, metric } = parseQuery(AnalyzeQuery, req.query);
    res.json({ device_id: device, ...detector, series: await store.series(device, metric) });
  };

  const anomalies: Handler = async (req, res) => {
    const { limit, device } = parseQuery(anomaliesQuery, req.query);
    const [totals, recent] = await Promise.all([store.totals(), store.recentAnomalies(limit, device)]);
    res.json({ ...detector, total: totals.anomalies, per_metric: totals.per_metric, recent });
  };

  const devices: Handler = async (req, res) => {
    const { limit } = parseQuery(DevicesQuery, req.query);
    res.json({ devices: await store.devices(limit) });
  };

  const guard = bearer(config.readTokens);
  return {
    '/': { GET: guard(analyze) },
    '/analyze': { GET: guard(analyze) },
    '/anomalies': { GET: guard(anomalies) },
    '/devices': { GET: guard(devices) },
    ...healthRoutes(context),
  };
}
