import type { Command } from 'commander';
import { data } from '../client';
import { ctx, vmId } from '../context';
import { bytes, emit, fields, table } from '../output';

export function vmCommands(program: Command) {
  const vm = program.command('vm').description('virtual machines (listVirtualMachines)');
  vm.command('list')
    .description('VMs with their state and disks')
    .option('--name <name>', 'only this name')
    .option('--state <state>', 'Running, Stopped, …')
    .option('--zone <zoneId>', 'only this zone')
    .option('--host <hostId>', 'only this host')
    .action(async (o, cmd) => {
      const { api, json } = ctx(cmd);
      const page = await data(api.GET('/v1/vms', { params: { query: { name: o.name, state: o.state, zoneId: o.zone, hostId: o.host, pageSize: 500 } } }));
      emit(page, { json }, () =>
        table(page.items.map((v) => ({ ...v, disks: v.disks.map((d) => `${d.target}:${bytes(d.virtualSize)}`).join(',') })), ['id', 'name', 'state', 'account', 'disks']),
      );
    });
  vm.command('show <vm>')
    .description('one VM (id or name)')
    .action(async (ref, _o, cmd) => {
      const { api, json } = ctx(cmd);
      const v = await data(api.GET('/v1/vms/{id}', { params: { path: { id: await vmId(api, ref) } } }));
      emit(v, { json }, () => `${fields(v, ['id', 'name', 'state', 'hostId', 'zoneId', 'account', 'hasAgent'])}\n${table(v.disks, ['target', 'format', 'virtualSize', 'path'])}`);
    });
}
