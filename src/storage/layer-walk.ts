/**
 * Reading a container's filesystem from its layer directories, as overlayfs shows it, without
 * ever leaving them: `diff`, `export` and `commit` walk the overlay upper dir and the image's
 * lower layers on the host.
 *
 * Everything in those directories is the container's (or the image's) and hostile. Every
 * directory is opened by fd, one component at a time, with O_NOFOLLOW|O_DIRECTORY relative to
 * its parent's fd (`/proc/self/fd/<fd>/<name>`: the fd's own directory, then one name that is
 * never followed); entries are lstat'd and files opened the same way (O_PATH|O_NOFOLLOW, then
 * read only once the handle is a regular file),
 * so a symlink, wherever it is planted and whenever it is swapped in (a running container
 * writes while we read), is never followed. Names are bytes (they need not be UTF-8).
 *
 * Overlayfs conventions in the directories (see whiteout.ts): a whiteout is a character device
 * 0:0; an opaque directory carries `trusted.overlay.opaque=y` and hides what lower layers have
 * in it.
 */
import { closeSync, constants, fstatSync, lstatSync, openSync, readdirSync, readlinkSync, readSync, type Stats } from 'node:fs';
import { BerthError, isErrno } from '../common/index.ts';
import { lgetxattr, llistxattr, major, minor } from '../native/sys.ts';
import { OVERLAY_OPAQUE_XATTR, isOverlayWhiteout } from './whiteout.ts';

const O_DIR = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;
/** O_PATH (Linux): a handle to look at, never an open of the file itself (no device's open runs). */
const O_PATH = 0o10000000;
const O_HANDLE = O_PATH | constants.O_NOFOLLOW;
/** Deeper trees are refused: each level holds a directory fd while it is walked. */
export const MAX_WALK_DEPTH = 4096;
const SLASH = Buffer.from('/');

export type EntryKind = 'file' | 'dir' | 'symlink' | 'chardev' | 'blockdev' | 'fifo' | 'socket' | 'whiteout';

export function entryKind(st: Stats): EntryKind {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return isOverlayWhiteout(st) ? 'whiteout' : 'chardev';
  if (st.isBlockDevice()) return 'blockdev';
  if (st.isFIFO()) return 'fifo';
  return 'socket';
}

/** The device numbers of a device entry. */
export function deviceNumbers(st: Stats): { major: number; minor: number } {
  return { major: major(st.rdev), minor: minor(st.rdev) };
}

/** `/proc/self/fd/<fd>/<name>`: `name` in the directory open as `fd`, the name itself not followed. */
function at(fd: number, name: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`/proc/self/fd/${fd}/`), name]);
}

function lstatAt(fd: number, name: Buffer): Stats | undefined {
  return lstatSync(at(fd, name), { throwIfNoEntry: false });
}

/** The directory `name` in `fd`, or undefined when it is (now) no directory or gone. */
function openDirAt(fd: number, name: Buffer): number | undefined {
  try {
    return openSync(at(fd, name), O_DIR);
  } catch (err) {
    if (isErrno(err, 'ENOENT', 'ENOTDIR', 'ELOOP')) return undefined;
    throw err;
  }
}

function openRoot(dir: string): number {
  try {
    return openSync(dir, O_DIR);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) throw new BerthError('NOT_FOUND', `layer directory ${dir} is missing`, { cause: err });
    throw err;
  }
}

/** Names in the directory open as `fd`, in byte order (Go's filepath.Walk order, docker's). */
function listAt(fd: number): Buffer[] {
  return readdirSync(`/proc/self/fd/${fd}`, { encoding: 'buffer' }).sort(Buffer.compare);
}

function isOpaqueFd(fd: number): boolean {
  const value = lgetxattr(`/proc/self/fd/${fd}/.`, OVERLAY_OPAQUE_XATTR);
  return value !== undefined && value.length === 1 && value[0] === 0x79; // 'y'
}

function join(parent: Buffer, name: Buffer): Buffer {
  return parent.length === 0 ? name : Buffer.concat([parent, SLASH, name]);
}

function tooDeep(path: Buffer): BerthError {
  return new BerthError('INVALID_ARGUMENT', `directory ${JSON.stringify('/' + path.toString())} nests more than ${MAX_WALK_DEPTH} levels deep`);
}

