/** Every activity a host worker runs: the ones that touch this host's libvirt, disks and repositories. */
export { collectInventory } from './inventory';
export { mountRepository, unmountRepository } from './mount';
export { describeVm } from './domain';
