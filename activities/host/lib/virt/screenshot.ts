import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { run } from '../../exec';
import { withTempDir } from '../files';
import { virsh } from './virsh';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/**
 * The domain's screen as a PNG (`virsh screenshot`). libvirt hands over what QEMU's screendump wrote:
 * PNG where both support it, PPM otherwise, which netpbm's pnmtopng turns into a PNG.
 */
export async function screenshotPng(domain: string): Promise<Buffer> {
  return withTempDir(async (dir) => {
    const raw = path.join(dir, 'screen');
    await virsh(['screenshot', domain, raw], { timeoutMs: 60_000 });
    const bytes = await readFile(raw);
    if (bytes.subarray(0, 8).equals(PNG_SIGNATURE)) return bytes;
    const out = path.join(dir, 'screen.png');
    // Positional arguments only: nothing is interpreted by the shell, which is only there for the redirection.
    await run('sh', ['-c', 'pnmtopng "$1" > "$2"', 'pnmtopng', raw, out], { timeoutMs: 60_000 });
    const png = await readFile(out);
    if (!png.subarray(0, 8).equals(PNG_SIGNATURE)) throw new Error(`virsh screenshot of ${domain} gave neither PNG nor PPM that pnmtopng reads`);
    return png;
  });
}
