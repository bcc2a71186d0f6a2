import { routesOf } from '../registry';
import { IdParams } from '../../validate';
import { SettingListQuery, SettingParams } from '../../routes/settings';
import { ProviderOfferingsQuery, ProviderParams, ProviderQuery } from '../../routes/providers';
import { RepositoryQuery } from '../../routes/repositories';
import { OfferingQuery } from '../../routes/offerings';
import { RemoveQuery } from '../../routes/backupAssignment';
import { ResetSettingQuery, SetSettingSchema, SettingScopeQuery } from '../../../common/schemas/settings';
import { CreateRepositorySchema, UpdateRepositorySchema } from '../../../common/schemas/repositories';
import { CreateOfferingSchema, ImportOfferingSchema, UpdateOfferingSchema } from '../../../common/schemas/offerings';
import { AssignOfferingSchema } from '../../../common/schemas/assignment';
import { AnyObject, listOf } from '../responses';

/** The Backup & Recovery framework's configuration: settings, providers, repositories, offerings, assignment. */
export const frameworkRoutes = routesOf('framework', [
  { method: 'get', path: '/v1/settings', operationId: 'listSettings', command: 'listConfigurations', access: 'admin', summary: 'Backup settings with their effective values for a scope', query: SettingListQuery, response: listOf(AnyObject) },
  { method: 'get', path: '/v1/settings/:name', operationId: 'getSetting', command: 'listConfigurations', access: 'admin', summary: 'One setting, its effective value and what is stored at each scope', params: SettingParams, query: SettingScopeQuery, response: AnyObject },
  { method: 'put', path: '/v1/settings/:name', operationId: 'updateSetting', command: 'updateConfiguration', access: 'admin', summary: 'Set a value at a scope (global, zone, account)', params: SettingParams, body: SetSettingSchema, response: AnyObject },
  { method: 'delete', path: '/v1/settings/:name', operationId: 'resetSetting', command: 'resetConfiguration', access: 'admin', summary: 'Remove the value stored at one scope', params: SettingParams, query: ResetSettingQuery, response: AnyObject },

  { method: 'get', path: '/v1/backup-providers', operationId: 'listBackupProviders', command: 'listBackupProviders', access: 'any', summary: 'Backup providers (dummy, nas, kboss) and their features', query: ProviderQuery, response: listOf(AnyObject) },
  { method: 'get', path: '/v1/backup-providers/:name', operationId: 'getBackupProvider', command: 'listBackupProviders', access: 'any', summary: 'One provider', params: ProviderParams, response: AnyObject },
  { method: 'get', path: '/v1/backup-provider-offerings', operationId: 'listBackupProviderOfferings', command: 'listBackupProviderOfferings', access: 'admin', summary: "What the zone's provider offers for import", query: ProviderOfferingsQuery, response: listOf(AnyObject) },

  { method: 'post', path: '/v1/backup-repositories', operationId: 'addBackupRepository', command: 'addBackupRepository', access: 'admin', summary: 'Add a repository (nfs, cifs, cephfs, local)', body: CreateRepositorySchema, status: 201, response: AnyObject },
  { method: 'get', path: '/v1/backup-repositories', operationId: 'listBackupRepositories', command: 'listBackupRepositories', access: 'admin', summary: 'Repositories', query: RepositoryQuery, response: listOf(AnyObject) },
  { method: 'get', path: '/v1/backup-repositories/:id', operationId: 'getBackupRepository', command: 'listBackupRepositories', access: 'admin', summary: 'One repository', params: IdParams, response: AnyObject },
  { method: 'patch', path: '/v1/backup-repositories/:id', operationId: 'updateBackupRepository', command: 'updateBackupRepository', access: 'admin', summary: 'Update a repository', params: IdParams, body: UpdateRepositorySchema, response: AnyObject },
  { method: 'delete', path: '/v1/backup-repositories/:id', operationId: 'deleteBackupRepository', command: 'deleteBackupRepository', access: 'admin', summary: 'Delete a repository (409 while in use)', params: IdParams, status: 204 },

  { method: 'post', path: '/v1/backup-offerings/import', operationId: 'importBackupOffering', command: 'importBackupOffering', access: 'admin', summary: "Import one of the zone provider's offerings (dummy, nas)", body: ImportOfferingSchema, status: 201, response: AnyObject },
  { method: 'post', path: '/v1/backup-offerings', operationId: 'createBackupOffering', command: 'createBackupOffering', access: 'admin', summary: 'Create a kboss offering', body: CreateOfferingSchema, status: 201, response: AnyObject },
  { method: 'get', path: '/v1/backup-offerings', operationId: 'listBackupOfferings', command: 'listBackupOfferings', access: 'any', summary: 'Offerings (users: those open to them)', query: OfferingQuery, response: listOf(AnyObject) },
  { method: 'get', path: '/v1/backup-offerings/:id', operationId: 'getBackupOffering', command: 'listBackupOfferings', access: 'any', summary: 'One offering', params: IdParams, response: AnyObject },
  { method: 'patch', path: '/v1/backup-offerings/:id', operationId: 'updateBackupOffering', command: 'updateBackupOffering', access: 'admin', summary: 'Update an offering', params: IdParams, body: UpdateOfferingSchema, response: AnyObject },
  { method: 'delete', path: '/v1/backup-offerings/:id', operationId: 'deleteBackupOffering', command: 'deleteBackupOffering', access: 'admin', summary: 'Delete an offering (409 while VMs are assigned)', params: IdParams, status: 204 },

  { method: 'post', path: '/v1/vms/:id/backup-offering', operationId: 'assignVirtualMachineToBackupOffering', command: 'assignVirtualMachineToBackupOffering', access: 'any', summary: 'Assign a VM to an offering', params: IdParams, body: AssignOfferingSchema, response: AnyObject },
  { method: 'delete', path: '/v1/vms/:id/backup-offering', operationId: 'removeVirtualMachineFromBackupOffering', command: 'removeVirtualMachineFromBackupOffering', access: 'any', summary: "Remove a VM from its offering (forced: also delete the caller's account's backups of it; admins say whose)", params: IdParams, query: RemoveQuery, response: AnyObject },
]);
