import { open, rename, rm, mkdir } from 'node:fs/promises';
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';

let tmpCounter = 0;
/** A temp name unique to this process and call (no crypto: it stays off the start-up path). */
function tmpName(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now().toString(36)}.${(tmpCounter++).toString(36)}.tmp`);
}

/** Write a file so that readers see either the old content or the new, never a mix (temp file + fsync + rename). */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const tmpPath = tmpName(path);
  const handle = await open(tmpPath, 'wx', mode);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } catch (err) {
    await handle.close();
    await rm(tmpPath, { force: true });
    throw err;
  }
  await handle.close();
  try {
    await rename(tmpPath, path);
  } catch (err) {
    await rm(tmpPath, { force: true });
    throw err;
  }
}

/** JSON on disk always carries a `version`. */
export async function writeJsonAtomic(path: string, value: unknown, mode = 0o644): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(value, null, 2) + '\n', mode);
}

/**
 * The same, synchronously: for small state files on the hot path of a container start, where a
 * thread-pool round trip per call costs more than the write itself. `durable: false` skips the
 * fsync, for state that cannot outlive a reboot anyway (a runtime's state of live processes,
 * under /run): readers still see the old content or the new, never a mix.
 */
export function writeFileAtomicSync(path: string, data: string | Uint8Array, mode = 0o644, opts: { durable?: boolean } = {}): void {
  const tmpPath = tmpName(path);
  const fd = openSync(tmpPath, 'wx', mode);
  try {
    writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    if (opts.durable !== false) fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(tmpPath, { force: true });
    throw err;
  }
  closeSync(fd);
  try {
    renameSync(tmpPath, path);
  } catch (err) {
    rmSync(tmpPath, { force: true });
    throw err;
  }
}
