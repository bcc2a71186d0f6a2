import type { Command } from 'commander';
import { data } from '../client';
import { ctx } from '../context';
import { emit, table } from '../output';
import type { operations } from '../api/schema';

type JobType = NonNullable<operations['listBackupServiceJobs']['parameters']['query']>['type'];

export function jobCommands(program: Command) {
  program.command('jobs')
    .description('backup service jobs: compression, validation, hashing (listBackupServiceJobs; root admins)')
    .option('--backup <backup>', 'only of this backup')
    .option('--type <type>', 'StartCompression, FinalizeCompression, BackupValidation, BackupHash or BackupRehash')
    .option('--executing', 'only the running ones')
    .action(async (o, cmd) => {
      const { api, json } = ctx(cmd);
      const query = { backupId: o.backup, type: o.type as JobType, executing: o.executing ? ('true' as const) : undefined };
      const page = await data(api.GET('/v1/backup-service-jobs', { params: { query } }));
      emit(page, { json }, () => table(page.items, ['id', 'backupId', 'type', 'attempts', 'executing', 'startedAt', 'endedAt', 'result']));
    });
}
