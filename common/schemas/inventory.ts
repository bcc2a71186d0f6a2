import { z } from 'zod';

export const DiskInfoSchema = z.object({
  target: z.string(),
  path: z.string(),
  format: z.string(),
  virtualSize: z.number().int().nonnegative(),
});
export type DiskInfo = z.infer<typeof DiskInfoSchema>;

export const DomainInfoSchema = z.object({
  uuid: z.guid(),
  name: z.string(),
  state: z.string(),
  disks: z.array(DiskInfoSchema),
  hasAgentChannel: z.boolean(),
});
export type DomainInfo = z.infer<typeof DomainInfoSchema>;

/** What a host worker reports about its own machine when it starts. */
export const HostFactsSchema = z.object({
  id: z.guid(),
  name: z.string(),
  zone: z.string(),
  taskQueue: z.string(),
  libvirtUri: z.string(),
  cpus: z.number().int(),
  memoryBytes: z.number(),
  storagePaths: z.array(z.string()),
  workerVersion: z.string(),
});
export type HostFacts = z.infer<typeof HostFactsSchema>;
