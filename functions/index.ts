import { http } from '@google-cloud/functions-framework';
import { defaultContext } from '../shared/context.js';
import { serve } from '../shared/http.js';
import { apiRoutes } from './api.js';
import './analyze/index.js';
import './ingest/index.js';
import './stats/index.js';

// The package entry point: registers ingest, analyze and stats, and the all-in-one `api`;
// FUNCTION_TARGET (or --target) picks the one to serve.
http('api', serve('api', apiRoutes(defaultContext())));