/** One entry met on a walk. `dirFd` and `name` are valid until the walk goes on. */
export interface WalkEntry {
  /** Relative to the root, components joined by `/`. */
  path: Buffer;
  name: Buffer;
  dirFd: number;
  stat: Stats;
  kind: EntryKind;
  /** Directories: marked opaque (what lower layers have in it is hidden). */
  isOpaque: boolean;
  /** Which layer it is from (0: the top one). */
  layer: number;
  /** False once the walk went on: `dirFd` may then be closed or another file's. */
  isCurrent: boolean;
}

function checkCurrent(entry: WalkEntry): void {
  if (!entry.isCurrent) throw new BerthError('INTERNAL', `walk entry ${JSON.stringify(entry.path.toString())} read after the walk went on`);
}

/** The target of a symlink entry, as bytes (never followed). */
export function readLinkEntry(entry: WalkEntry): Buffer {
  checkCurrent(entry);
  return readlinkSync(at(entry.dirFd, entry.name), { encoding: 'buffer' });
}

/** Extended attributes of an entry worth carrying into an archive (file capabilities, user.*). */
export function carriedXattrs(entry: WalkEntry): Array<[string, Buffer]> {
  if (entry.kind === 'symlink' || entry.kind === 'whiteout') return [];
  checkCurrent(entry);
  const path = at(entry.dirFd, entry.name).toString();
  if (Buffer.from(path).compare(at(entry.dirFd, entry.name)) !== 0) return []; // not UTF-8: koffi takes strings
  const out: Array<[string, Buffer]> = [];
  for (const name of llistxattr(path)) {
    if (name !== 'security.capability' && !name.startsWith('user.')) continue;
    const value = lgetxattr(path, name);
    if (value !== undefined) out.push([name, value]);
  }
  return out;
}

/**
 * The content of a regular-file entry, exactly `entry.stat.size` bytes. The name is opened
 * with O_PATH|O_NOFOLLOW next to where it was found, checked to be a regular file, and only
 * then opened for reading (through that handle: the same inode), so nothing the container
 * swaps in meanwhile is followed or opened (a device node's open could act on the host's
 * device). A file that changed meanwhile (a running container) is cut or padded with zeros to
 * the size already declared; one that is no longer a regular file gives zeros. Must be
 * consumed before the walk goes on.
 */
