import type { Command } from 'commander';
import { data } from '../client';
import { ctx, int, vmId } from '../context';
import { emit, table } from '../output';

type Interval = 'HOURLY' | 'DAILY' | 'WEEKLY' | 'MONTHLY';

export function scheduleCommands(program: Command) {
  const schedule = program.command('schedule').description('backup schedules (createBackupSchedule, listBackupSchedule, deleteBackupSchedule)');

  schedule.command('create <vm>')
    .description('schedule backups of a VM (id or name)')
    .requiredOption('--interval <type>', 'HOURLY, DAILY, WEEKLY or MONTHLY')
    .requiredOption('--at <schedule>', 'CloudStack form: HOURLY MM; DAILY MM:HH; WEEKLY MM:HH:D (1 = Sunday); MONTHLY MM:HH:DD')
    .option('--timezone <tz>', 'an IANA time zone', 'UTC')
    .option('--max-backups <n>', "scheduled backups kept (oldest go first)", int)
    .option('--quiesce', 'quiesce the guest')
    .option('--isolated', 'isolated full backups')
    .action(async (ref, o, cmd) => {
      const { api, json } = ctx(cmd);
      const body = {
        vmId: await vmId(api, ref), intervalType: String(o.interval).toUpperCase() as Interval, schedule: o.at, timezone: o.timezone,
        maxBackups: o.maxBackups, quiesce: Boolean(o.quiesce), isolated: Boolean(o.isolated),
      };
      const s = await data(api.POST('/v1/backup-schedules', { body }));
      emit(s, { json }, () => `schedule ${s.id} created (${s.intervalType} ${s.schedule} ${s.timezone})`);
    });

  schedule.command('list')
    .description('schedules with their next runs')
    .option('--vm <vm>', 'only this VM (id or name)')
    .action(async (o, cmd) => {
      const { api, json } = ctx(cmd);
      const page = await data(api.GET('/v1/backup-schedules', { params: { query: { vmId: o.vm ? await vmId(api, o.vm) : undefined } } }));
      emit(page, { json }, () => table(page.items, ['id', 'vmName', 'intervalType', 'schedule', 'timezone', 'maxBackups', 'paused']));
    });

  schedule.command('delete <schedule>')
    .description('delete a schedule (from the catalog and Temporal)')
    .action(async (id, _o, cmd) => {
      const { api, json } = ctx(cmd);
      await data(api.DELETE('/v1/backup-schedules/{id}', { params: { path: { id } } }));
      emit({ id, deleted: true }, { json }, () => `schedule ${id} deleted`);
    });

  for (const action of ['pause', 'resume', 'trigger'] as const) {
    schedule.command(`${action} <schedule>`)
      .description(action === 'trigger' ? 'run a schedule now' : `${action} a schedule`)
      .action(async (id, _o, cmd) => {
        const { api, json } = ctx(cmd);
        const r = await data(api.POST(`/v1/backup-schedules/{id}/${action}`, { params: { path: { id } } }));
        emit(r, { json }, () => `schedule ${id}: ${action} done`);
      });
  }
}
