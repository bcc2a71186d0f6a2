import { Router } from 'express';
import type { ApiDeps } from '../deps';
import { caller } from '../auth';
import { conflict, notFound } from '../errors';
import { IdParams, parse } from '../validate';
import { rehashTargets, startRehashes } from '../../activities/control/hashes';
import { visibleBackup } from './backupAccess';

/**
 * "Verify now": a re-hash of one backup, or of every hashed backup of a VM, started at once instead of
 * at the next periodic round (owner or admin). 202 with the workflow ids; a re-hash already running
 * for a backup is joined, not doubled. What it finds shows on the backup (hashes[].verifiedAt, or
 * NotValid with the reason) and in listBackupServiceJobs (type BackupRehash).
 */
export function verifyRoutes({ pool, temporal }: ApiDeps) {
  const r = Router();

  r.post('/backups/:id/verify', async (req, res) => {
    const { id } = parse(IdParams, req, 'params');
    const b = await visibleBackup(pool, req, id);
    if (b.status !== 'BackedUp') throw conflict(`backup ${id} is ${b.status}: only a BackedUp backup has files to verify`, 'id');
    const targets = await rehashTargets(pool, { backupId: id });
    if (!targets.length) {
      const v = (await pool.query(`SELECT validation_status, validation_step FROM backups WHERE id = $1`, [id])).rows[0];
      throw conflict(v?.validation_status === 'NotValid' && v.validation_step === 'rehash'
        ? `backup ${id} is NotValid by a re-hash already`
        : `backup ${id} has no hashes yet: it is hashed once its compression and validation are done`, 'id');
    }
    const [started] = await startRehashes(temporal, targets);
    res.status(202).json(started);
  });

  r.post('/vms/:id/backups/verify', async (req, res) => {
    const { id } = parse(IdParams, req, 'params');
    const me = caller(req);
    const vm = (await pool.query(`SELECT account_id FROM vms WHERE id = $1`, [id])).rows[0];
    if (!vm || (me.role !== 'admin' && vm.account_id !== me.accountId)) throw notFound('vm', 'id');
    // A user re-hashes its own account's backups of the VM; an admin every account's.
    const started = await startRehashes(temporal, await rehashTargets(pool, { vmId: id, accountId: me.role === 'admin' ? null : me.accountId }));
    res.status(202).json({ vmId: id, started });
  });
  return r;
}
