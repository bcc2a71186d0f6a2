import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

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

/** Readable workflow ids, so the Web UI lists operations by what they are about. */
export const inventoryWorkflowId = (hostName: string) => `inventory-${hostName}`;
