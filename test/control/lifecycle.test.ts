import { randomUUID } from 'node:crypto';
import { Pool } from 'pg';
import { createControlActivities } from '../../activities/control';
import { createTestDatabase } from '../helpers/database';

/**
 * The order of a backup's life (../shared/backup-lifecycle.md) against a real catalog: compress, then
 * validate, then hash; nothing while a job is under way; the task settings turn a step off. And the
 * rules a NotValid backup brings: never an incremental parent, the chain ended by setting or always.
 */
describe('service job order and NotValid backups (real PostgreSQL)', () => {
  let db: { url: string; drop: () => Promise<void> };
  let pool: Pool;
  let acts: ReturnType<typeof createControlActivities>;
  const zone = randomUUID();
  const host = randomUUID();
  const vm = randomUUID();

  beforeAll(async () => {
    db = await createTestDatabase();
    pool = new Pool({ connectionString: db.url, max: 4 });
    acts = createControlActivities(pool);
    await pool.query(`INSERT INTO zones (id, name) VALUES ($1, 'z1')`, [zone]);
    await pool.query(`INSERT INTO hosts (id, name, zone_id, task_queue, libvirt_uri, cpus, memory_bytes) VALUES ($1, 'h1', $2, 'q', 'qemu:///system', 2, 1)`, [host, zone]);
    await pool.query(`INSERT INTO vms (id, name, host_id, zone_id, state) VALUES ($1, 'web-01', $2, $3, 'running')`, [vm, host, zone]);
  });
  afterAll(async () => {
    await pool.end();
    await db.drop();
  });

  const offering = async (o: { compress: boolean; validate: boolean; provider?: string }) =>
    (await pool.query(
      `INSERT INTO backup_offerings (name, zone_id, provider, compress, compression_library, validate, validation_steps)
       VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
      [randomUUID(), zone, o.provider ?? 'kboss', o.compress, o.compress ? 'zstd' : null, o.validate, o.validate ? ['wait_for_boot'] : []],
    )).rows[0].id as string;

  let minute = 0;
  const backup = async (offeringId: string, b: { provider?: string; compression?: string | null; validation?: string | null; chainId?: string; files?: boolean } = {}) => {
    const id = randomUUID();
    minute += 1;
    await pool.query(
      `INSERT INTO backups (id, vm_id, zone_id, host_id, offering_id, provider, status, type, chain_id, chain_position, checkpoint,
                            compression_status, validation_status, finished_at)
       VALUES ($1, $2, $3, $4, $5, $6, 'BackedUp', 'FULL', $7, 0, $8, $9, $10, now() + make_interval(mins => $11))`,
      [id, vm, zone, host, offeringId, b.provider ?? 'kboss', b.chainId ?? randomUUID(), `cp-${id}`, b.compression ?? null, b.validation ?? null, minute],
    );
    if (b.files !== false) {
      await pool.query(`INSERT INTO backup_disks (backup_id, target, file, source_path, size_bytes, virtual_size) VALUES ($1, 'vda', $2, '/x', 1, 1)`, [id, `${vm}/${id}/vda.qcow2`]);
    }
    return id;
  };
  const next = async (backupId: string) => (await acts.nextServiceJob({ backupId }))?.kind ?? null;
  const setting = (name: string, value: unknown) =>
    pool.query(`INSERT INTO settings (name, scope, scope_id, value) VALUES ($1, 'global', NULL, $2)
                ON CONFLICT (name, scope, COALESCE(scope_id, '00000000-0000-0000-0000-000000000000'::uuid)) DO UPDATE SET value = EXCLUDED.value`, [name, JSON.stringify(value)]);

  it('compress, then validate, then hash; nothing while a job runs', async () => {
    const both = await offering({ compress: true, validate: true });
    expect(await next(await backup(both))).toBe('compress');
    for (const running of ['Pending', 'Compressing', 'FinalizingCompression']) expect(await next(await backup(both, { compression: running }))).toBeNull();
    expect(await next(await backup(both, { compression: 'Compressed' }))).toBe('validate');
    // A compression that gave up left the originals: validation goes on with them.
    expect(await next(await backup(both, { compression: 'CompressionError' }))).toBe('validate');
    expect(await next(await backup(both, { compression: 'Compressed', validation: 'Validating' }))).toBeNull();
    for (const done of ['Valid', 'NotValid', 'UnableToValidate']) expect(await next(await backup(both, { compression: 'Compressed', validation: done }))).toBe('hash');
  });

  it('hashes right away what is neither compressed nor validated, and never a backup without files or one already hashed', async () => {
    const plain = await offering({ compress: false, validate: false });
    expect(await next(await backup(plain))).toBe('hash');
    expect(await next(await backup(await offering({ compress: false, validate: false, provider: 'nas' }), { provider: 'nas' }))).toBe('hash');
    expect(await next(await backup(plain, { files: false }))).toBeNull();
    const hashed = await backup(plain);
    await pool.query(`INSERT INTO backup_file_hashes (backup_id, target, file, algorithm, hash, size_bytes) VALUES ($1, 'vda', 'f', 'xxh128', 'ab', 1)`, [hashed]);
    expect(await next(hashed)).toBeNull();
  });

  it('the task settings turn compression and validation off', async () => {
    const both = await offering({ compress: true, validate: true });
    await setting('backup.compression.task.enabled', false);
    expect(await next(await backup(both))).toBe('validate');
    await setting('backup.validation.task.enabled', false);
    expect(await next(await backup(both))).toBe('hash');
    await pool.query(`DELETE FROM settings`);
  });

  it('a NotValid backup is never a parent; its chain ends by setting (validation) or always (re-hash)', async () => {
    const plain = await offering({ compress: false, validate: true });
    const chain = randomUUID();
    const first = await backup(plain, { chainId: chain });
    const plan = (id: string) => acts.planChain({ backupId: id, vmId: vm, isolated: false, provider: 'kboss', chainSize: 8 });
    expect((await plan(randomUUID())).type).toBe('INCREMENTAL');

    await setting('backup.validation.end.chain.on.fail', false);
    const kept = await acts.markNotValid({ backupId: first, step: 'execute_command', output: 'got: nope', reason: 'output differs', endChain: 'by-setting' });
    expect(kept.chainEnded).toBe(false);
    // The chain was not ended, yet the next backup does not chain onto the NotValid one.
    const after = await plan(randomUUID());
    expect(after).toMatchObject({ type: 'FULL' });
    expect(after.fullReason).toContain(first);
    expect(after.fullReason).toContain('NotValid');

    await pool.query(`DELETE FROM settings`);
    const second = await backup(plain, { chainId: randomUUID() });
    const ended = await acts.markNotValid({ backupId: second, step: 'rehash', output: 'vda: expected aa, found bb', reason: 'hash mismatch', endChain: 'always' });
    expect(ended.chainEnded).toBe(true);
    const vmRow = (await pool.query(`SELECT chain_break_reason FROM vms WHERE id = $1`, [vm])).rows[0];
    expect(vmRow.chain_break_reason).toContain(second);
    expect(vmRow.chain_break_reason).toContain('hash mismatch');
    const alerts = (await pool.query(`SELECT type, backup_id FROM alerts ORDER BY created_at`)).rows;
    expect(alerts).toEqual([{ type: 'BackupNotValid', backup_id: first }, { type: 'BackupHashMismatch', backup_id: second }]);
  });
});
