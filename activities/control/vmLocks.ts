import type { Client } from '@temporalio/client';
import type { Pool } from 'pg';
import { inTransaction } from '../../common/db';
import { fail, Failure } from '../../common/failures';

/** One backup or restore at a time per VM: a row naming the workflow that holds the VM. */
export function createVmLockActivities(pool: Pool, temporal?: Client) {
  /** A holder whose workflow is no longer running (terminated, timed out) must not block the VM forever. */
  async function holderAlive(holder: string): Promise<boolean> {
    if (!temporal) return true;
    try {
      const d = await temporal.workflow.getHandle(holder).describe();
      return d.status.name === 'RUNNING';
    } catch {
      return false;
    }
  }

  return {
    /** Takes the VM for this workflow, or fails (retryably) while another operation holds it. */
    async acquireVmLock(input: { vmId: string; holder: string; operation: string }): Promise<void> {
      for (;;) {
        const current = await inTransaction(pool, async (c) => {
          const ins = await c.query(
            `INSERT INTO vm_locks (vm_id, holder, operation) VALUES ($1,$2,$3) ON CONFLICT (vm_id) DO NOTHING RETURNING holder`,
            [input.vmId, input.holder, input.operation],
          );
          if (ins.rowCount) return null;
          const held = await c.query(`SELECT holder, operation FROM vm_locks WHERE vm_id=$1 FOR UPDATE`, [input.vmId]);
          return held.rows[0] as { holder: string; operation: string } | undefined;
        });
        if (!current || current.holder === input.holder) return;
        if (await holderAlive(current.holder)) {
          throw fail.retryable(Failure.VmBusy, `VM is busy: ${current.operation} ${current.holder} is running; waiting for it to finish`);
        }
        // The holder is gone: clear its row (only if still its own) and try again.
        await pool.query(`DELETE FROM vm_locks WHERE vm_id=$1 AND holder=$2`, [input.vmId, current.holder]);
      }
    },

    async releaseVmLock(input: { vmId: string; holder: string }): Promise<void> {
      await pool.query(`DELETE FROM vm_locks WHERE vm_id=$1 AND holder=$2`, [input.vmId, input.holder]);
    },
  };
}
