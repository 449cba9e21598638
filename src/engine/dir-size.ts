/** The bytes of the files under a directory (symlinks counted as themselves, never followed). */
import { lstat, readdir } from 'node:fs/promises';
import { isErrno } from '../common/index.ts';

export async function dirSize(dir: string): Promise<number> {
  let total = 0;
  const walk = async (path: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(path, { withFileTypes: true });
    } catch (err) {
      if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return;
      throw err;
    }
    for (const e of entries) {
      const child = `${path}/${e.name}`;
      if (e.isDirectory()) await walk(child);
      else total += (await lstat(child).catch(() => ({ size: 0 }))).size;
    }
  };
  await walk(dir);
  return total;
}
