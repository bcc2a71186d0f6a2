/**
 * Test files run two at a time (scripts/test.sh): each starts its own Temporal server, database and workers,
 * and names its VMs uniquely, so the only thing they share is libvirt on a 2-core machine.
 */
module.exports = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  testTimeout: 600000,
  maxWorkers: 2,
  transform: { '^.+\\.ts$': ['ts-jest', { isolatedModules: true }] },
};