export function* readFileEntry(entry: WalkEntry, chunkSize = 1 << 20): Generator<Uint8Array> {
  checkCurrent(entry);
  const size = entry.stat.size;
  let fd: number | undefined;
  let handle: number | undefined;
  try {
    handle = openSync(at(entry.dirFd, entry.name), O_HANDLE);
    if (fstatSync(handle).isFile()) fd = openSync(`/proc/self/fd/${handle}`, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    if (!isErrno(err, 'ENOENT', 'ELOOP', 'ENXIO', 'ENOTDIR')) throw err;
  } finally {
    if (handle !== undefined) closeSync(handle);
  }
  try {
    let done = 0;
    if (fd !== undefined) {
      const buf = Buffer.allocUnsafe(Math.min(chunkSize, Math.max(size, 1)));
      while (done < size) {
        const n = readSync(fd, buf, 0, Math.min(buf.length, size - done), null);
        if (n === 0) break;
        done += n;
        yield Buffer.from(buf.subarray(0, n));
      }
    }
    while (done < size) {
      const n = Math.min(chunkSize, size - done);
      done += n;
      yield Buffer.alloc(n);
    }
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** A directory of one layer, open. */
interface Contributor {
  layer: number;
  fd: number;
}

/**
 * Where `name` (of a directory whose layers are `contributors`, top first) comes from: its
 * top-most entry, and, when that is a directory, the layers that make up its content (the
 * same name as a directory in the next layers down, down to the first opaque one, stopping at
 * anything else there). Opens the returned directories.
 */
function resolveName(contributors: Contributor[], name: Buffer): { top: { layer: number; stat: Stats; dirFd: number } | undefined; dirs: Contributor[]; isOpaque: boolean } {
  const dirs: Contributor[] = [];
  let top: { layer: number; stat: Stats; dirFd: number } | undefined;
  let isOpaque = false;
  for (const c of contributors) {
    const st = lstatAt(c.fd, name);
    if (!st) continue;
    if (!top) top = { layer: c.layer, stat: st, dirFd: c.fd };
    if (!st.isDirectory()) break; // a whiteout or a file hides what is below
    if (!top.stat.isDirectory()) break;
    const fd = openDirAt(c.fd, name);
    if (fd === undefined) break; // swapped meanwhile: what is below stays hidden
    dirs.push({ layer: c.layer, fd });
    const opaque = isOpaqueFd(fd);
    if (dirs.length === 1) isOpaque = opaque;
    if (opaque) break;
  }
  return { top, dirs, isOpaque };
}

function closeAll(dirs: Contributor[]): void {
  for (const d of dirs) closeSync(d.fd);
}

/**
 * The merged view of `layerDirs` (top first, as overlayfs lists lowerdir), pre-order, names in
 * byte order: what a container sees. Whiteouts and what they or opaque directories hide are
 * left out. The root itself is not yielded.
 */
export function* walkMerged(layerDirs: string[]): Generator<WalkEntry> {
  const roots: Contributor[] = [];
  try {
    for (const [layer, dir] of layerDirs.entries()) {
      const fd = openRoot(dir);
      roots.push({ layer, fd });
      if (isOpaqueFd(fd)) break;
    }
    yield* mergedDir(roots, Buffer.alloc(0), 0);
  } finally {
    closeAll(roots);
  }
}

function* mergedDir(contributors: Contributor[], path: Buffer, depth: number): Generator<WalkEntry> {
  if (depth >= MAX_WALK_DEPTH) throw tooDeep(path);
  const names = new Map<string, Buffer>();
  for (const c of contributors) for (const n of listAt(c.fd)) names.set(n.toString('latin1'), n);
  const sorted = [...names.values()].sort(Buffer.compare);
  for (const name of sorted) {
    const { top, dirs, isOpaque } = resolveName(contributors, name);
    try {
      if (!top) continue;
      const kind = entryKind(top.stat);
      if (kind === 'whiteout') continue;
      const childPath = join(path, name);
      const entry: WalkEntry = { path: childPath, name, dirFd: top.dirFd, stat: top.stat, kind, isOpaque, layer: top.layer, isCurrent: true };
      yield entry;
      entry.isCurrent = false;
      if (kind === 'dir' && dirs.length) yield* mergedDir(dirs, childPath, depth + 1);
    } finally {
      closeAll(dirs);
    }
  }
}

/** An entry of the upper dir, with what the lower layers have at its path. */
export interface UpperEntry extends WalkEntry {
  /** The merged lower layers' entry at this path (undefined: none, or hidden by a whiteout). */
  lower: Stats | undefined;
}

/**
 * The upper dir's own entries (whiteouts included), pre-order, names in byte order; with
 * `lowerDirs` (top first) each carries what the lower layers hold at its path.
 */
export function* walkUpper(upperDir: string, lowerDirs: string[] = []): Generator<UpperEntry> {
  const upper = openRoot(upperDir);
  const lowers: Contributor[] = [];
  try {
    for (const [i, dir] of lowerDirs.entries()) {
      const fd = openRoot(dir);
      lowers.push({ layer: i + 1, fd });
      if (isOpaqueFd(fd)) break;
    }
    yield* upperDirEntries(upper, lowers, Buffer.alloc(0), 0);
  } finally {
    closeSync(upper);
    closeAll(lowers);
  }
}

function* upperDirEntries(fd: number, lowers: Contributor[], path: Buffer, depth: number): Generator<UpperEntry> {
  if (depth >= MAX_WALK_DEPTH) throw tooDeep(path);
  for (const name of listAt(fd)) {
    const stat = lstatAt(fd, name);
    if (!stat) continue; // removed meanwhile
    const kind = entryKind(stat);
    const lower = lowers.length ? resolveName(lowers, name) : { top: undefined, dirs: [] as Contributor[], isOpaque: false };
    try {
      const lowerStat = lower.top && entryKind(lower.top.stat) !== 'whiteout' ? lower.top.stat : undefined;
      const childPath = join(path, name);
      if (kind !== 'dir') {
        const entry: UpperEntry = { path: childPath, name, dirFd: fd, stat, kind, isOpaque: false, layer: 0, lower: lowerStat, isCurrent: true };
        yield entry;
        entry.isCurrent = false;
        continue;
      }
      const child = openDirAt(fd, name);
      if (child === undefined) continue; // swapped meanwhile
      try {
        const isOpaque = isOpaqueFd(child);
        const entry: UpperEntry = { path: childPath, name, dirFd: fd, stat, kind, isOpaque, layer: 0, lower: lowerStat, isCurrent: true };
        yield entry;
        entry.isCurrent = false;
        yield* upperDirEntries(child, lower.dirs, childPath, depth + 1);
      } finally {
        closeSync(child);
      }
    } finally {
      closeAll(lower.dirs);
    }
  }
}
