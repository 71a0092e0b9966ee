import { http } from '@google-cloud/functions-framework';
import { defaultContext } from '../../shared/context.js';
import { serve } from '../../shared/http.js';
import { statsRoutes } from './routes.js';

http('stats', serve('stats', statsRoutes(defaultContext())));
