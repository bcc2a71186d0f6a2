import { routesOf } from '../registry';
import { IdParams } from '../../validate';
import { ZoneQuery } from '../../routes/zones';
import { HostQuery } from '../../routes/hosts';
import { VmQuery } from '../../routes/vms';
import { AssignVmAccountSchema } from '../../../common/schemas/accounts';
import { AnyObject, listOf, Vm } from '../responses';

/** Zones, hosts and VMs, as the host workers' inventory keeps them. */
export const inventoryRoutes = routesOf('inventory', [
  { method: 'get', path: '/v1/zones', operationId: 'listZones', command: 'listZones', access: 'any', summary: 'Zones', query: ZoneQuery, response: listOf(AnyObject) },
  { method: 'get', path: '/v1/hosts', operationId: 'listHosts', command: 'listHosts', access: 'admin', summary: 'KVM hosts and whether their worker answers', query: HostQuery, response: listOf(AnyObject) },
  { method: 'get', path: '/v1/hosts/:id', operationId: 'getHost', command: 'listHosts', access: 'admin', summary: 'One host', params: IdParams, response: AnyObject },
  { method: 'post', path: '/v1/hosts/:id/sync', operationId: 'syncHost', access: 'admin', summary: "Run the host's inventory now and answer with its result (502 when the host did not answer)", params: IdParams, response: AnyObject },
  { method: 'get', path: '/v1/vms', operationId: 'listVms', command: 'listVirtualMachines', access: 'any', summary: 'VMs with their disks (users: their own)', query: VmQuery, response: listOf(Vm) },
  { method: 'get', path: '/v1/vms/:id', operationId: 'getVm', command: 'listVirtualMachines', access: 'any', summary: 'One VM with its disks', params: IdParams, response: Vm },
  { method: 'put', path: '/v1/vms/:id/account', operationId: 'assignVmAccount', command: 'assignVirtualMachine', access: 'admin', summary: 'Give a VM to an account (null: take it back)', params: IdParams, body: AssignVmAccountSchema, response: Vm },
]);
