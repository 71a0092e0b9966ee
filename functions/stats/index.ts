import { defineFunction } from '../../shared/function.js';
import { statsRoutes } from './routes.js';

// Stats exports the series gauges (read from Redis), so that one function, not every pod, reads them.
defineFunction('stats', statsRoutes, { seriesGauges: true });
