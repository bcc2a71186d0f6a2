import { Router, type Request } from 'express';
import type { Pool } from 'pg';
import type { ApiDeps } from '../deps';
import { caller, type Caller } from '../auth';
import { badRequest, conflict, forbidden, HttpError, notFound } from '../errors';
import { IdParams, listResult, pageSql, parse } from '../validate';
import { newId, stableUuid } from '../../common/ids';
import {
  CreateVmFromBackupSchema, ListRestoresQuery, RestoreBackupSchema, RestoreVolumeSchema, type NewVmClaim, type RestoreWorkflowInput,
} from '../../common/schemas/restores';
import { inventoryWorkflowId } from '../../common/temporal';
import { startOperation, withLiveProgress } from '../operations';
import { restoreSummary } from '../../common/summaries';
import { syncNow } from '../../workflows/hostInventory';
import { createVmFromBackupWorkflow, restoreBackupWorkflow, restoreVolumeWorkflow } from '../../workflows';
import { restoreProgress } from '../../workflows/restoreCommon';
import { newVmClaim } from '../../workflows/createVmFromBackup';
import { visibleBackup } from './backupAccess';
import { finalizingInChain } from '../../activities/control/serviceJobs';
import { notValidInChain } from '../../activities/control/hashes';

const RESTORE_COLUMNS = `r.id, r.backup_id AS "backupId", r.source_vm_id AS "sourceVmId", r.target_vm_id AS "targetVmId", r.account_id AS "accountId",
  r.mode, r.quick, r.volume_target AS "volumeTarget", r.new_vm_name AS "newVmName", r.status, r.phase, r.bytes::float8 AS bytes, r.error,
  r.workflow_id AS "workflowId", r.created_at AS "createdAt", r.running_at AS "runningAt", r.finished_at AS "finishedAt", r.duration_ms AS "durationMs",
  r.forced_not_valid AS "forcedNotValid"`;

interface RestorableBackup { id: string; vmId: string; vmName: string; hostId: string; hostName: string; zoneId: string; zone: string; accountId: string | null; allowQuickRestore: boolean; provider: string; createdAt: Date }

/** The backup, if the caller may restore it: theirs, BackedUp, with data, not being deleted, and valid (or forced). */
async function restorableBackup(pool: Pool, req: Request, id: string, quick: boolean, force: boolean): Promise<RestorableBackup> {
  const b = await visibleBackup(pool, req, id);
  const row = (
    await pool.query(
      `SELECT b.id, b.vm_id AS "vmId", v.name AS "vmName", v.host_id AS "hostId", h.name AS "hostName", v.zone_id AS "zoneId", z.name AS zone,
              b.account_id AS "accountId", b.provider, COALESCE(o.allow_quick_restore, false) AS "allowQuickRestore", b.created_at AS "createdAt",
              (SELECT operation FROM vm_locks l WHERE l.vm_id = b.vm_id) AS "lockedFor"
       FROM backups b JOIN vms v ON v.id = b.vm_id JOIN hosts h ON h.id = v.host_id JOIN zones z ON z.id = v.zone_id
       LEFT JOIN backup_offerings o ON o.id = b.offering_id WHERE b.id = $1`,
      [b.id],
    )
  ).rows[0];
  if (b.status !== 'BackedUp') throw conflict(`backup ${id} is ${b.status}: only a BackedUp backup can be restored`, 'id');
  if (row.provider === 'dummy') throw conflict(`backup ${id} was recorded by the dummy provider and holds no data`, 'id');
  const finalizing = await finalizingInChain(pool, b.id);
  if (finalizing) throw conflict(`backup ${finalizing} of this backup's chain is FinalizingCompression: its files are being replaced; restore when that is done`, 'id');
  if (row.lockedFor === 'delete backup') throw conflict(`a backup of this VM is being deleted; try again when it is done`, 'id');
  if (quick && !row.allowQuickRestore) throw badRequest('body.quickRestore', "the backup's offering does not allow quick restore");
  const notValid = await notValidInChain(pool, b.id);
  if (notValid && !force) {
    const which = notValid.id === b.id ? `backup ${id} is NotValid` : `backup ${notValid.id} of this backup's chain is NotValid`;
    throw conflict(`${which} (${notValid.step}: ${notValid.reason}); restore it anyway with force: true`, 'body.force');
  }
  return row;
}

