/** Every activity a host worker runs: the ones that touch this host's libvirt, disks and repositories. */
export { collectInventory } from './inventory';
export { mountRepository, unmountRepository } from './mount';
export { describeVm } from './domain';
export { freezeGuest, thawGuest } from './quiesce';
export { checkpointUsable, pruneCheckpoints } from './checkpoints';
export { commitBackupDir, deleteBackupFiles, discardBackupDir, mergeIntoChild, prepareBackupDir } from './repository';
export { abortLiveBackup, runLiveBackup, startLiveBackup, waitLiveBackup } from './liveBackup';
export { offlineBackup } from './offlineBackup';
export { abortRestore, ensureDomainDefined, finishRestore, flattenBackupDisk, readBackupDomainXml, swapInRestoredDisk } from './restore';
export { abortQuickRestoreDisk, backingChain, consolidateOffline, domainIsRunning, prepareQuickRestoreDisk, pullDisk, startDomain } from './quickRestore';
export { abortQuickRestore, startQuickRestore } from './quickRestoreStart';
export { attachVolume, defineVmFromBackup } from './vmDefinition';
export { claimNewVolumes, placeNewVolume, releaseNewVolumes } from './newVolume';
export { scanRepository } from './repositoryScan';
export { compressBackupDisks, discardCompression, finalizeCompression } from './compress';
export { filesUnchanged, hashBackupFiles } from './hash';
export { createValidationVm, destroyValidationVm, removeValidationLeftovers, runValidationCommand, takeValidationScreenshot, waitForValidationBoot } from './validation';
