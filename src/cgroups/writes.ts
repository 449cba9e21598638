/**
 * Carrying out a batch of control file writes in order, the way the kernel accepts them.
 */
import { BerthError, isErrno } from '../common/index.ts';
import { writeControl } from './fs.ts';
import type { ControlWrite } from './resources.ts';

/** A write with the absolute path of its control file. */
export interface PlacedWrite extends ControlWrite {
  path: string;
}

/**
 * Write every value in order. A write marked `isRetriedAfterEinval` that the kernel refuses
 * with EINVAL is tried once more after the rest of the batch (cpu period and burst depend on
 * the quota written after them); any other failure stops the batch.
 */
export async function runWrites(writes: readonly PlacedWrite[]): Promise<void> {
  const retries: PlacedWrite[] = [];
  for (const write of writes) {
    try {
      await writeControl(write.path, write.value, `set by ${write.field}`);
    } catch (err) {
      if (write.isRetriedAfterEinval && err instanceof BerthError && isErrno(err.cause, 'EINVAL')) retries.push(write);
      else throw err;
    }
  }
  for (const write of retries) await writeControl(write.path, write.value, `set by ${write.field}`);
}
