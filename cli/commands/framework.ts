import type { Command } from 'commander';
import { data } from '../client';
import { ctx, int, jsonObject } from '../context';
import { emit, fields, table } from '../output';
import type { operations } from '../api/schema';

/** A request body as the generated client types it; --body adds the fields a command has no flag for (the API validates them). */
type BodyOf<Op extends keyof operations> = NonNullable<operations[Op]['requestBody']>['content']['application/json'];
const bodyOf = <Op extends keyof operations>(flags: Record<string, unknown>, extra?: Record<string, unknown>) =>
  Object.fromEntries(Object.entries({ ...flags, ...extra }).filter(([, v]) => v !== undefined)) as BodyOf<Op>;
const BODY = ['--body <json>', 'more fields, as a JSON object', jsonObject] as const;
const bool = (v: string) => v === 'true';

function offeringCommands(program: Command) {
  const offering = program.command('offering').description('backup offerings (listBackupOfferings, createBackupOffering, updateBackupOffering, deleteBackupOffering)');
  offering.command('list').description('offerings (users: those open to them)').option('--zone <zoneId>').option('--name <name>')
    .action(async (o, cmd) => {
      const { api, json } = ctx(cmd);
      const page = await data(api.GET('/v1/backup-offerings', { params: { query: { zoneId: o.zone, name: o.name } } }));
      emit(page, { json }, () => table(page.items, ['id', 'name', 'provider', 'zone', 'isPublic', 'allowQuickRestore', 'compress']));
    });
  offering.command('get <offering>').description('one offering').action(async (id, _o, cmd) => {
    const { api, json } = ctx(cmd);
    const o = await data(api.GET('/v1/backup-offerings/{id}', { params: { path: { id } } }));
    emit(o, { json }, () => fields(o, Object.keys(o)));
  });
  offering.command('create').description('a kboss offering (root admins)')
    .requiredOption('--name <name>').requiredOption('--zone <zoneId>').requiredOption('--repository <repositoryId>')
    .option('--description <text>').option('--quick-restore', 'allow quick restore').option('--compress', 'compress backups')
    .option('--chain-size <n>', 'backups per chain before a new full', int).option(...BODY)
    .action(async (o, cmd) => {
      const { api, json } = ctx(cmd);
      const body = bodyOf<'createBackupOffering'>({
        name: o.name, zoneId: o.zone, repositoryId: o.repository, description: o.description,
        allowQuickRestore: o.quickRestore, compress: o.compress, backupChainSize: o.chainSize,
      }, o.body);
      const r = await data(api.POST('/v1/backup-offerings', { body }));
      emit(r, { json }, () => `offering ${r.id} created`);
    });
  offering.command('update <offering>').description('change an offering (root admins)')
    .option('--name <name>').option('--description <text>').option('--public <bool>', 'open to every domain: true or false', bool).option(...BODY)
    .action(async (id, o, cmd) => {
      const { api, json } = ctx(cmd);
      const body = bodyOf<'updateBackupOffering'>({ name: o.name, description: o.description, isPublic: o.public }, o.body);
      const r = await data(api.PATCH('/v1/backup-offerings/{id}', { params: { path: { id } }, body }));
      emit(r, { json }, () => `offering ${id} updated`);
    });
  offering.command('delete <offering>').description('delete an offering (409 while VMs are assigned)').action(async (id, _o, cmd) => {
    const { api, json } = ctx(cmd);
    await data(api.DELETE('/v1/backup-offerings/{id}', { params: { path: { id } } }));
    emit({ id, deleted: true }, { json }, () => `offering ${id} deleted`);
  });
}

