import { defineFunction } from '../shared/function.js';
import { apiRoutes } from './api.js';
import './analyze/index.js';
import './ingest/index.js';
import './stats/index.js';

// The package entry point: registers ingest, analyze and stats, and the all-in-one `api`;
// FUNCTION_TARGET (or --target) picks the one to serve.
defineFunction('api', apiRoutes, { seriesGauges: true, delivers: true });
