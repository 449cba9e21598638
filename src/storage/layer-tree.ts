/**
 * Paths inside a layer directory, resolved so that nothing can reach outside it.
 *
 * Entry names are cleaned lexically (leading `/` stripped, `.` dropped, `..` applied; a `..`
 * above the root is refused). Parent directories are then walked one component at a time: a
 * missing parent is created as a real directory, and a parent that is a symlink or not a
 * directory is refused. The final component is never followed: callers replace it. Together
 * this means no write ever goes through a symlink, whoever planted it.
 *
 * The tree remembers what this unpack made (`written`) and which paths it verified to be real
 * directories (`dirs`; a path is only there once all its ancestors are). When the directory was
 * empty at the start (`isFresh`), whatever this unpack did not make is not there, so a path it
 * never wrote needs no lstat. Before looking at or removing a path, `settle` is called so that
 * writes still in flight for it (in the file worker) land first.
 *
 * Assumes nothing else modifies the tree while a layer is applied (it is private to berth).
 * Filesystem calls are synchronous: they are short syscalls, and for layers of many small
 * files this is an order of magnitude faster than a thread-pool round trip per call.
 */
import { chmodSync, lstatSync, mkdirSync, rmSync, type Stats } from 'node:fs';
import { BerthError } from '../common/index.ts';

/** A refusal about one entry; unpack adds the layer and entry name in front. */
export function refuse(reason: string): BerthError {
  return new BerthError('INVALID_ARGUMENT', reason);
}

/**
 * Clean a tar path into components relative to the layer root (`[]` is the root itself).
 * Absolute paths are taken as relative to the root, as docker does; `..` may not climb above it.
 */
export function splitEntryPath(name: string, what = 'path'): string[] {
  const parts: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (parts.length === 0) throw refuse(`${what} ${JSON.stringify(name)} escapes the layer root`);
      parts.pop();
    } else {
      parts.push(part);
    }
  }
  return parts;
}

export function lstatOrUndefined(path: string): Stats | undefined {
  return lstatSync(path, { throwIfNoEntry: false });
}

export interface LayerTreeOptions {
  /** The directory was empty when the unpack began. */
  isFresh?: boolean;
}

export class LayerTree {
  readonly rootDir: string;
  /** True when the directory was empty at the start: only what `written` holds is there. */
  readonly isFresh: boolean;
  /** Relative paths this unpack wrote (entries and the parents it created). */
  readonly written = new Set<string>();
  /** The group this unpack gave each directory it made or set (`''` is the root). */
  readonly dirGids = new Map<string, number>();
  /** Relative paths verified to be real directories (not symlinks) during this unpack. */
  private readonly dirs = new Set<string>(['']);
  /** Called before `rel` is looked at or removed (undefined: anything): pending writes land first. */
  settle: (rel: string | undefined) => void = () => {};

  constructor(rootDir: string, opts: LayerTreeOptions = {}) {
    this.rootDir = rootDir;
    this.isFresh = opts.isFresh ?? false;
  }

  abs(parts: string[]): string {
    return parts.length === 0 ? this.rootDir : `${this.rootDir}/${parts.join('/')}`;
  }

  /** The absolute path of a relative path made of clean components (`''` is the root). */
  absRel(rel: string): string {
    return rel === '' ? this.rootDir : `${this.rootDir}/${rel}`;
  }

  /** What is at `rel` (lstat, never followed), or undefined; no syscall for what a fresh tree never had. */
  lookup(rel: string): Stats | undefined {
    if (this.isFresh && !this.written.has(rel) && rel !== '') return undefined;
    this.settle(rel);
    return lstatOrUndefined(this.absRel(rel));
  }

  /** True when `rel` is known to be a real directory. */
  isDir(rel: string): boolean {
    return this.dirs.has(rel);
  }

  /**
   * Make sure every parent of `parts` is a real directory inside the root. With `create`,
   * missing parents are made (0755, owned by the unpacking user, as docker does); without it
   * a missing parent is refused. `what` names the path in refusals ("path", "hardlink target").
   */
  ensureParents(parts: string[], opts: { create: boolean; what: string }): void {
    const n = parts.length - 1;
    if (n <= 0) return;
    // a known parent means known ancestors: dirs only holds paths whose ancestors were verified
    if (this.dirs.has(n === 1 ? (parts[0] as string) : parts.slice(0, n).join('/'))) return;
    let rel = '';
    for (let i = 0; i < n; i++) {
      rel = i === 0 ? (parts[0] as string) : `${rel}/${parts[i] as string}`;
      if (this.dirs.has(rel)) continue;
      const st = this.lookup(rel);
      if (st === undefined) {
        if (!opts.create) throw refuse(`${opts.what} parent ${JSON.stringify(rel)} does not exist in this layer`);
        const abs = this.absRel(rel);
        mkdirSync(abs, 0o755);
        chmodSync(abs, 0o755);
        this.written.add(rel);
      } else if (st.isSymbolicLink()) {
        throw refuse(`${opts.what} goes through symlink ${JSON.stringify(rel)}`);
      } else if (!st.isDirectory()) {
        throw refuse(`${opts.what} goes through ${describeKind(st)} ${JSON.stringify(rel)}, which is not a directory`);
      }
      this.dirs.add(rel);
    }
  }

  /** Make sure `parts` itself is a real directory (creating it and its parents if missing). */
  ensureDir(parts: string[]): string {
    this.ensureParents([...parts, '.'], { create: true, what: 'path' });
    return this.abs(parts);
  }

  /** Record that `parts` is now a real directory. */
  markDir(parts: string[]): void {
    this.dirs.add(parts.join('/'));
  }

  /**
   * Remove whatever is at `parts` (recursively for a directory; a symlink is removed, never
   * followed). Returns what was there.
   */
  remove(parts: string[]): Stats | undefined {
    const rel = parts.join('/');
    const st = this.lookup(rel);
    if (st === undefined) return undefined;
    if (st.isDirectory()) this.settle(undefined); // files may still be landing under it
    rmSync(this.absRel(rel), { recursive: st.isDirectory(), force: true });
    if (st.isDirectory()) this.forget(rel);
    else this.written.delete(rel);
    return st;
  }

  /** Drop cached knowledge about `rel` and everything under it. */
  forget(rel: string): void {
    const prefix = `${rel}/`;
    for (const dir of this.dirs) if (dir === rel || dir.startsWith(prefix)) this.dirs.delete(dir);
    for (const dir of this.dirGids.keys()) if (dir === rel || dir.startsWith(prefix)) this.dirGids.delete(dir);
    for (const path of this.written) if (path === rel || path.startsWith(prefix)) this.written.delete(path);
  }
}

export function describeKind(st: Stats): string {
  if (st.isFile()) return 'regular file';
  if (st.isDirectory()) return 'directory';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return 'character device';
  if (st.isBlockDevice()) return 'block device';
  if (st.isFIFO()) return 'fifo';
  if (st.isSocket()) return 'socket';
  return 'special file';
}