/**
 * A restore onto an existing VM needs the caller to be allowed on that VM *now* (root admins, or the
 * VM's current account), whoever took the backup: after an admin gives a VM to another account, its
 * former owner keeps (and sees) the backups it took, but can restore them only into a new VM or as a
 * volume of one of its own VMs.
 */
function requireVmNow(me: Caller, vm: { accountId: string | null }, vmName: string) {
  if (me.role !== 'admin' && vm.accountId !== me.accountId) {
    throw forbidden(`VM ${vmName} is not your account's now: restore this backup into a new VM or as a volume of a VM of yours`, 'id');
  }
}

/** The same answer whoever's VM, domain or file holds the name, so nothing about other accounts leaks. */
const nameUnavailable = (name: string) => conflict(`the name ${name} is not available on the backup's host: choose another`, 'body.name');

/** Waits for the create-vm workflow to claim the new VM's name and paths on the host. */
async function awaitNewVmClaim(deps: ApiDeps, workflowId: string): Promise<NewVmClaim> {
  const handle = deps.temporal.workflow.getHandle(workflowId);
  try {
    return await handle.executeUpdate(newVmClaim);
  } catch {
    // The workflow may have closed first (refused, or done before: the same requestId again).
    try {
      const result = await handle.result();
      return result.status === 'Refused' ? { claimed: false, taken: 'name' } : { claimed: true };
    } catch (e) {
      throw new HttpError(503, `the backup's host could not check the new VM's name and disk paths: ${(e as Error).message}`, 'id');
    }
  }
}

/** Asks the host for the VM states now, so a check on them is not answered from a stale catalog. */
async function refreshHost(deps: ApiDeps, hostName: string) {
  try {
    await deps.temporal.workflow.getHandle(inventoryWorkflowId(hostName)).executeUpdate(syncNow);
  } catch {
    /* the workflow re-checks on the host anyway */
  }
}

/** The account a restore workflow re-checks the target VM against (null: a root admin, no check). */
const callerScope = (me: Caller) => (me.role === 'admin' ? null : me.accountId);

