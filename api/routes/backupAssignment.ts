import { Router } from 'express';
import { deleteVmBackupsWorkflow } from '../../workflows/deleteVmBackups';
import type { PoolClient } from 'pg';
import { z } from 'zod';
import type { ApiDeps } from '../deps';
import { caller, type Caller } from '../auth';
import { badRequest, conflict, notFound } from '../errors';
import { IdParams, parse } from '../validate';
import { frameworkDisabled, notOpenToVmDomain, OFFERING_COLUMNS, offeringOpenToDomain, zoneFramework, type BackupOffering } from '../backupPolicy';
import { inTransaction } from '../../common/db';
import { AssignOfferingSchema, RemoveOfferingQuery } from '../../common/schemas/assignment';
import { startOperation, vmSite } from '../operations';
import { deleteVmSchedules } from '../../activities/control/schedules';

/**
 * For removeVirtualMachineFromBackupOffering with forced=true: deletes the VM's backups of one account
 * (null: of every account) through the delete workflows, and returns once they are gone.
 */
export async function deleteAllBackupsOfVm(deps: ApiDeps, vmId: string, accountId: string | null): Promise<void> {
  const vm = await vmSite(deps.pool, vmId);
  const handle = await startOperation(deps.temporal, deleteVmBackupsWorkflow, {
    workflowId: `delete-vm-backups-${vm.name}-${vmId}-${accountId ?? 'all'}`,
    input: { vmId, accountId },
    subject: { operation: 'delete-vm-backups', vmId, hostId: vm.hostId, zone: vm.zone },
    summary: `delete ${accountId ? "one account's" : 'all'} backups of ${vm.name}`,
  });
  await handle.result();
}

/** forced=true deletes the caller's account's backups of the VM; a root admin says whose: an account id, or "all". */
export const RemoveQuery = RemoveOfferingQuery.extend({ accountId: z.union([z.guid(), z.literal('all')]).optional() });

interface VmRow { id: string; name: string; zoneId: string; accountId: string | null; removedAt: Date | null; offeringId: string | null }

/** Locks the VM's row; 404 (field id) when it is unknown or, for a user, not theirs. */
async function lockVisibleVm(c: PoolClient, id: string, me: Caller): Promise<VmRow> {
  const v = await c.query(
    `SELECT id, name, zone_id AS "zoneId", account_id AS "accountId", removed_at AS "removedAt", backup_offering_id AS "offeringId"
     FROM vms WHERE id = $1 FOR UPDATE`,
    [id],
  );
  const vm: VmRow | undefined = v.rows[0];
  // Another account's VM is reported as not found, so its existence does not leak.
  if (!vm || (me.role !== 'admin' && vm.accountId !== me.accountId)) throw notFound('vm', 'id');
  return vm;
}

/** The VM's backups that still exist, of one account (null: of all). */
async function activeBackupCount(c: PoolClient, vmId: string, accountId: string | null): Promise<number> {
  const t = await c.query(`SELECT to_regclass('public.backups') IS NOT NULL AS present`);
  if (!t.rows[0].present) return 0;
  const r = await c.query(`SELECT count(*)::int AS n FROM backups WHERE vm_id = $1 AND status <> 'Expunged' AND ($2::uuid IS NULL OR account_id = $2)`, [
    vmId, accountId,
  ]);
  return r.rows[0].n;
}

