/**
 * How the unpacker applies tar entries (unpack.ts has the stream around it): called by the tar
 * parser for each entry, synchronously. Directories, links, devices, whiteouts and replaced
 * paths are done here on the main thread; new regular files go to the file worker when there
 * is one (their data stays in the output ring), else they are written here.
 *
 * Safety lives in the layer tree (layer-tree.ts): paths are cleaned and walked without
 * following symlinks; before a path the worker has not finished is looked at or replaced, it is
 * waited for, so tar order holds. A chown is skipped only when provably a no-op (see
 * `isOwnedAlready`); chmod always follows it (chown clears setuid and setgid).
 */
import { chmodSync, closeSync, constants, lchownSync, linkSync, mkdirSync, openSync, symlinkSync, writeSync } from 'node:fs';
import { S_IFBLK, S_IFCHR, lsetxattr, lutimes, mkfifo, mknod, isSyscallErrno, type Timespec } from '../native/sys.ts';
import type { FileWorker } from './file-worker.ts';
import { refuse, splitEntryPath, type LayerTree } from './layer-tree.ts';
import type { TarHandler, TarHeader } from './tar/parser.ts';
import { distance } from './unpack-signals.ts';
import { classifyName, emptyForOpaque, markOverlayOpaque, whiteoutTarget, writeOverlayWhiteout } from './whiteout.ts';

export type UnpackMode = 'overlay' | 'vfs';

/** What applying entries counts (part of UnpackStats). */
export interface ApplyStats {
  entries: number;
  bytes: number;
  whiteouts: number;
}

const DROPPED_XATTR_PREFIX = 'trusted.overlay.';
const CREATE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

export interface ApplierOptions {
  tree: LayerTree;
  mode: UnpackMode;
  stats: ApplyStats;
  warn: (entry: string, message: string) => void;
  worker: FileWorker | undefined;
  /** Every entry gets this owner instead of its own (`cp` into a container without -a). */
  owner?: { uid: number; gid: number } | undefined;
  /** Names are files, never whiteouts or AUFS metadata (`cp` copies a `.wh.x` file as it is). */
  literalNames?: boolean | undefined;
}

/** Applies entries as the parser meets them; file data goes to the worker or to a descriptor. */
export class EntryApplier implements TarHandler {
  /** The entry being applied (for errors). */
  current: string | undefined;
  private readonly tree: LayerTree;
  private readonly mode: UnpackMode;
  private readonly stats: ApplyStats;
  private readonly warn: (entry: string, message: string) => void;
  private readonly worker: FileWorker | undefined;
  private readonly owner: { uid: number; gid: number } | undefined;
  private readonly literalNames: boolean;
  /** Directories whose times are set at the end, after their contents. */
  private readonly dirTimes: Array<{ path: string; atime: Timespec; mtime: Timespec }> = [];
  /** Worker file sequence number by relative path (to wait for before touching the path). */
  private readonly pending = new Map<string, number>();
  private readonly uid = process.geteuid?.() ?? -1;
  private readonly gid = process.getegid?.() ?? -1;
  /** The run of the output ring being parsed: its view and stream position. */
  private run: Buffer = Buffer.alloc(0);
  private runPosition = 0;
  /** Stream position up to which the tar was parsed. */
  private parsed = 0;
  /** Where the current entry's data goes. */
  private sink: 'none' | 'worker' | 'fd' = 'none';
  private fd = -1;
  private file: { entry: TarHeader; abs: string; rel: string } | undefined;

  constructor(opts: ApplierOptions) {
    this.tree = opts.tree;
    this.mode = opts.mode;
    this.stats = opts.stats;
    this.warn = opts.warn;
    this.worker = opts.worker;
    this.owner = opts.owner;
    this.literalNames = opts.literalNames === true;
    const worker = this.worker;
    if (worker) {
      this.tree.settle = (rel) => {
        if (rel === undefined) return worker.waitAll();
        const seq = this.pending.get(rel);
        if (seq !== undefined) worker.waitFor(seq);
      };
    }
  }

  entry(entry: TarHeader): void {
    this.current = entry.name;
    if (this.owner) {
      entry.uid = this.owner.uid;
      entry.gid = this.owner.gid;
    }
    this.apply(entry);
  }