export function restoreRoutes(deps: ApiDeps) {
  const { pool, temporal } = deps;
  const r = Router();

  const start = async (
    workflow: typeof restoreBackupWorkflow, prefix: string, operation: string, b: RestorableBackup, input: Omit<RestoreWorkflowInput, 'restoreId'>,
  ) => {
    const restoreId = input.requestId ? stableUuid('restore', b.id, operation, input.requestId) : newId();
    const workflowId = `${prefix}-${b.vmName}-${restoreId}`;
    await startOperation(temporal, workflow, {
      workflowId,
      input: { ...input, restoreId },
      subject: { operation, vmId: input.targetVmId ?? b.vmId, backupId: b.id, hostId: b.hostId, zone: b.zone },
      summary: restoreSummary(b.vmName, b.createdAt, input),
    });
    return { restoreId, workflowId };
  };

  /** restoreBackup: in place; the VM must be stopped (or gone, then it is redefined from the backup). */
  r.post('/backups/:id/restore', async (req, res) => {
    const { id } = parse(IdParams, req, 'params');
    const body = parse(RestoreBackupSchema, req, 'body');
    const b = await restorableBackup(pool, req, id, body.quickRestore, body.force);
    const me = caller(req);
    const vmRow = async () => (await pool.query(`SELECT state, account_id AS "accountId" FROM vms WHERE id = $1`, [b.vmId])).rows[0];
    let vm = await vmRow();
    requireVmNow(me, vm, b.vmName);
    // A quick restore asks the host (a whole inventory round) only when the catalog says the VM runs,
    // which may be stale: a stopped one goes straight on, and the workflow checks on the host before it
    // touches a disk (VmRunning), so the VM can run within a second or two of the request.
    const stopped = (state: string) => ['Stopped', 'Removed', 'Restoring'].includes(state);
    if (!body.quickRestore || !stopped(vm.state)) {
      await refreshHost(deps, b.hostName);
      vm = await vmRow();
    }
    if (!stopped(vm.state)) {
      throw conflict(`VM ${b.vmName} is ${vm.state}: stop it before restoring a backup in place`, 'id');
    }
    const mode = body.quickRestore ? 'quick' : 'in_place';
    // The restore is the VM's current account's (who sees it in GET /v1/restores).
    const out = await start(restoreBackupWorkflow, 'restore', 'restore', b, {
      backupId: b.id, mode, quick: body.quickRestore, accountId: vm.accountId, callerAccountId: callerScope(me), requestId: body.requestId, force: body.force,
    });
    res.status(202).json(out);
  });

  /** restoreVolumeFromBackupAndAttachToVM. */
  r.post('/backups/:id/restore-volume', async (req, res) => {
    const { id } = parse(IdParams, req, 'params');
    const body = parse(RestoreVolumeSchema, req, 'body');
    const b = await restorableBackup(pool, req, id, body.quickRestore, body.force);
    const me = caller(req);
    const vm = (await pool.query(`SELECT id, zone_id, account_id, removed_at FROM vms WHERE id = $1`, [body.vmId])).rows[0];
    if (!vm || vm.removed_at || (me.role !== 'admin' && vm.account_id !== me.accountId)) throw notFound('vm', 'body.vmId');
    if (vm.zone_id !== b.zoneId) throw badRequest('body.vmId', "the VM is in another zone than the backup's repository");
    const disk = await pool.query(`SELECT 1 FROM backup_disks WHERE backup_id = $1 AND target = $2`, [b.id, body.volumeTarget]);
    if (!disk.rowCount) throw badRequest('body.volumeTarget', `backup ${b.id} has no disk ${body.volumeTarget}`);
    const out = await start(restoreVolumeWorkflow, 'restore-volume', 'restore-volume', b, {
      backupId: b.id, mode: 'volume', quick: body.quickRestore, targetVmId: body.vmId, volumeTarget: body.volumeTarget,
      accountId: vm.account_id, callerAccountId: callerScope(me), requestId: body.requestId, force: body.force,
    });
    res.status(202).json(out);
  });

  /** createVMFromBackup. */
  r.post('/backups/:id/create-vm', async (req, res) => {
    const { id } = parse(IdParams, req, 'params');
    const body = parse(CreateVmFromBackupSchema, req, 'body');
    const b = await restorableBackup(pool, req, id, false, body.force);
    const me = caller(req);
    const taken = await pool.query(`SELECT 1 FROM vms WHERE host_id = $1 AND name = $2 AND removed_at IS NULL`, [b.hostId, body.name]);
    if (taken.rowCount) throw nameUnavailable(body.name);
    // The new VM is the backup's account's, like the backup.
    const out = await start(createVmFromBackupWorkflow, 'create-vm-from-backup', 'create-vm-from-backup', b, {
      backupId: b.id, mode: 'new_vm', quick: false, newVmName: body.name, accountId: b.accountId, callerAccountId: callerScope(me),
      requestId: body.requestId, force: body.force,
    });
    // The host checks that no domain and no file holds the name or a disk path, and claims them, before the answer.
    if (!(await awaitNewVmClaim(deps, out.workflowId)).claimed) throw nameUnavailable(body.name);
    res.status(202).json(out);
  });

  r.get('/restores', async (req, res) => {
    const q = parse(ListRestoresQuery, req, 'query');
    const me = caller(req);
    const { limit, offset } = pageSql(q);
    const rows = await pool.query(
      `SELECT ${RESTORE_COLUMNS}, count(*) OVER() AS total FROM restores r
       WHERE ($1::uuid IS NULL OR r.account_id = $1) AND ($2::uuid IS NULL OR r.backup_id = $2)
         AND ($3::uuid IS NULL OR r.source_vm_id = $3 OR r.target_vm_id = $3) AND ($4::text IS NULL OR r.status = $4)
       ORDER BY r.created_at DESC LIMIT $5 OFFSET $6`,
      [me.role === 'admin' ? null : me.accountId, q.backupId ?? null, q.vmId ?? null, q.status ?? null, limit, offset],
    );
    res.json(listResult(rows.rows.map(({ total, ...x }) => x), Number(rows.rows[0]?.total ?? 0), q));
  });

  /** One restore; while it runs, with its phase and the copy's or pull's progress from heartbeats. */
  r.get('/restores/:id', async (req, res) => {
    const { id } = parse(IdParams, req, 'params');
    const me = caller(req);
    const row = (await pool.query(`SELECT ${RESTORE_COLUMNS} FROM restores r WHERE r.id = $1`, [id])).rows[0];
    if (!row || (me.role !== 'admin' && row.accountId !== me.accountId)) throw notFound('restore', 'id');
    if (!['Running', 'Consolidating'].includes(row.status)) return res.json(row);
    res.json(await withLiveProgress(temporal, row, row.workflowId, restoreProgress));
  });
  return r;
}
