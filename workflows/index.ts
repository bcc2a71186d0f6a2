/** Every workflow the control worker runs. Workflows decide; activities do the I/O. */
export * from './hostInventory';
export * from './backup';
export * from './deleteBackup';
export * from './deleteVmBackups';
export * from './restore';
export * from './restoreVolume';
export * from './createVmFromBackup';
export * from './slotProbe';
export * from './retention';
export * from './slaBackups';
export * from './backupSync';
export * from './compressBackup';
export * from './hashBackup';
export * from './rehash';
export * from './validateBackup';
