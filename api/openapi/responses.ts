import { z } from 'zod';
import { CompressionStatus } from '../../common/schemas/serviceJobs';
import { ValidationStatus, ValidationStep } from '../../common/schemas/validation';

/**
 * What the routes answer, for the document and the generated client. Responses are rows of the catalog
 * (SELECT … AS "camelCase"), not parsed by zod, so these name the fields clients rely on and allow the rest
 * (looseObject); requests stay strict, with the schemas the routes parse.
 */

/** Every error, from zod, a route, Express or Node's HTTP parser (api/errors.ts, api/clientErrors.ts). */
export const ErrorResponse = z
  .object({
    error: z.object({
      status: z.int().min(400).max(599),
      message: z.string(),
      /** The offending input: `body.vmId`, `query.page`, `id`, `authorization`, `database`, … */
      field: z.string().optional(),
      details: z.unknown().optional(),
    }),
  })
  .meta({ id: 'Error', description: 'Every error: the HTTP status, a message, and the field it is about' });

/** Anything not detailed here: a JSON object. */
export const AnyObject = z.looseObject({}).meta({ id: 'Object' });

/** 202 from a route that started a workflow: its id, and the backup or restore it works on. */
export const OperationStarted = z
  .looseObject({ workflowId: z.string(), backupId: z.guid().optional(), restoreId: z.guid().optional() })
  .meta({ id: 'OperationStarted' });

/** A running operation's phase (the workflow's query) and what its activity last heartbeated. */
export const LiveProgress = z
  .looseObject({
    phase: z.string(),
    /** Backups: bytes copied so far and in all (libvirt's or QEMU's job). */
    bytesDone: z.number().optional(),
    bytesTotal: z.number().optional(),
    /** Restores and checks: qemu-img's percentage. */
    percent: z.number().optional(),
    disk: z.string().optional(),
    type: z.string().optional(),
    error: z.string().optional(),
  })
  .meta({ id: 'LiveProgress' });

const date = z.string().meta({ format: 'date-time' });

export const Backup = z
  .looseObject({
    id: z.guid(),
    vmId: z.guid(),
    vmName: z.string(),
    accountId: z.guid().nullable(),
    status: z.string(),
    type: z.string().nullable(),
    name: z.string().nullable(),
    sizeBytes: z.number().nullable(),
    virtualSize: z.number().nullable(),
    durationMs: z.number().nullable(),
    fullReason: z.string().nullable(),
    error: z.string().nullable(),
    protected: z.boolean(),
    workflowId: z.string().nullable(),
    createdAt: date,
    finishedAt: date.nullable(),
    disks: z.array(z.looseObject({ target: z.string(), sizeBytes: z.number().nullable(), virtualSize: z.number().nullable() })),
    compressionStatus: CompressionStatus.nullable(),
    validationStatus: ValidationStatus.nullable(),
    /** The step that failed (wait_for_boot, execute_command, screenshot, rehash) and what it printed. */
    validationStep: ValidationStep.nullable(),
    validationOutput: z.string().nullable(),
    validationError: z.string().nullable(),
    hasValidationScreenshot: z.boolean(),
    /** Content hash of each of the backup's own files, and when a re-hash last matched it. */
    hashes: z.array(z.looseObject({ target: z.string(), algorithm: z.string(), hash: z.string(), hashedAt: date, verifiedAt: date.nullable() })),
    /** While the backup runs. */
    progress: LiveProgress.optional(),
  })
  .meta({ id: 'Backup' });

export const Restore = z
  .looseObject({
    id: z.guid(),
    backupId: z.guid(),
    sourceVmId: z.guid().nullable(),
    targetVmId: z.guid().nullable(),
    mode: z.string(),
    quick: z.boolean(),
    status: z.string(),
    phase: z.string().nullable(),
    bytes: z.number().nullable(),
    error: z.string().nullable(),
    workflowId: z.string(),
    createdAt: date,
    finishedAt: date.nullable(),
    durationMs: z.number().nullable(),
    /** While the restore runs. */
    progress: LiveProgress.optional(),
  })
  .meta({ id: 'Restore' });

export const Vm = z
  .looseObject({
    id: z.guid(),
    name: z.string(),
    state: z.string(),
    hostId: z.guid(),
    zoneId: z.guid(),
    accountId: z.guid().nullable(),
    account: z.string().nullable(),
    hasAgent: z.boolean(),
    disks: z.array(z.looseObject({ target: z.string(), path: z.string(), format: z.string(), virtualSize: z.number() })),
  })
  .meta({ id: 'Vm' });

/** A page of a list: `{items, count, page, pageSize}` (api/validate.ts listResult). */
export const listOf = (item: z.ZodType) =>
  z.object({ items: z.array(item), count: z.int(), page: z.int().optional(), pageSize: z.int().optional() });