  data(chunk: Buffer): void {
    if (this.sink === 'worker') (this.worker as FileWorker).data(chunk, (this.runPosition + chunk.byteOffset - this.run.byteOffset) >>> 0);
    else if (this.sink === 'fd') writeAll(this.fd, chunk);
    else return;
    this.stats.bytes += chunk.length;
  }

  /** The next run of the tar is `view`, at stream position `position`. */
  setRun(view: Buffer, position: number): void {
    this.run = view;
    this.runPosition = position;
  }

  /** Everything before stream position `position` was parsed. */
  parsedTo(position: number): void {
    this.parsed = position;
  }

  /** Stream position before which the output ring is not needed any more (parsed, and written by the worker). */
  releasable(): number {
    const oldest = this.worker?.oldestData();
    if (oldest === undefined) return this.parsed;
    // the older of the two on the 2^32 circle of positions
    return distance(oldest, this.parsed) <= distance(this.parsed, oldest) ? oldest : this.parsed;
  }

  end(): void {
    if (this.sink === 'worker') {
      (this.worker as FileWorker).end();
    } else if (this.sink === 'fd') {
      closeSync(this.fd);
      this.fd = -1;
      const file = this.file as NonNullable<EntryApplier['file']>;
      this.setMetadata(file.entry, file.abs, file.rel, true);
    }
    this.sink = 'none';
    this.file = undefined;
    this.current = undefined;
    this.stats.entries++;
  }

  /** After the last entry: wait for the worker, then set directory times (after their contents). */
  async finish(): Promise<void> {
    if (this.worker) {
      await this.worker.drain();
      for (const { name, message } of this.worker.warnings) this.warn(name, message);
    }
    for (const dir of this.dirTimes) lutimes(dir.path, dir.atime, dir.mtime);
  }

  /** Close a file left open by a failure. */
  closeFile(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }

  private apply(entry: TarHeader): void {
    const { tree } = this;
    const parts = splitEntryPath(entry.name);
    if (parts.length === 0) {
      if (entry.type !== 'dir') throw refuse(`the layer root can only be a directory, not a ${entry.type}`);
      this.setMetadata(entry, tree.rootDir, '', false);
      return;
    }
    const last = parts.length - 1;
    for (let i = 0; i < last && !this.literalNames; i++) {
      if ((parts[i] as string).startsWith('.wh.') && classifyName(parts[i] as string) === 'meta') return; // inside AUFS metadata dirs
    }
    const base = parts[last] as string;
    const kind = base.startsWith('.wh.') && !this.literalNames ? classifyName(base) : undefined;
    if (kind === 'meta') return; // AUFS hardlink dirs and the like: not part of the image
    if (kind === 'opaque') {
      this.stats.whiteouts++;
      if (this.mode === 'overlay') markOverlayOpaque(tree, parts.slice(0, -1));
      else emptyForOpaque(tree, parts.slice(0, -1));
      return;
    }
    if (kind === 'whiteout') {
      const target = [...parts.slice(0, -1), whiteoutTarget(base)];
      this.stats.whiteouts++;
      tree.ensureParents(target, { create: true, what: 'path' });
      if (this.mode === 'overlay') writeOverlayWhiteout(tree, target, entry);
      else tree.remove(target);
      return;
    }
    tree.ensureParents(parts, { create: true, what: 'path' });
    const rel = last === 0 ? base : parts.join('/');
    const abs = tree.absRel(rel);
    if (entry.type === 'hardlink') {
      const targetAbs = this.hardlinkTarget(entry.linkname);
      tree.remove(parts);
      linkSync(targetAbs, abs);
      tree.written.add(rel);
      return;
    }
    const existing = tree.lookup(rel);
    if (entry.type === 'dir' && existing?.isDirectory()) {
      tree.written.add(rel);
      tree.markDir(parts);
      this.setMetadata(entry, abs, rel, false);
      return;
    }
    if (existing) tree.remove(parts);
    switch (entry.type) {
      case 'dir':
        mkdirSync(abs, 0o700);
        tree.markDir(parts);
        break;
      case 'file':
        tree.written.add(rel);
        this.startFile(entry, abs, rel);
        return;
      case 'symlink':
        symlinkSync(entry.linkname, abs);
        break;
      case 'chardev':
        mknod(abs, S_IFCHR | 0o600, entry.devmajor, entry.devminor);
        break;
      case 'blockdev':
        mknod(abs, S_IFBLK | 0o600, entry.devmajor, entry.devminor);
        break;
      case 'fifo':
        mkfifo(abs, 0o600);
        break;
      default:
        throw refuse(`unsupported tar entry type ${JSON.stringify(entry.typeflag)}`);
    }
    tree.written.add(rel);
    this.setMetadata(entry, abs, rel, true);
  }