/** assignVirtualMachineToBackupOffering and removeVirtualMachineFromBackupOffering. */
export function backupAssignmentRoutes(deps: ApiDeps) {
  const { pool } = deps;
  const r = Router();

  /**
   * Assigns the VM to an offering of its zone. Users: only their own VMs, only offerings open to them.
   * The framework must be enabled in the zone, and the offering's provider be the zone's.
   */
  r.post('/vms/:id/backup-offering', async (req, res) => {
    const { id } = parse(IdParams, req, 'params');
    const body = parse(AssignOfferingSchema, req, 'body');
    const me = caller(req);
    const out = await inTransaction(pool, async (c) => {
      const vm = await lockVisibleVm(c, id, me);
      if (vm.removedAt) throw conflict(`vm ${vm.name} is removed`, 'id');
      const fw = await zoneFramework(c, vm.zoneId, 'id');
      if (!fw.enabled) throw frameworkDisabled(fw.zoneName, 'id');

      const o = await c.query(`SELECT ${OFFERING_COLUMNS} FROM backup_offerings o JOIN zones oz ON oz.id = o.zone_id WHERE o.id = $1 FOR SHARE OF o`, [
        body.offeringId,
      ]);
      const offering: BackupOffering | undefined = o.rows[0];
      // An offering not open to a user is, to them, not there.
      if (!offering || (me.role !== 'admin' && !(await offeringOpenToDomain(c, offering.id, me.domainId)))) {
        throw notFound('backup offering', 'body.offeringId');
      }
      if (offering.zoneId !== vm.zoneId) throw badRequest('body.offeringId', `the offering is in zone ${offering.zone}, the vm in zone ${fw.zoneName}`);
      if (offering.provider !== fw.provider) {
        throw conflict(
          `offering ${offering.name} is of provider ${offering.provider}, but zone ${fw.zoneName} uses ${fw.provider} (backup.framework.provider.plugin)`,
          'body.offeringId',
        );
      }
      // Whoever assigns it, the offering must be open to the domain of the VM's account.
      if (vm.accountId) {
        const acct = await c.query(`SELECT domain_id FROM accounts WHERE id = $1`, [vm.accountId]);
        if (acct.rowCount && !(await offeringOpenToDomain(c, offering.id, acct.rows[0].domain_id))) {
          throw notOpenToVmDomain(offering.name, 'body.offeringId');
        }
      }
      if (vm.offeringId && vm.offeringId !== offering.id) {
        throw conflict(`vm ${vm.name} is already assigned to another backup offering: remove it from that one first`, 'body.offeringId');
      }
      if (!vm.offeringId) await c.query(`UPDATE vms SET backup_offering_id = $2, updated_at = now() WHERE id = $1`, [vm.id, offering.id]);
      return { vmId: vm.id, vmName: vm.name, offeringId: offering.id, offering };
    });
    res.json(out);
  });

  /**
   * Removes the VM from its offering. Refused (409) while the VM has backups of the caller's account
   * (root admins: of any account, or of `accountId`), unless forced=true, which first deletes those, and
   * only those: a user never deletes another account's backups (e.g. a former owner's), and a root admin
   * says whose (`accountId`: an account id, or "all"). Other accounts' backups stay, restorable.
   */
  r.delete('/vms/:id/backup-offering', async (req, res) => {
    const { id } = parse(IdParams, req, 'params');
    const q = parse(RemoveQuery, req, 'query');
    const me = caller(req);
    let scope: string | null;
    if (me.role === 'admin') scope = q.accountId === undefined || q.accountId === 'all' ? null : q.accountId;
    else if (q.accountId === undefined || q.accountId === me.accountId) scope = me.accountId;
    else throw badRequest('query.accountId', "users remove their own account's backups only");
    const check = async (c: PoolClient) => {
      const vm = await lockVisibleVm(c, id, me);
      if (!vm.offeringId) throw conflict(`vm ${vm.name} is not assigned to a backup offering`, 'id');
      const fw = await zoneFramework(c, vm.zoneId, 'id');
      if (!fw.enabled) throw frameworkDisabled(fw.zoneName, 'id');
      return { vm, backups: await activeBackupCount(c, vm.id, scope) };
    };
    const first = await inTransaction(pool, check);
    if (first.backups > 0) {
      if (!q.forced) {
        throw conflict(`vm ${first.vm.name} has ${first.backups} backup(s): delete them first, or remove with forced=true to delete them all`, 'query.forced');
      }
      if (me.role === 'admin' && q.accountId === undefined) {
        throw badRequest('query.accountId', 'say whose backups forced removal deletes: an account id, or "all"');
      }
      // Protected backups are never deleted, forced or not (issue 11).
      const kept = await pool.query(
        `SELECT count(*)::int AS n FROM backups WHERE vm_id = $1 AND protected AND status <> 'Expunged' AND ($2::uuid IS NULL OR account_id = $2)`,
        [first.vm.id, scope],
      );
      if (kept.rows[0].n > 0) throw conflict(`vm ${first.vm.name} has ${kept.rows[0].n} protected backup(s): unprotect them first`, 'query.forced');
    }
    // Off its offering, the VM has no scheduled backups any more (from Temporal and the catalog).
    await deleteVmSchedules(pool, deps.temporal, first.vm.id);
    if (first.backups > 0) await deleteAllBackupsOfVm(deps, first.vm.id, scope);
    const out = await inTransaction(pool, async (c) => {
      const { vm, backups } = await check(c);
      if (backups > 0) throw conflict(`vm ${vm.name} has ${backups} backup(s) still: try again once they are deleted`, 'query.forced');
      await c.query(`UPDATE vms SET backup_offering_id = NULL, updated_at = now() WHERE id = $1`, [vm.id]);
      return { vmId: vm.id, vmName: vm.name, offeringId: null, removedOfferingId: vm.offeringId };
    });
    res.json(out);
  });
  return r;
}