function repositoryCommands(program: Command) {
  const repo = program.command('repository').description('backup repositories (root admins)');
  repo.command('list').option('--zone <zoneId>').option('--name <name>').action(async (o, cmd) => {
    const { api, json } = ctx(cmd);
    const page = await data(api.GET('/v1/backup-repositories', { params: { query: { zoneId: o.zone, name: o.name } } }));
    emit(page, { json }, () => table(page.items, ['id', 'name', 'type', 'address', 'zone', 'capacityBytes']));
  });
  repo.command('get <repository>').action(async (id, _o, cmd) => {
    const { api, json } = ctx(cmd);
    const r = await data(api.GET('/v1/backup-repositories/{id}', { params: { path: { id } } }));
    emit(r, { json }, () => fields(r, Object.keys(r)));
  });
  repo.command('add').description('addBackupRepository')
    .requiredOption('--name <name>').requiredOption('--zone <zoneId>').requiredOption('--type <type>', 'nfs, cifs, cephfs or local')
    .requiredOption('--address <address>').option('--mount-options <options>').option('--capacity <bytes>', 'capacity in bytes', int).option(...BODY)
    .action(async (o, cmd) => {
      const { api, json } = ctx(cmd);
      const body = bodyOf<'addBackupRepository'>({
        name: o.name, zoneId: o.zone, type: o.type, address: o.address, mountOptions: o.mountOptions, capacityBytes: o.capacity,
      }, o.body);
      const r = await data(api.POST('/v1/backup-repositories', { body }));
      emit(r, { json }, () => `repository ${r.id} added`);
    });
  repo.command('update <repository>').option('--name <name>').option('--address <address>').option('--mount-options <options>')
    .option('--capacity <bytes>', 'capacity in bytes', int).option(...BODY)
    .action(async (id, o, cmd) => {
      const { api, json } = ctx(cmd);
      const body = bodyOf<'updateBackupRepository'>({ name: o.name, address: o.address, mountOptions: o.mountOptions, capacityBytes: o.capacity }, o.body);
      const r = await data(api.PATCH('/v1/backup-repositories/{id}', { params: { path: { id } }, body }));
      emit(r, { json }, () => `repository ${id} updated`);
    });
  repo.command('delete <repository>').description('409 while in use').action(async (id, _o, cmd) => {
    const { api, json } = ctx(cmd);
    await data(api.DELETE('/v1/backup-repositories/{id}', { params: { path: { id } } }));
    emit({ id, deleted: true }, { json }, () => `repository ${id} deleted`);
  });
}

function settingCommands(program: Command) {
  const setting = program.command('setting').description('backup settings (listConfigurations, updateConfiguration, resetConfiguration; root admins)');
  const scoped = (c: Command) => c.option('--zone <zoneId>', 'at this zone').option('--account <accountId>', 'at this account');
  scoped(setting.command('list')).option('--keyword <text>').action(async (o, cmd) => {
    const { api, json } = ctx(cmd);
    const page = await data(api.GET('/v1/settings', { params: { query: { zoneId: o.zone, accountId: o.account, keyword: o.keyword, pageSize: 500 } } }));
    emit(page, { json }, () => table(page.items, ['name', 'value', 'source', 'default']));
  });
  scoped(setting.command('get <name>')).action(async (name, o, cmd) => {
    const { api, json } = ctx(cmd);
    const s = await data(api.GET('/v1/settings/{name}', { params: { path: { name }, query: { zoneId: o.zone, accountId: o.account } } }));
    emit(s, { json }, () => fields(s, Object.keys(s)));
  });
  const where = (o: { zone?: string; account?: string }) =>
    o.zone ? { scope: 'zone' as const, scopeId: o.zone } : o.account ? { scope: 'account' as const, scopeId: o.account } : { scope: 'global' as const };
  scoped(setting.command('set <name> <value>').description('the value as JSON (true, 7, "zstd"), or as a plain string')).action(async (name, value, o, cmd) => {
    const { api, json } = ctx(cmd);
    let v: unknown = value;
    try {
      v = JSON.parse(value);
    } catch {
      /* a plain string */
    }
    const s = await data(api.PUT('/v1/settings/{name}', { params: { path: { name } }, body: { ...where(o), value: v } }));
    emit(s, { json }, () => `${name} = ${JSON.stringify(s.value)}`);
  });
  scoped(setting.command('reset <name>').description('remove the value stored at a scope')).action(async (name, o, cmd) => {
    const { api, json } = ctx(cmd);
    const s = await data(api.DELETE('/v1/settings/{name}', { params: { path: { name }, query: where(o) } }));
    emit(s, { json }, () => `${name} = ${JSON.stringify(s.value)}`);
  });
}

export function frameworkCommands(program: Command) {
  offeringCommands(program);
  repositoryCommands(program);
  settingCommands(program);
}
