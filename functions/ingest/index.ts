import { defineFunction } from '../../shared/function.js';
import { ingestRoutes } from './routes.js';

defineFunction('ingest', ingestRoutes, { seriesGauges: false, delivers: true });
