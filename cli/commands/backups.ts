import type { Command } from 'commander';
import { data } from '../client';
import { ctx, int, vmId } from '../context';
import { bytes, emit, fields, table } from '../output';
import { reportStarted } from '../started';
import { getBackup, watchBackup } from '../watch';
import type { components } from '../api/schema';

type Backup = components['schemas']['Backup'];

const BACKUP_FIELDS = ['id', 'vmName', 'status', 'type', 'fullReason', 'sizeBytes', 'virtualSize', 'durationMs', 'protected', 'createdAt', 'finishedAt', 'error', 'workflowId'];
const summary = (b: Backup) =>
  `backup ${b.id} of ${b.vmName}: ${b.status}${b.type ? ` ${b.type}` : ''}, ${bytes(b.sizeBytes)} written` +
  `${b.durationMs ? ` in ${(b.durationMs / 1000).toFixed(1)} s` : ''}${b.fullReason ? ` (full: ${b.fullReason})` : ''}`;

export function backupCommands(program: Command) {
  const backup = program.command('backup').description('backups (createBackup, listBackups, deleteBackup)');

  backup.command('create <vm>')
    .description('back up a VM (id or name); --wait follows it to the end with a progress bar')
    .option('--quiesce', "freeze the guest's filesystems through its agent while the backup starts")
    .option('--isolated', 'a full backup outside the chain: nothing depends on it')
    .option('--name <name>', "the backup's name")
    .option('--description <text>', "the backup's description")
    .option('--request-id <id>', 'the same id for the same VM always gives the same backup')
    .option('--wait', 'wait for the backup to end, showing its progress')
    .action(async (ref, o, cmd) => {
      const { api, json } = ctx(cmd);
      const body = {
        vmId: await vmId(api, ref), quiesce: Boolean(o.quiesce), isolated: Boolean(o.isolated), name: o.name, description: o.description, requestId: o.requestId,
      };
      const started = await data(api.POST('/v1/backups', { body }));
      const id = started.backupId!;
      await reportStarted({
        what: 'backup', id, workflowId: started.workflowId, answer: started, watch: watchBackup(api, id), get: () => getBackup(api, id), summary,
      }, o, json);
    });

  backup.command('list')
    .description("backups, newest first (users: their account's)")
    .option('--vm <vm>', 'only this VM (id or name)')
    .option('--status <status>', 'BackedUp, Failed, …')
    .option('--type <type>', 'FULL or INCREMENTAL')
    .option('--page-size <n>', 'how many', int, 50)
    .action(async (o, cmd) => {
      const { api, json } = ctx(cmd);
      const query = { vmId: o.vm ? await vmId(api, o.vm) : undefined, status: o.status, type: o.type, pageSize: o.pageSize };
      const page = await data(api.GET('/v1/backups', { params: { query } }));
      emit(page, { json }, () =>
        table(page.items.map((b) => ({ ...b, size: bytes(b.sizeBytes) })), ['id', 'vmName', 'status', 'type', 'size', 'createdAt']),
      );
    });

  backup.command('show <backup>')
    .description('one backup; while it runs, its phase and progress')
    .action(async (id, _o, cmd) => {
      const { api, json } = ctx(cmd);
      const b = await getBackup(api, id);
      emit(b, { json }, () => `${fields(b, BACKUP_FIELDS)}${b.progress ? `\nprogress: ${JSON.stringify(b.progress)}` : ''}\n${table(b.disks, ['target', 'sizeBytes', 'virtualSize'])}`);
    });

  backup.command('delete <backup>')
    .description('delete a backup (--forced: merge it into the backup that depends on it first)')
    .option('--forced', 'also when another backup depends on it')
    .action(async (id, o, cmd) => {
      const { api, json } = ctx(cmd);
      const r = await data(api.DELETE('/v1/backups/{id}', { params: { path: { id }, query: { forced: o.forced ? 'true' : 'false' } } }));
      emit(r, { json }, () => `deleting backup ${id} (workflow ${r.workflowId})`);
    });

  for (const [name, value] of [['protect', true], ['unprotect', false]] as const) {
    backup.command(`${name} <backup>`)
      .description(value ? 'never remove this backup (retention, delete)' : 'let retention and delete remove it again')
      .action(async (id, _o, cmd) => {
        const { api, json } = ctx(cmd);
        const r = await data(api.PATCH('/v1/backups/{id}', { params: { path: { id } }, body: { protected: value } }));
        emit(r, { json }, () => `backup ${id} ${value ? 'protected' : 'unprotected'}`);
      });
  }
}
