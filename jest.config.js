/** Tests run one file at a time: they share libvirt and a 2-core machine. */
module.exports = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  testTimeout: 600000,
  maxWorkers: 1,
  transform: { '^.+\\.ts$': ['ts-jest', { isolatedModules: true }] },
};
