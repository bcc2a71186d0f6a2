import { routesOf } from '../registry';
import { IdParams } from '../../validate';
import { CreateBackupSchema, DeleteBackupQuery, ListBackupsQuery } from '../../../common/schemas/backups';
import { CreateVmFromBackupSchema, ListRestoresQuery, RestoreBackupSchema, RestoreVolumeSchema } from '../../../common/schemas/restores';
import { ProtectBackupSchema } from '../../../common/schemas/schedules';
import { VmValidationSettingsBody } from '../../../common/schemas/validation';
import { z } from 'zod';
import { AnyObject, Backup, listOf, OperationStarted, Restore } from '../responses';

/** Backups and restores: each starts a workflow and answers 202; GET on one shows its live progress while it runs. */
export const backupRoutes = routesOf('backups', [
  { method: 'post', path: '/v1/backups', operationId: 'createBackup', command: 'createBackup', access: 'any', summary: 'Back up a VM (202: the workflow runs; the same requestId gives the same backup)', body: CreateBackupSchema, status: 202, response: OperationStarted },
  { method: 'get', path: '/v1/backups', operationId: 'listBackups', command: 'listBackups', access: 'any', summary: 'Backups (users: their account\'s)', query: ListBackupsQuery, response: listOf(Backup) },
  { method: 'get', path: '/v1/backups/:id', operationId: 'getBackup', command: 'listBackups', access: 'any', summary: 'One backup; while it runs, with its phase and bytes copied (progress)', params: IdParams, response: Backup },
  { method: 'patch', path: '/v1/backups/:id', operationId: 'protectBackup', access: 'any', summary: 'Set or clear protected: a protected backup is never removed', params: IdParams, body: ProtectBackupSchema, response: AnyObject },
  { method: 'delete', path: '/v1/backups/:id', operationId: 'deleteBackup', command: 'deleteBackup', access: 'any', summary: 'Delete a backup (forced: merge it into the backup that depends on it first)', params: IdParams, query: DeleteBackupQuery, status: 202, response: OperationStarted },
  { method: 'post', path: '/v1/vms/:id/finish-backup-chain', operationId: 'finishBackupChain', command: 'finishBackupChain', access: 'any', summary: "The VM's next backup is a full one", params: IdParams, response: AnyObject },
  { method: 'post', path: '/v1/backups/:id/restore', operationId: 'restoreBackup', command: 'restoreBackup', access: 'any', summary: 'Restore the VM in place (stopped VM), or by quick restore (a NotValid backup only with force: true)', params: IdParams, body: RestoreBackupSchema, status: 202, response: OperationStarted },
  { method: 'post', path: '/v1/backups/:id/restore-volume', operationId: 'restoreVolumeFromBackupAndAttachToVM', command: 'restoreVolumeFromBackupAndAttachToVM', access: 'any', summary: "Restore one disk as a new volume attached to a VM", params: IdParams, body: RestoreVolumeSchema, status: 202, response: OperationStarted },
  { method: 'post', path: '/v1/backups/:id/create-vm', operationId: 'createVMFromBackup', command: 'createVMFromBackup', access: 'any', summary: 'Create a new VM from a backup (409 body.name when the name or a disk path is taken)', params: IdParams, body: CreateVmFromBackupSchema, status: 202, response: OperationStarted },
  { method: 'post', path: '/v1/backups/:id/verify', operationId: 'verifyBackup', access: 'any', summary: "Verify now: hash the backup's own files again and compare (202; NotValid with the reason on a mismatch)", params: IdParams, status: 202, response: AnyObject },
  { method: 'post', path: '/v1/vms/:id/backups/verify', operationId: 'verifyVmBackups', access: 'any', summary: "Verify now every hashed backup of a VM (202 with the workflow ids)", params: IdParams, status: 202, response: AnyObject },
  { method: 'get', path: '/v1/vms/:id/validation-settings', operationId: 'getVmValidationSettings', access: 'any', summary: "A VM's validation settings (backupValidationCommand…), each with the value in effect and where it comes from", params: IdParams, response: AnyObject },
  { method: 'put', path: '/v1/vms/:id/validation-settings', operationId: 'updateVmValidationSettings', command: 'updateVirtualMachine', access: 'any', summary: "Set a VM's validation command, arguments and expected output (the timeouts: root admins only, else 403 naming the field)", params: IdParams, body: VmValidationSettingsBody, response: AnyObject },
  { method: 'get', path: '/v1/backups/:id/validation-screenshot', operationId: 'downloadValidationScreenshot', command: 'downloadValidationScreenshot', access: 'any', summary: "The validation VM's console screenshot (PNG; 404 before one exists)", params: IdParams, contentType: 'image/png', response: z.string().meta({ format: 'binary' }) },
  { method: 'get', path: '/v1/restores', operationId: 'listRestores', access: 'any', summary: 'Restore records', query: ListRestoresQuery, response: listOf(Restore) },
  { method: 'get', path: '/v1/restores/:id', operationId: 'getRestore', access: 'any', summary: 'One restore; while it runs, with its phase and progress', params: IdParams, response: Restore },
]);
