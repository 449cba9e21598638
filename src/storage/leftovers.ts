/**
 * What a killed command leaves in the state root (temp dirs and files whose owner is dead, see
 * owner.ts), and removing it with a count of the bytes it held.
 */
import { lstat, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isErrno } from '../common/index.ts';
import { ownerState } from './owner.ts';

/** A temp file or dir that was removed, and the bytes it held. */
export interface Leftover {
  path: string;
  size: number;
}

/**
 * How old a temp file without an owner in its name (made by a berth from before owners were
 * recorded) must be before it is taken for a leftover: no command runs that long between
 * touching its temp files.
 */
export const UNOWNED_LEFTOVER_AGE_MS = 60 * 60_000;

/** Bytes of regular files under `path` (the path itself if it is a file); 0 when it is gone. */
export async function treeSize(path: string): Promise<number> {
  let st;
  try {
    st = await lstat(path);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return 0;
    throw err;
  }
  if (!st.isDirectory()) return st.isFile() ? st.size : 0;
  let total = 0;
  const names = await readdir(path).catch((err: unknown) => {
    if (isErrno(err, 'ENOENT')) return [] as string[];
    throw err;
  });
  for (const name of names) total += await treeSize(join(path, name));
  return total;
}

/** Remove `path` (file or tree), returning what it held. */
export async function removeLeftover(path: string): Promise<Leftover> {
  const size = await treeSize(path);
  await rm(path, { recursive: true, force: true });
  return { path, size };
}

/** Entries of `dir` (none when it does not exist). */
export async function listDir(dir: string): Promise<string[]> {
  return readdir(dir).catch((err: unknown) => {
    if (isErrno(err, 'ENOENT')) return [] as string[];
    throw err;
  });
}

/**
 * True when `dir/name` is a leftover: its name carries an owner after `prefix` who is gone, or
 * it has no owner and was not touched for UNOWNED_LEFTOVER_AGE_MS.
 */
export async function isLeftover(dir: string, name: string, prefix: string, now = Date.now()): Promise<boolean> {
  const owner = ownerState(name, prefix);
  if (owner !== 'unknown') return owner === 'dead';
  const st = await stat(join(dir, name)).catch(() => undefined);
  return st !== undefined && now - st.mtimeMs >= UNOWNED_LEFTOVER_AGE_MS;
}

/**
 * Remove the leftovers among the entries of `dir` named `<prefix>…` (`prefixes`: the prefixes,
 * or a function giving an entry's prefix, undefined for an entry that is no temp file).
 */
export async function removeLeftovers(dir: string, prefixes: readonly string[] | ((name: string) => string | undefined)): Promise<Leftover[]> {
  const prefixOf = typeof prefixes === 'function' ? prefixes : (name: string) => prefixes.find((p) => name.startsWith(p));
  const removed: Leftover[] = [];
  for (const name of await listDir(dir)) {
    const prefix = prefixOf(name);
    if (prefix === undefined || !(await isLeftover(dir, name, prefix))) continue;
    removed.push(await removeLeftover(join(dir, name)));
  }
  return removed;
}
