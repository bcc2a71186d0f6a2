import express from 'express';
import type { ApiDeps } from './deps';
import { authenticate } from './auth';
import { errorHandler, notFoundRoute } from './errors';
import { rejectNul } from './rejectNul';
import { apiMetrics } from './metrics';
import { requestLog } from './requestLog';
import { healthRoutes } from './routes/health';
import { accountRoutes } from './routes/accounts';
import { backupRoutes } from './routes/backups';
import { settingRoutes } from './routes/settings';
import { providerRoutes } from './routes/providers';
import { repositoryRoutes } from './routes/repositories';
import { offeringRoutes } from './routes/offerings';
import { backupAssignmentRoutes } from './routes/backupAssignment';
import { restoreRoutes } from './routes/restores';
import { serviceJobRoutes } from './routes/serviceJobs';
import { hostRoutes } from './routes/hosts';
import { vmRoutes } from './routes/vms';
import { zoneRoutes } from './routes/zones';
import { scheduleRoutes } from './routes/schedules';
import { slaScheduleRoutes } from './routes/slaSchedules';
import { retentionRoutes } from './routes/retention';
import { syncRoutes } from './routes/sync';
import { alertRoutes } from './routes/alerts';
import { openApiRoutes } from './openapi/serve';
import { verifyRoutes } from './routes/verify';
import { validationRoutes } from './routes/validation';

/** The API: validates input, reads the catalog, starts/queries/signals workflows. */
export function createApp(deps: ApiDeps) {
  const app = express();
  app.disable('x-powered-by');
  const metrics = apiMetrics(deps.pool);
  app.use(requestLog(), metrics.timing);
  app.use(express.json({ limit: '1mb' }));
  // One place for every string of every route: PostgreSQL cannot store NUL, so it never gets that far.
  app.use(rejectNul);
  app.use(healthRoutes(deps));
  // The OpenAPI document and its page (no key); a new route is described in api/openapi/routes/.
  app.use(openApiRoutes());
  app.use(metrics.route);
  const v1 = express.Router();
  v1.use(authenticate(deps.pool));
  const routers = [
    accountRoutes, zoneRoutes, hostRoutes, vmRoutes,
    settingRoutes, providerRoutes, repositoryRoutes, offeringRoutes, backupAssignmentRoutes,
    backupRoutes, restoreRoutes, scheduleRoutes, slaScheduleRoutes, retentionRoutes, syncRoutes, serviceJobRoutes, alertRoutes, verifyRoutes, validationRoutes,
  ];
  for (const routes of routers) v1.use(routes(deps));
  app.use('/v1', v1);
  app.use(notFoundRoute);
  app.use(errorHandler);
  return app;
}
