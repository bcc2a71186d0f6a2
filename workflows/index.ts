/** Every workflow the control worker runs. Workflows decide; activities do the I/O. */
export * from './hostInventory';
export * from './backup';
export * from './deleteBackup';
export * from './deleteVmBackups';
