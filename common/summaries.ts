import type { OperationSubject } from './temporal';

/**
 * What the Temporal Web UI shows of an operation (its user metadata): a one-line summary an operator
 * reads in the workflow list and on its page, and static details with the ids it is about. Pure, so
 * workflows starting children and schedule actions say the same as the API.
 */
export interface OperationMetadata { staticSummary: string; staticDetails: string }

const NAMES: Record<string, string> = { vmId: 'VM', backupId: 'backup', hostId: 'host', zone: 'zone' };

/** `summary` when the caller has one (with names), else one made from the subject: "retention of VM <id>". */
export function operationMetadata(subject: OperationSubject, summary?: string): OperationMetadata {
  const what = subject.operation.replace(/-/g, ' ');
  const about = subject.vmId ? ` of VM ${subject.vmId}` : subject.zone ? ` in zone ${subject.zone}` : '';
  const lines = (Object.keys(NAMES) as (keyof typeof NAMES)[])
    .filter((k) => subject[k as keyof OperationSubject])
    .map((k) => `- ${NAMES[k]}: \`${subject[k as keyof OperationSubject]}\``);
  return { staticSummary: summary ?? `${what}${about}`, staticDetails: [`**${what}**`, '', ...lines].join('\n') };
}

/** "2026-11-20 03:00 UTC": how a backup is named in a restore's summary. */
export function backupTime(d: Date | string): string {
  return `${new Date(d).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** "quick restore of web-01 from 2026-11-20 03:00 UTC", "restore of vdb of web-01 …", "new VM web-02 from …". */
export function restoreSummary(
  vmName: string, backupCreatedAt: Date | string, r: { mode: string; quick: boolean; volumeTarget?: string; newVmName?: string; targetVmId?: string },
): string {
  const from = `from ${backupTime(backupCreatedAt)}`;
  const quick = r.quick ? 'quick ' : '';
  if (r.mode === 'volume') return `${quick}restore of ${r.volumeTarget} of ${vmName} ${from} onto VM ${r.targetVmId}`;
  if (r.mode === 'new_vm') return `new VM ${r.newVmName} from the backup of ${vmName} ${from}`;
  return `${quick}restore of ${vmName} ${from}`;
}
