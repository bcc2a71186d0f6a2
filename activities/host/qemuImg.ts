import { stat } from 'node:fs/promises';
import { ApplicationFailure } from '@temporalio/common';
import { run } from './exec';

export interface ImageInfo {
  filename: string;
  format: string;
  'virtual-size': number;
  'backing-filename'?: string;
  'full-backing-filename'?: string;
  'format-specific'?: { data?: { bitmaps?: { name: string; flags: string[] }[] } };
}

/** qemu-img info; -U so an image a running VM holds can be read; with format, the file is not probed. */
export async function imageInfo(path: string, format?: string): Promise<ImageInfo> {
  return JSON.parse(await run('qemu-img', ['info', '-U', '--output=json', ...(format ? ['-f', format] : []), path]));
}

/** The image and every backing file under it, top first. */
export async function imageChain(path: string): Promise<ImageInfo[]> {
  return JSON.parse(await run('qemu-img', ['info', '-U', '--backing-chain', '--output=json', path]));
}

/** Bytes the file really takes on disk (sparse files count what is allocated). */
export async function allocatedBytes(path: string): Promise<number> {
  return (await stat(path)).blocks * 512;
}

/** qemu-img check; a corrupt or unreadable image fails non-retryably, with qemu-img's words. */
export async function checkImage(path: string): Promise<void> {
  try {
    await run('qemu-img', ['check', '-q', path]);
  } catch (e) {
    throw ApplicationFailure.nonRetryable(`${path} failed qemu-img check: ${(e as Error).message}`, 'CorruptBackup');
  }
}

/** Points an image at another backing file without touching data (-u); the backing path may be relative. */
export async function rebaseUnsafe(file: string, backing: string): Promise<void> {
  await run('qemu-img', ['rebase', '-u', '-f', 'qcow2', ...(backing ? ['-F', 'qcow2'] : []), '-b', backing, file]);
}
