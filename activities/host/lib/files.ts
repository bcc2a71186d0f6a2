import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/*
 * File primitives of the host: existence, durability (fsync of files and folders), private temporary
 * files, ownership, and renames that survive a crash once they return.
 */

export function isNotFound(e: unknown): boolean {
  return (e as NodeJS.ErrnoException)?.code === 'ENOENT';
}

/** Whether anything (a dangling symlink too) is at p; other errors than ENOENT are thrown. */
export async function exists(p: string): Promise<boolean> {
  try {
    await fs.lstat(p);
    return true;
  } catch (e) {
    if (isNotFound(e)) return false;
    throw e;
  }
}

/** fsync of a file or a folder (a folder's fsync makes the names created, renamed or removed in it durable). */
export async function fsyncPath(p: string): Promise<void> {
  const fh = await fs.open(p, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export const fsyncFile = fsyncPath;
export const fsyncDir = fsyncPath;

/** Renames from over to and makes that durable (the folder of `to` is fsynced). */
export async function renameDurably(from: string, to: string): Promise<void> {
  await fs.rename(from, to);
  await fsyncDir(path.dirname(to));
}

/** Whether a and b are the same file (same device and inode, symlinks not followed). */
export async function sameFile(a: string, b: string): Promise<boolean> {
  const [sa, sb] = await Promise.all([fs.lstat(a).catch(() => null), fs.lstat(b).catch(() => null)]);
  return !!sa && !!sb && sa.dev === sb.dev && sa.ino === sb.ino;
}

/** A private temporary folder for the duration of `fn`, removed afterwards whatever happens. */
export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'backflow-'));
  try {
    return await fn(dir);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

/** Writes `content` to a private temporary file for the duration of `fn`. */
export function withTempFile<T>(name: string, content: string, fn: (file: string) => Promise<T>): Promise<T> {
  return withTempDir(async (dir) => {
    const file = path.join(dir, name);
    await fs.writeFile(file, content, { mode: 0o600 });
    return fn(file);
  });
}

/**
 * Gives `to` the owner and mode of `from` (if `from` exists): a restored disk must be usable by the
 * QEMU user the old one was owned by (libvirt's dynamic ownership is not relied upon).
 */
export async function copyOwnership(from: string, to: string): Promise<void> {
  const st = await fs.stat(from).catch((e) => (isNotFound(e) ? null : Promise.reject(e)));
  if (!st) return;
  await fs.chown(to, st.uid, st.gid);
  await fs.chmod(to, st.mode & 0o7777);
}

/** Bytes the file really takes on disk (sparse files count what is allocated). */
export async function allocatedBytes(p: string): Promise<number> {
  return (await fs.stat(p)).blocks * 512;
}
