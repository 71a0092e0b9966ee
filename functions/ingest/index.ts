import { http } from '@google-cloud/functions-framework';
import { defaultContext } from '../../shared/context.js';
import { serve } from '../../shared/http.js';
import { ingestRoutes } from './routes.js';

http('ingest', serve('ingest', ingestRoutes(defaultContext())));