  /** A new regular file at `abs` (nothing is there): made by the worker when there is one. */
  private startFile(entry: TarHeader, abs: string, rel: string): void {
    const xattrs = this.keptXattrs(entry);
    if (this.worker) {
      const seq = this.worker.begin({
        path: abs,
        name: entry.name,
        mode: entry.mode,
        uid: entry.uid,
        gid: entry.gid,
        needsChown: !this.isOwnedAlready(entry, rel),
        atime: entry.atime ?? entry.mtime,
        mtime: entry.mtime,
        xattrs: xattrs.map(([name, value]) => [name, new Uint8Array(value)]),
      });
      this.pending.set(rel, seq);
      this.sink = 'worker';
      return;
    }
    this.fd = openSync(abs, CREATE_FLAGS, 0o600);
    this.file = { entry, abs, rel };
    this.sink = 'fd';
  }

  private hardlinkTarget(linkname: string): string {
    const what = `hardlink target ${JSON.stringify(linkname)}`;
    const target = splitEntryPath(linkname, 'hardlink target');
    if (target.length === 0) throw refuse(`${what} is the layer root`);
    this.tree.ensureParents(target, { create: false, what });
    const st = this.tree.lookup(target.join('/'));
    if (st === undefined) throw refuse(`${what} does not exist in this layer`);
    if (st.isDirectory()) throw refuse(`${what} is a directory`);
    return this.tree.abs(target); // a symlink target is linked itself (link(2) does not follow it)
  }

  /**
   * True when a new inode at `rel` is owned by entry.uid:entry.gid already, so chown would
   * change nothing: it belongs to our euid, and its group is our egid or, in a setgid
   * directory (or on a grpid mount), its parent's group, which this unpack set to our egid.
   */
  private isOwnedAlready(entry: TarHeader, rel: string): boolean {
    if (entry.uid !== this.uid || entry.gid !== this.gid) return false;
    const slash = rel.lastIndexOf('/');
    return this.tree.dirGids.get(slash < 0 ? '' : rel.slice(0, slash)) === this.gid;
  }

  private keptXattrs(entry: TarHeader): Array<[string, Buffer]> {
    if (entry.xattrs.size === 0) return [];
    const kept: Array<[string, Buffer]> = [];
    for (const [name, value] of entry.xattrs) {
      if (name.startsWith(DROPPED_XATTR_PREFIX)) this.warn(entry.name, `dropped xattr ${JSON.stringify(name)} (overlay metadata comes only from whiteouts)`);
      else kept.push([name, value]);
    }
    return kept;
  }

  /** Owner, mode, xattrs and times of what was just made (`isNew`) or found at `abs`. */
  private setMetadata(entry: TarHeader, abs: string, rel: string, isNew: boolean): void {
    if (!isNew || !this.isOwnedAlready(entry, rel)) lchownSync(abs, entry.uid, entry.gid);
    if (entry.type !== 'symlink') chmodSync(abs, entry.mode); // after chown, which clears setuid/setgid
    for (const [name, value] of this.keptXattrs(entry)) {
      try {
        lsetxattr(abs, name, value);
      } catch (err) {
        if (!isSyscallErrno(err, 'ENOTSUP', 'EPERM')) throw err;
        this.warn(entry.name, `xattr ${JSON.stringify(name)} not set: ${err.errnoName}`);
      }
    }
    const atime = entry.atime ?? entry.mtime;
    if (entry.type === 'dir') {
      this.tree.dirGids.set(rel, entry.gid);
      this.dirTimes.push({ path: abs, atime, mtime: entry.mtime });
    } else {
      lutimes(abs, atime, entry.mtime);
    }
  }
}

function writeAll(fd: number, chunk: Buffer): void {
  let offset = 0;
  while (offset < chunk.length) offset += writeSync(fd, chunk, offset, chunk.length - offset);
}
