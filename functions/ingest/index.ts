import { http } from '@google-cloud/functions-framework';
import { defaultContext } from '../../shared/context.js';
import { serve } from '../../shared/http/pipeline.js';
import { observe, whenServed } from '../../shared/telemetry/observe.js';
import { ingestRoutes } from './routes.js';

const context = defaultContext();
http('ingest', serve('ingest', ingestRoutes(context)));
whenServed('ingest', () => observe('ingest', context, { seriesGauges: false }));
