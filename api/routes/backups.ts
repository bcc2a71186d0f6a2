import { Router } from 'express';
import type { ApiDeps } from '../deps';
import { caller } from '../auth';
import { checkBackupAllowed } from '../backupPolicy';
import { conflict, notFound } from '../errors';
import { IdParams, listResult, pageSql, parse } from '../validate';
import { CreateBackupSchema, DeleteBackupQuery, ListBackupsQuery } from '../../common/schemas/backups';
import { newId, stableUuid } from '../../common/ids';
import { backupSummary, startOperation, vmSite, withLiveProgress } from '../operations';
import { backupProgress, createBackupWorkflow } from '../../workflows/backup';
import { deleteBackupWorkflow } from '../../workflows/deleteBackup';
import { visibleBackup } from './backupAccess';

export const BACKUP_COLUMNS = `b.id, b.vm_id AS "vmId", v.name AS "vmName", b.account_id AS "accountId", b.zone_id AS "zoneId", b.host_id AS "hostId",
  b.offering_id AS "offeringId", b.repository_id AS "repositoryId", b.provider, b.name, b.description, b.request_id AS "requestId",
  b.status, b.type, b.parent_id AS "parentId", b.chain_id AS "chainId", b.chain_position AS "chainPosition", b.checkpoint,
  b.full_reason AS "fullReason", b.isolated, b.quiesce, b.quiesced, b.freeze_ms AS "freezeMs", b.size_bytes::float8 AS "sizeBytes",
  b.virtual_size::float8 AS "virtualSize", b.duration_ms AS "durationMs", b.hidden, b.error,
  b.schedule_id AS "scheduleId", b.protected, b.workflow_id AS "workflowId",
  b.created_at AS "createdAt", b.started_at AS "startedAt", b.finished_at AS "finishedAt",
  b.compression_status AS "compressionStatus", b.uncompressed_size::float8 AS "uncompressedSize", b.compression_error AS "compressionError",
  b.validation_status AS "validationStatus", b.validation_step AS "validationStep", b.validation_output AS "validationOutput",
  b.validation_error AS "validationError", b.validated_at AS "validatedAt", (b.validation_screenshot IS NOT NULL) AS "hasValidationScreenshot",
  COALESCE((SELECT json_agg(json_build_object('target', h.target, 'algorithm', h.algorithm, 'hash', h.hash, 'hashedAt', h.hashed_at,
            'verifiedAt', h.verified_at) ORDER BY h.target) FROM backup_file_hashes h WHERE h.backup_id = b.id), '[]') AS hashes,
  COALESCE((SELECT json_agg(json_build_object('target', d.target, 'file', d.file, 'sourcePath', d.source_path,
            'sizeBytes', d.size_bytes::float8, 'virtualSize', d.virtual_size::float8, 'sourceFormat', d.source_format,
            'fullReason', d.full_reason) ORDER BY d.target)
            FROM backup_disks d WHERE d.backup_id = b.id), '[]') AS disks`;

