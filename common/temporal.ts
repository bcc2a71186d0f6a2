import { defineSearchAttributeKey, SearchAttributeType, type SearchAttributePair } from '@temporalio/common';

/** The control worker runs every workflow and the catalog activities. */
export const CONTROL_TASK_QUEUE = 'backflow-control';

/** Each KVM host's worker polls its own queue, so a disk is only touched where it lives. */
export const hostTaskQueue = (hostName: string) => `backflow-host-${hostName}`;

/** Custom search attributes, registered with the server by scripts/temporal.sh and the test harness. */
export const SA = {
  VmId: defineSearchAttributeKey('VmId', SearchAttributeType.KEYWORD),
  BackupId: defineSearchAttributeKey('BackupId', SearchAttributeType.KEYWORD),
  HostId: defineSearchAttributeKey('HostId', SearchAttributeType.KEYWORD),
  Zone: defineSearchAttributeKey('Zone', SearchAttributeType.KEYWORD),
  Operation: defineSearchAttributeKey('Operation', SearchAttributeType.KEYWORD),
};
export const SEARCH_ATTRIBUTES = Object.values(SA);

/** What an operation is about: the search attributes the Web UI filters by (absent ones are left out). */
export interface OperationSubject { operation: string; vmId?: string; backupId?: string; hostId?: string; zone?: string }

const KEYS = { vmId: SA.VmId, backupId: SA.BackupId, hostId: SA.HostId, zone: SA.Zone, operation: SA.Operation } as const;

/** Pure, so workflows starting children set the same attributes as the API does. */
export function operationAttributes(subject: OperationSubject): SearchAttributePair[] {
  return (Object.keys(KEYS) as (keyof typeof KEYS)[]).flatMap((k) => (subject[k] == null ? [] : [{ key: KEYS[k], value: subject[k] }]));
}

/**
 * Server setting for every Temporal we run: long-polls end every 10 s (default 60 s), so a live worker
 * re-polls, and so refreshes its last-poll time, at least that often; /health can then tell a dead worker
 * within 30 s by that time alone (api/routes/health.ts, POLLER_FRESH_MS).
 */
export const TEMPORAL_SERVER_ARGS = ['--dynamic-config-value', 'matching.longPollExpirationInterval="10s"'];

/** Readable workflow ids, so the Web UI lists operations by what they are about. */
export const inventoryWorkflowId = (hostName: string) => `inventory-${hostName}`;
export const backupSyncWorkflowId = (zoneName: string) => `backup-sync-${zoneName}`;
export const rehashZoneWorkflowId = (zoneName: string) => `rehash-${zoneName}`;
