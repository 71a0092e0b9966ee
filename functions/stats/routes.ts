import { bearer } from '../../shared/http/auth.js';
import type { Context } from '../../shared/context.js';
import { healthRoutes } from '../../shared/http/health.js';
import type { Handler, Routes } from '../../shared/http/pipeline.js';

export function statsRoutes(context: Context): Routes {
  const { config, store } = context;

  const stats: Handler = async (_req, res) => {
    const [totals, counts] = await Promise.all([store.totals(), store.counts()]);
    res.json({
      events: totals.events,
      anomalies: totals.anomalies,
      devices: counts.devices,
      series: counts.series,
      per_metric: totals.per_metric,
      config: {
        window_size: config.windowSize,
        z_threshold: config.zThreshold,
        min_samples: config.minSamples,
        max_batch: config.maxBatch,
        max_body_bytes: config.maxBodyBytes,
        series_ttl_seconds: config.seriesTtlSeconds,
        recent_anomalies: config.recentAnomalies,
      },
    });
  };

  const guard = bearer(config.readTokens);
  return { '/': { GET: guard(stats) }, '/stats': { GET: guard(stats) }, ...healthRoutes(context) };
}
