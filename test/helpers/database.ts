import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { REPO } from './paths';

const DEFAULT_ADMIN_URL = process.env.TEST_PG_ADMIN_URL ?? 'postgres://root@127.0.0.1:5432/postgres';

/** A fresh database for one test file, migrated with the project's own migrations; on the shared server unless adminUrl names another. */
export async function createTestDatabase(adminUrl = DEFAULT_ADMIN_URL): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `backflow_test_${randomBytes(4).toString('hex')}`;
  const admin = new Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = adminUrl.replace(/\/[^/]*$/, `/${name}`);
  await promisify(execFile)('npx', ['--no-install', 'node-pg-migrate', 'up', '-m', 'migrations', '--migration-file-language', 'sql', '-d', 'DATABASE_URL'], {
    cwd: REPO,
    env: { ...process.env, DATABASE_URL: url },
  });
  return {
    url,
    drop: async () => {
      const c = new Client({ connectionString: adminUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}
