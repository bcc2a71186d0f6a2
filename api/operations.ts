import type { Client } from '@temporalio/client';
import type { QueryDefinition } from '@temporalio/common';
import type { Pool } from 'pg';

// Started the same way outside the API (the control worker, catalog activities); the routes import them from here.
export { startOperation, type OperationStart, type OperationSubject } from '../common/operations';

/** "backup of web-01 to nas-1, quiesced": the Web UI's line for a backup (full or incremental is decided later, and shown in its details). */
export async function backupSummary(pool: Pool, vmName: string, repositoryId: string | null, o: { quiesce?: boolean; isolated?: boolean }): Promise<string> {
  const repo = repositoryId ? (await pool.query(`SELECT name FROM backup_repositories WHERE id = $1`, [repositoryId])).rows[0]?.name : undefined;
  return `${o.isolated ? 'isolated ' : ''}backup of ${vmName}${repo ? ` to ${repo}` : ''}${o.quiesce ? ', quiesced' : ''}`;
}

/** A VM's name (workflow ids name it) and where it is (the search attributes say so). */
export async function vmSite(pool: Pool, vmId: string): Promise<{ name: string; hostId: string; zone: string }> {
  const q = await pool.query(`SELECT v.name, v.host_id AS "hostId", z.name AS zone FROM vms v JOIN zones z ON z.id = v.zone_id WHERE v.id = $1`, [vmId]);
  return q.rows[0];
}

/**
 * `row` with, while its workflow runs, `progress`: the workflow's own answer to `query` (its phase) merged
 * with the details the first pending activity last heartbeated (e.g. bytes copied). When the workflow
 * cannot answer (closed meanwhile, or not yet picked up), the row as it is.
 */
export async function withLiveProgress<R extends object>(temporal: Client, row: R, workflowId: string, query: QueryDefinition<object>) {
  try {
    const handle = temporal.workflow.getHandle(workflowId);
    const [phase, desc] = await Promise.all([handle.query(query), handle.describe()]);
    const beat = (desc.raw.pendingActivities ?? []).map((a) => a.heartbeatDetails?.payloads?.[0]?.data).find(Boolean);
    return { ...row, progress: { ...phase, ...(beat ? JSON.parse(Buffer.from(beat).toString()) : {}) } };
  } catch {
    return row;
  }
}
