import { realpath } from 'node:fs/promises';
import path from 'node:path';

/**
 * Local repositories are confined to configured roots. A path is judged by where it really leads:
 * symlinks in its longest existing prefix are resolved, the part that does not exist yet is kept as
 * given (it was checked to hold no `..`). Shared by the API (at add/update) and the host worker (before
 * it creates or uses the folder), since the two may run on different machines with different files.
 */
export async function realPathOf(p: string): Promise<string> {
  let head = path.resolve(p);
  const rest: string[] = [];
  for (;;) {
    try {
      return path.join(await realpath(head), ...rest);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if ((code !== 'ENOENT' && code !== 'ENOTDIR') || head === path.dirname(head)) throw e;
      rest.unshift(path.basename(head));
      head = path.dirname(head);
    }
  }
}

/** The real path of a local repository inside one of the roots, or why it is refused. */
export async function confineToRoots(address: string, roots: string[]): Promise<{ path: string } | { error: string }> {
  let real: string;
  try {
    real = await realPathOf(address);
  } catch (e) {
    return { error: `cannot be resolved: ${(e as Error).message}` };
  }
  for (const root of roots) {
    const r = await realPathOf(root).catch(() => null);
    if (r && real.startsWith(r === '/' ? '/' : r + path.sep) && real !== r) return { path: real };
  }
  const shown = real === path.resolve(address) ? '' : ` (it leads to ${real})`;
  return { error: `a local repository must be a folder inside a repository root of the host: ${roots.join(', ') || 'none configured'}${shown}` };
}
