import { CancellationScope } from '@temporalio/workflow';

/**
 * The undo steps of an operation, each declared next to the step it reverses (the saga pattern):
 * `undo.add(() => host.releaseNewVolumes(…))`, and on failure `await undo.run()`.
 *
 * They run newest first, in a scope a cancellation cannot interrupt (a cancelled operation still
 * cleans up). The first undo that fails stops the rest and its error is thrown, so an undo that
 * relies on an earlier one having worked (stop the job, then remove its folder) never runs without it.
 */
export class Compensations {
  private readonly undos: (() => Promise<unknown>)[] = [];

  add(undo: () => Promise<unknown>): void {
    this.undos.push(undo);
  }

  /** A point of no return: what was done so far stays, whatever fails later (a VM defined, a volume attached). */
  keepAll(): void {
    this.undos.length = 0;
  }

  async run(): Promise<void> {
    const undos = this.undos.splice(0).reverse();
    await CancellationScope.nonCancellable(async () => {
      for (const undo of undos) await undo();
    });
  }
}
