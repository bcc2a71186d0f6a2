import type { Command } from 'commander';
import { data, type Api } from '../client';
import { ctx, vmId } from '../context';
import { bytes, emit, table } from '../output';
import { reportStarted } from '../started';
import { getRestore, watchRestore } from '../watch';
import type { components } from '../api/schema';

type Started = components['schemas']['OperationStarted'];
type Restore = components['schemas']['Restore'];

const summary = (r: Restore) =>
  `restore ${r.id} (${r.mode}) of backup ${r.backupId}: ${r.status}${r.bytes ? `, ${bytes(r.bytes)}` : ''}` +
  `${r.durationMs ? ` in ${(r.durationMs / 1000).toFixed(1)} s` : ''}${r.targetVmId ? `, VM ${r.targetVmId}` : ''}${r.error ? `: ${r.error}` : ''}`;

/** Prints the started restore, or with --wait follows it to its end and prints the record. */
const startedRestore = (api: Api, started: Started, o: { wait?: boolean }, json: boolean) => {
  const id = started.restoreId!;
  return reportStarted({
    what: 'restore', id, workflowId: started.workflowId, answer: started, watch: watchRestore(api, id), get: () => getRestore(api, id), summary,
  }, o, json);
};

export function restoreCommands(program: Command) {
  program.command('restore <backup>')
    .description("restore a backup in place (restoreBackup); the VM must be stopped")
    .option('--quick', 'quick restore: the VM starts at once from the backup, then consolidates')
    .option('--request-id <id>', 'the same id always gives the same restore')
    .option('--wait', 'wait for the restore to end, showing its progress')
    .action(async (backupId, o, cmd) => {
      const { api, json } = ctx(cmd);
      const started = await data(api.POST('/v1/backups/{id}/restore', {
        params: { path: { id: backupId } }, body: { quickRestore: Boolean(o.quick), requestId: o.requestId },
      }));
      await startedRestore(api, started, o, json);
    });

  program.command('restore-volume <backup>')
    .description('restore one disk of a backup as a new volume attached to a VM (restoreVolumeFromBackupAndAttachToVM)')
    .requiredOption('--vm <vm>', 'the VM that gets the volume (id or name)')
    .requiredOption('--disk <target>', "the backup's disk, e.g. vda")
    .option('--quick', 'quick restore')
    .option('--wait', 'wait for the restore to end, showing its progress')
    .action(async (backupId, o, cmd) => {
      const { api, json } = ctx(cmd);
      const started = await data(api.POST('/v1/backups/{id}/restore-volume', {
        params: { path: { id: backupId } }, body: { vmId: await vmId(api, o.vm), volumeTarget: o.disk, quickRestore: Boolean(o.quick) },
      }));
      await startedRestore(api, started, o, json);
    });

  program.command('create-vm <backup>')
    .description('create a new VM from a backup (createVMFromBackup)')
    .requiredOption('--name <name>', "the new VM's name")
    .option('--wait', 'wait for the restore to end, showing its progress')
    .action(async (backupId, o, cmd) => {
      const { api, json } = ctx(cmd);
      const started = await data(api.POST('/v1/backups/{id}/create-vm', { params: { path: { id: backupId } }, body: { name: o.name } }));
      await startedRestore(api, started, o, json);
    });

  program.command('restores')
    .description('restore records, newest first')
    .option('--backup <backup>', 'only of this backup')
    .option('--vm <vm>', 'only from or onto this VM (id or name)')
    .action(async (o, cmd) => {
      const { api, json } = ctx(cmd);
      const query = { backupId: o.backup, vmId: o.vm ? await vmId(api, o.vm) : undefined };
      const page = await data(api.GET('/v1/restores', { params: { query } }));
      emit(page, { json }, () => table(page.items, ['id', 'backupId', 'mode', 'status', 'phase', 'createdAt']));
    });
}
