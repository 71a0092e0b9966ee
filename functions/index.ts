import { http } from '@google-cloud/functions-framework';
import { defaultContext } from '../shared/context.js';
import { serve } from '../shared/http/pipeline.js';
import { observe, whenServed } from '../shared/telemetry/observe.js';
import { apiRoutes } from './api.js';
import './analyze/index.js';
import './ingest/index.js';
import './stats/index.js';

// The package entry point: registers ingest, analyze and stats, and the all-in-one `api`;
// FUNCTION_TARGET (or --target) picks the one to serve.
const context = defaultContext();
http('api', serve('api', apiRoutes(context)));
whenServed('api', () => observe('api', context, { seriesGauges: true }));
