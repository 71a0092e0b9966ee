import { z } from 'zod';
import { DEFAULT_DEVICE, DeviceId, MetricName } from './names.js';

/** Query of GET /analyze. */
export const AnalyzeQuery = z.object({
  device: DeviceId.default(DEFAULT_DEVICE),
  metric: MetricName.optional(),
  history: z
    .enum(['true', 'false'], { error: 'must be true or false' })
    .default('false')
    .transform((v) => v === 'true'),
});
export type AnalyzeQuery = z.infer<typeof AnalyzeQuery>;

const Limit = (max: number, fallback: number) =>
  z
    .string()
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(1, 'must be at least 1').max(max, `must be at most ${max}`))
    .default(fallback);

/** Query of GET /anomalies. */
export const AnomaliesQuery = (maxLimit: number) =>
  z.object({
    limit: Limit(maxLimit, Math.min(50, maxLimit)),
    device: DeviceId.optional(),
  });
export type AnomaliesQuery = z.infer<ReturnType<typeof AnomaliesQuery>>;

/** Query of GET /devices. */
export const DevicesQuery = z.object({ limit: Limit(10_000, 100) });
export type DevicesQuery = z.infer<typeof DevicesQuery>;

/** Query of GET /stats: none. */
export const StatsQuery = z.object({});
