import { http } from '@google-cloud/functions-framework';
import { defaultContext } from '../../shared/context.js';
import { serve } from '../../shared/http.js';
import { observe, whenServed } from '../../shared/observe.js';
import { ingestRoutes } from './routes.js';

const context = defaultContext();
http('ingest', serve('ingest', ingestRoutes(context)));
whenServed('ingest', () => observe('ingest', context, { seriesGauges: false }));
