import type { RouteDoc } from './registry';
import { accountRoutes, platformRoutes } from './routes/platform';
import { inventoryRoutes } from './routes/inventory';
import { frameworkRoutes } from './routes/framework';
import { backupRoutes } from './routes/backups';
import { scheduleRoutes } from './routes/schedules';
import { jobRoutes } from './routes/jobs';

/** Every route the API serves; test/e2e/openapi.test.ts fails when this and the Express app differ. */
export const ROUTES: RouteDoc[] = [
  ...platformRoutes, ...accountRoutes, ...inventoryRoutes, ...frameworkRoutes, ...backupRoutes, ...scheduleRoutes, ...jobRoutes,
];
