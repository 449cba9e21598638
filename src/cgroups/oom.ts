/**
 * OOM-kill notification by polling the kernel's counter (v2 memory.events `oom_kill`,
 * v1 memory.oom_control `oom_kill`). An eventfd-based stream is a later step; polling is
 * what this is, and it never reports a kill the counter has not recorded.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { BerthError } from '../common/index.ts';
import type { WatchOomOptions } from './driver.ts';

/** Yields the counter each time it grows; ends on abort or when the cgroup is gone (NOT_FOUND). */
export async function* watchCounter(read: () => Promise<number>, options: WatchOomOptions = {}): AsyncGenerator<number> {
  const { signal, intervalMs = 250 } = options;
  const readOrEnd = async (): Promise<number | undefined> => {
    try {
      return await read();
    } catch (err) {
      if (err instanceof BerthError && err.code === 'NOT_FOUND') return undefined;
      throw err;
    }
  };
  let last = await readOrEnd();
  while (last !== undefined && !signal?.aborted) {
    try {
      await delay(intervalMs, undefined, signal ? { signal } : {});
    } catch (err) {
      if ((err as Error).name === 'AbortError') return;
      throw err;
    }
    const now = await readOrEnd();
    if (now === undefined) return;
    if (now > last) yield now;
    last = now;
  }
}
