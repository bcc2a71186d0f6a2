/**
 * The one-line summary each activity carries in the Web UI's event history ("copy vda (4.0 GiB), incremental"),
 * from its type and input. Pure: the workflow interceptor (workflows/observe.ts) calls it when an activity
 * is scheduled; `sizes` are the disks' virtual sizes the workflow has seen so far (from describeVm).
 */
type Input = Record<string, any>;
type Sizes = ReadonlyMap<string, number>;

export function gib(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(1)} GiB`;
}

const disk = (target: string, sizes: Sizes) => (sizes.has(target) ? `${target} (${gib(sizes.get(target)!)})` : target);
const disks = (targets: string[], sizes: Sizes) => targets.map((t) => disk(t, sizes)).join(', ');
const short = (id: unknown) => (typeof id === 'string' ? id.slice(0, 8) : '');

const SUMMARIES: Record<string, (i: Input, sizes: Sizes) => string> = {
  mountRepository: (i) => `mount ${i.type} repository ${i.address}`,
  unmountRepository: () => 'unmount the repository',
  describeVm: () => 'read the VM definition and disks',
  checkpointUsable: (i) => `check checkpoint ${i.name}`,
  prepareBackupDir: (i) => `prepare the folder of backup ${short(i.backupId)}`,
  freezeGuest: (i) => `freeze the guest's filesystems (guard ${i.guardSeconds} s)`,
  thawGuest: () => "thaw the guest's filesystems",
  startLiveBackup: (i, s) => `copy ${disks(i.disks, s)}${i.parentCheckpoint ? ', incremental' : ', full'} (libvirt push backup)`,
  waitLiveBackup: () => 'wait for the copy to finish',
  runLiveBackup: (i, s) => `copy ${disks(i.disks, s)}${i.parentCheckpoint ? ', incremental' : ', full'} (libvirt push backup) and wait for it`,
  offlineBackup: (i, s) => `copy ${disks(i.disks.map((d: Input) => d.target), s)} of the stopped VM${i.parentCheckpoint ? ', incremental' : ', full'}`,
  commitBackupDir: (i) => `commit backup ${short(i.backupId)} (${i.disks.length} disk${i.disks.length === 1 ? '' : 's'})`,
  pruneCheckpoints: (i) => `keep checkpoint${i.keep.length === 1 ? '' : 's'} ${i.keep.join(', ') || 'none'}`,
  abortLiveBackup: () => 'stop the backup job',
  discardBackupDir: (i) => `discard the folder of backup ${short(i.backupId)}`,
  deleteBackupFiles: (i) => `delete the files of backup ${short(i.backupId)}`,
  mergeIntoChild: () => 'merge the backup into its child',
  flattenBackupDisk: (i) => `copy ${i.file} to ${i.targetPath}`,
  swapInRestoredDisk: (i) => `swap in ${i.targetPath}`,
  prepareQuickRestoreDisk: (i) => `overlay ${i.targetPath} on ${i.file}`,
  pullDisk: (i) => `pull ${i.target} into the running VM`,
  startDomain: () => 'start the VM',
  startQuickRestore: (i) => `start the VM on overlays of backup ${short(i.backupId)}`,
  abortQuickRestore: (i) => `put back ${i.targets.join(', ')} after a failed quick restore`,
  hashBackupFiles: (i) => `hash ${i.files.length} file${i.files.length === 1 ? '' : 's'} (XXH128)`,
  compressBackupDisks: (i) => `compress ${i.targets.join(', ')} with ${i.library}`,
  finalizeCompression: (i) => `swap in the compressed ${i.targets.join(', ')}`,
  scanRepository: (i) => `scan ${i.repoPath}`,
};

export function activitySummary(type: string, input: unknown, sizes: Sizes): string | undefined {
  const f = SUMMARIES[type];
  if (!f || !input || typeof input !== 'object') return undefined;
  try {
    return f(input as Input, sizes);
  } catch {
    return undefined; // an input of another shape: no summary rather than a failed workflow task
  }
}