export function backupRoutes({ pool, temporal }: ApiDeps) {
  const r = Router();

  /** createBackup: starts the backup workflow; the same requestId for the same VM gives the same backup. */
  r.post('/backups', async (req, res) => {
    const body = parse(CreateBackupSchema, req, 'body');
    const me = caller(req);
    const allowed = await checkBackupAllowed(pool, { vmId: body.vmId, caller: me, userDriven: true });
    const backupId = body.requestId ? stableUuid('backup-request', body.vmId, body.requestId) : newId();
    const workflowId = `backup-${allowed.vm.name}-${backupId}`;
    await startOperation(temporal, createBackupWorkflow, {
      workflowId,
      input: { ...body, backupId, accountId: allowed.vm.accountId ?? null },
      subject: { operation: 'backup', vmId: body.vmId, backupId, hostId: allowed.vm.hostId, zone: allowed.zoneName },
      summary: await backupSummary(pool, allowed.vm.name, allowed.offering.repositoryId, body),
    });
    res.status(202).json({ backupId, workflowId });
  });

  r.get('/backups', async (req, res) => {
    const q = parse(ListBackupsQuery, req, 'query');
    const me = caller(req);
    const { limit, offset } = pageSql(q);
    const rows = await pool.query(
      `SELECT ${BACKUP_COLUMNS}, count(*) OVER() AS total FROM backups b JOIN vms v ON v.id = b.vm_id
       WHERE b.status <> 'Expunged' AND NOT b.hidden AND ($1::uuid IS NULL OR b.account_id = $1) AND ($2::uuid IS NULL OR b.vm_id = $2)
         AND ($3::uuid IS NULL OR b.zone_id = $3) AND ($4::uuid IS NULL OR b.offering_id = $4) AND ($5::text IS NULL OR b.status = $5)
         AND ($6::text IS NULL OR b.type = $6)
       ORDER BY b.created_at DESC LIMIT $7 OFFSET $8`,
      [me.role === 'admin' ? null : me.accountId, q.vmId ?? null, q.zoneId ?? null, q.offeringId ?? null, q.status ?? null, q.type ?? null, limit, offset],
    );
    res.json(listResult(rows.rows.map(({ total, ...b }) => b), Number(rows.rows[0]?.total ?? 0), q));
  });

  /** One backup; while it runs, with the workflow's phase and the copy's bytes from its heartbeats. */
  r.get('/backups/:id', async (req, res) => {
    const { id } = parse(IdParams, req, 'params');
    const b = await visibleBackup(pool, req, id);
    const row = (await pool.query(`SELECT ${BACKUP_COLUMNS} FROM backups b JOIN vms v ON v.id = b.vm_id WHERE b.id = $1`, [b.id])).rows[0];
    if (!['Allocated', 'BackingUp'].includes(row.status) || !row.workflowId) return res.json(row);
    res.json(await withLiveProgress(temporal, row, row.workflowId, backupProgress));
  });

  /** deleteBackup: refused while others depend on it, unless forced (then merged into its child first). */
  r.delete('/backups/:id', async (req, res) => {
    const { id } = parse(IdParams, req, 'params');
    const { forced } = parse(DeleteBackupQuery, req, 'query');
    const b = await visibleBackup(pool, req, id);
    if (['Allocated', 'BackingUp'].includes(b.status)) throw conflict(`backup ${id} is still being taken`, 'id');
    if ((await pool.query(`SELECT protected FROM backups WHERE id=$1`, [id])).rows[0]?.protected) {
      throw conflict(`backup ${id} is protected: clear the flag first (PATCH /v1/backups/${id} {"protected": false})`, 'id');
    }
    // A restore reads this backup's chain: neither it nor a backup it depends on may go meanwhile.
    const restoring = await pool.query(
      `SELECT r.id FROM restores r JOIN backups rb ON rb.id = r.backup_id JOIN backups b ON b.id = $1
       WHERE r.status IN ('Running','Consolidating') AND rb.chain_id = b.chain_id LIMIT 1`,
      [id],
    );
    if (restoring.rowCount) throw conflict(`backup ${id} is being restored (restore ${restoring.rows[0].id}); delete it when that is done`, 'id');
    // Compression writes copies of this backup (or of its child, which a forced delete would rebase): refused meanwhile.
    const compressing = await pool.query(
      `SELECT id, compression_status FROM backups WHERE (id=$1 OR parent_id=$1) AND compression_status IN ('Compressing','FinalizingCompression') LIMIT 1`, [id]);
    if (compressing.rowCount) throw conflict(`backup ${compressing.rows[0].id} is ${compressing.rows[0].compression_status}; delete this backup when that is done`, 'id');
    // A validation VM reads this backup, or a backup that backs onto it (which a forced delete would rebase): refused meanwhile.
    const validating = await pool.query(
      `WITH RECURSIVE d AS (SELECT id FROM backups WHERE id = $1 UNION SELECT b.id FROM backups b JOIN d ON b.parent_id = d.id)
       SELECT b.id FROM backups b JOIN d ON d.id = b.id WHERE b.validation_status = 'Validating' LIMIT 1`, [id]);
    if (validating.rowCount) throw conflict(`backup ${validating.rows[0].id} is Validating: its validation VM reads this backup; delete it when that is done`, 'id');
    const child = await pool.query(`SELECT id FROM backups WHERE parent_id=$1 AND status='BackedUp'`, [id]);
    if (child.rowCount && !forced) {
      throw conflict(`backup ${id} has a dependent backup ${child.rows[0].id}; use forced=true to merge it into that backup and delete`, 'forced');
    }
    const vm = await vmSite(pool, b.vm_id);
    const handle = await startOperation(temporal, deleteBackupWorkflow, {
      workflowId: `delete-backup-${vm.name}-${id}`,
      input: { backupId: id, forced },
      subject: { operation: 'delete-backup', vmId: b.vm_id, backupId: id, hostId: vm.hostId, zone: vm.zone },
      summary: `${forced ? 'forced ' : ''}delete of a backup of ${vm.name}`,
    });
    res.status(202).json({ backupId: id, workflowId: handle.workflowId });
  });

  /** finishBackupChain: the VM's next backup is a full one. */
  r.post('/vms/:id/finish-backup-chain', async (req, res) => {
    const { id } = parse(IdParams, req, 'params');
    const me = caller(req);
    const up = await pool.query(
      `UPDATE vms SET chain_break_reason='chain finished by finishBackupChain' WHERE id=$1 AND ($2::uuid IS NULL OR account_id=$2) RETURNING id`,
      [id, me.role === 'admin' ? null : me.accountId],
    );
    if (!up.rowCount) throw notFound('vm', 'id');
    res.json({ vmId: id, nextBackup: 'FULL' });
  });

  return r;
}
