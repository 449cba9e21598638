/**
 * `cp`: files between a container (running or stopped) and the host, with docker's path rules.
 *
 * Every path of the container is hostile: it is resolved inside the container's root with
 * openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) from a descriptor of that root, so `..`,
 * absolute paths and symlinks the container planted never lead out of it; no host path is ever
 * made by joining a container path onto a host one. The final component is looked at through
 * its resolved parent's descriptor (`/proc/self/fd/<parent>/<name>`, never followed); a
 * symlink there is followed (-L, a trailing `/`) one step at a time, each step inside the root.
 *
 * The container's root: a running container's is `/proc/<pid>/root` (its own mount namespace:
 * overlay, volumes, binds). A stopped one's overlay is mounted by a helper (`unshare -m`) in a
 * private mount namespace of its own; berth opens the mount through `/proc/<helper>/root` and
 * lets the helper go: the descriptor keeps the detached mount alive until it is closed, so no
 * mount is ever visible on the host, and none can be left by a killed berth.
 *
 * Out of the container: GNU tar archives from the resolved parent's descriptor (`-C
 * /proc/self/fd/3`; it never follows a symlink in the tree and opens subdirectories with
 * O_NOFOLLOW), into a stream (`-`) or into `tar -x` on the host. Into the container: GNU tar
 * archives the host side (trusted), or the tar comes from stdin, and berth's own unpacker
 * applies it in the resolved directory (storage/unpack.ts: nothing is written outside it, no
 * write goes through a symlink). A running container is frozen while files go in, so that it
 * cannot swap a checked directory for a symlink under the unpacker.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, fstatSync, lstatSync, readFileSync, readlinkSync, statSync, type Stats } from 'node:fs';
import { realpath } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { PassThrough } from 'node:stream';
import { BerthError, isErrno } from '../common/index.ts';
import { overlayMount, overlayMountData, unpackLayer, type ChunkSource } from '../storage/index.ts';
import { parseMountinfo } from '../cgroups/index.ts';
import type { IdMapping } from '../oci/index.ts';
import type { EngineContext } from './container-context.ts';
import { isActive, observe } from './container-lifecycle.ts';
import { containerPaths } from './container-paths.ts';
import type { ContainerRecord } from './container-store.ts';
import { withLock } from './container-verbs.ts';
import { withTempDir } from './context.ts';
import { volumeData } from './volumes.ts';

/** One side of a copy: a path in a container, a host path, or a tar stream (`-`). */
export type CopyEnd =
  | { container: string; path: string }
  | { hostPath: string }
  | { tarIn: ChunkSource }
  | { tarOut: NodeJS.WritableStream };

export interface CopyOptions {
  /** -a: keep the files' uid/gid (else: the container's root going in, the caller going out). */
  archive?: boolean;
  /** -L: follow SRC_PATH when it is a symlink. */
  followLink?: boolean;
}

const O_DIRECTORY = 0o200000;
const O_PATH = 0o10000000;
const AT_FDCWD = -100;
const MAX_LINKS = 40;

type Sys = typeof import('../native/sys.ts');

/** A path split as docker reads it: `/.` at the end means "the contents", `/` "a directory". */
export interface SplitPath {
  /** The parent directory (absolute, `/` for the root). */
  parent: string;
  /** The last component; `.` when the path is the root itself. */
  name: string;
  isContents: boolean;
  mustBeDir: boolean;
}

export function splitContainerPath(path: string): SplitPath {
  const abs = path.startsWith('/') ? path : `/${path}`;
  const isContents = /(^|\/)\.$/.test(abs);
  const mustBeDir = isContents || abs.endsWith('/');
  const parts = abs.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.length === 0 || parts.at(-1) === '..') {
    // the root, or a path whose meaning needs the links resolved first: treat it as a directory
    return { parent: parts.length ? `/${parts.join('/')}` : '/', name: '.', isContents: isContents || parts.length === 0, mustBeDir: true };
  }
  const name = parts.pop()!;
  return { parent: `/${parts.join('/')}`, name, isContents, mustBeDir };
}

/**
 * A `--transform` expression of GNU tar that renames the archive's top member `from` (and
 * everything under it) to `to`; symlink targets are left alone.
 */
export function renameTransform(from: string, to: string): string {
  const d = '\x01';
  if (from.includes(d) || to.includes(d) || to.includes('\n')) throw new BerthError('INVALID_ARGUMENT', `cannot copy ${JSON.stringify(from)} to ${JSON.stringify(to)}: the name holds a control character`);
  const pattern = from.replace(/[\\.*[\]^$]/g, '\\$&');
  const replacement = to.replace(/[\\&]/g, '\\$&');
  return `s${d}^${pattern}${d}${replacement}${d}S`;
}

/** The host id of container id 0 (the container's root) under its maps. */
export function hostRootId(maps: IdMapping[] | undefined): number {
  const m = maps?.find((x) => x.containerID === 0);
  return m ? m.hostID : 0;
}

function notFound(path: string, rec: ContainerRecord): BerthError {
  return new BerthError('NOT_FOUND', `Could not find the file ${path} in container ${rec.name.replace(/^\//, '')}`);
}

/** What a container path is, resolved inside the root: its parent's descriptor and its name there. */
interface Resolved {
  parentFd: number;
  name: string;
  /** undefined: nothing there (the parent exists). */
  stat: Stats | undefined;
}

class ContainerRoot {
  readonly sys: Sys;
  readonly fd: number;
  readonly rec: ContainerRecord;
  /** The root of the running (or paused) container's own mount namespace, its kernel file systems mounted. */
  readonly live: boolean;
  readonly #fds: number[] = [];

  constructor(sys: Sys, fd: number, rec: ContainerRecord, live: boolean) {
    this.sys = sys;
    this.fd = fd;
    this.rec = rec;
    this.live = live;
  }

  /** A directory of the container, as an O_PATH descriptor (closed with the root). */
  openDir(path: string, shown: string): number {
    try {
      const fd = this.sys.openat2(this.fd, path, { flags: O_DIRECTORY | O_PATH, resolve: this.sys.RESOLVE_IN_ROOT | this.sys.RESOLVE_NO_MAGICLINKS });
      this.#fds.push(fd);
      return fd;
    } catch (err) {
      if (this.sys.isSyscallErrno(err, 'ENOENT', 'ENOTDIR', 'ELOOP')) throw notFound(shown, this.rec);
      throw err;
    }
  }

  /** Resolves `path`; a symlink at the end is followed when `follow` (each step inside the root). */
  resolve(path: string, follow: boolean): Resolved & SplitPath {
    let split = splitContainerPath(path);
    for (let hops = 0; ; hops++) {
      if (split.name === '.') {
        const fd = this.openDir(split.parent, path);
        return { ...split, parentFd: fd, name: '.', stat: fstatSync(fd) };
      }
      const parentFd = this.openDir(split.parent, path);
      const stat = lstatSync(`/proc/self/fd/${parentFd}/${split.name}`, { throwIfNoEntry: false });
      if (!stat?.isSymbolicLink() || !(follow || split.mustBeDir)) return { ...split, parentFd, name: split.name, stat };
      if (hops >= MAX_LINKS) throw new BerthError('INVALID_ARGUMENT', `cannot copy ${path}: too many levels of symbolic links`);
      const target = readlinkSync(`/proc/self/fd/${parentFd}/${split.name}`);
      const next = target.startsWith('/') ? target : `${split.parent}/${target}`;
      split = { ...splitContainerPath(next + (split.isContents ? '/.' : split.mustBeDir ? '/' : '')), ...(split.isContents ? { isContents: true } : {}) };
    }
  }

  close(): void {
    for (const fd of this.#fds.splice(0)) closeSync(fd);
  }
}

/** Runs `fn` with a descriptor of the container's root, its lock held. */
async function withContainerRoot<T>(ctx: EngineContext, rec: ContainerRecord, fn: (root: ContainerRoot, isRunning: boolean) => Promise<T>): Promise<T> {
  const sys = await import('../native/sys.ts');
  return withLock(ctx, rec.id, 'cp', async (fresh) => {
    if (isActive(fresh) && observe(fresh) === 'live' && fresh.pid > 0) {
      const fd = sys.openat2(AT_FDCWD, `/proc/${fresh.pid}/root`, { flags: O_DIRECTORY | O_PATH });
      const root = new ContainerRoot(sys, fd, fresh, true);
      try {
        // the pid may have been reused between the record and the open
        if (observe(fresh) !== 'live') throw new BerthError('CONFLICT', `container ${fresh.name} stopped while copying`);
        return await fn(root, fresh.status === 'running');
      } finally {
        root.close();
        closeSync(fd);
      }
    }
    return withTempDir(ctx, 'cp', async (mnt) => {
      const view = await mountPrivately(ctx, fresh, mnt, sys);
      const root = new ContainerRoot(sys, view.fd, fresh, false);
      try {
        // what a running container has over its overlay: its volumes, binds and /etc files
        await view.bindAll(stoppedMounts(ctx, fresh), (target) => {
          try {
            const r = root.resolve(target, false);
            if (!r.stat || r.stat.isSymbolicLink() || r.name === '.') return undefined;
            return sys.openat2(r.parentFd, r.name, { flags: O_PATH | 0o400000 /* O_NOFOLLOW */ });
          } catch (err) {
            if (err instanceof BerthError && err.code === 'NOT_FOUND') return undefined;
            throw err;
          }
        });
        return await fn(root, false);
      } finally {
        root.close();
        closeSync(view.fd);
        await view.release();
      }
    });
  });
}

/** What a stopped container's `cp` view gets bound over its overlay, as its start would: its
 * volumes, its binds and its /etc files (source on the host, target in the container). */
function stoppedMounts(ctx: EngineContext, rec: ContainerRecord): { source: string; target: string }[] {
  const paths = containerPaths(ctx.paths, rec.id);
  const out: { source: string; target: string }[] = [];
  if (rec.spec.network !== 'host') out.push({ source: paths.hostnamePath, target: '/etc/hostname' }, { source: paths.hostsPath, target: '/etc/hosts' });
  out.push({ source: paths.resolvConfPath, target: '/etc/resolv.conf' });
  for (const b of rec.spec.binds ?? []) out.push({ source: b.source, target: b.target });
  for (const u of ctx.volumes.usesOf(rec.id)) out.push({ source: volumeData(ctx, u.volume), target: u.destination });
  // parents before children, as the container has them
  return out.sort((a, b) => a.target.split('/').length - b.target.split('/').length);
}

/**
 * The stopped container's overlay, mounted at `mnt` in a helper's private mount namespace and
 * opened from here. The helper stays until `release`: it also binds what `bindAll` asks onto
 * targets berth resolved inside the root (passed as /proc/<berth>/fd/N, never as a path the
 * helper would resolve itself). Once it is gone nothing of the view is left anywhere.
 */
async function mountPrivately(ctx: EngineContext, rec: ContainerRecord, mnt: string, sys: Sys): Promise<{ fd: number; bindAll: (mounts: { source: string; target: string }[], resolveTarget: (target: string) => number | undefined) => Promise<void>; release: () => Promise<void> }> {
  const paths = containerPaths(ctx.paths, rec.id);
  const lower = rec.layers.length ? await ctx.layers.lowerDirs(rec.layers) : { lowerDirs: [`${paths.dir}/empty`] };
  const mount = overlayMount({ ...lower, upperDir: paths.upperDir, workDir: paths.workDir });
  // reads "SOURCE\tTARGET" lines: one rbind each (nothing when the source is gone), "." when done
  const script = 'mount -t overlay overlay -o "$1" "$2" || exit 1; echo ready; '
    + 'while IFS="\t" read -r src dst; do [ "$src" = . ] && { echo bound; continue; }; '
    + '[ -e "$src" ] && mount --rbind --no-canonicalize "$src" "$dst" 2>/dev/null; done';
  const helper = spawn('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script, 'sh', overlayMountData(mount), mnt], {
    stdio: ['pipe', 'pipe', 'pipe'], ...(mount.cwd ? { cwd: mount.cwd } : {}),
  });
  const exited = new Promise<number>((done) => helper.on('close', (code) => done(code ?? 1)));
  const release = async () => {
    helper.stdin!.end();
    await exited;
  };
  let out = '';
  const waitFor = (word: string) => new Promise<boolean>((done) => {
    const check = () => out.includes(word) && done(true);
    helper.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      check();
    });
    helper.on('error', () => done(false));
    void exited.then(() => done(false));
    check();
  });
  try {
    let stderr = '';
    helper.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    if (!(await waitFor('ready'))) throw new BerthError('INTERNAL', `cannot mount the filesystem of container ${rec.name}: ${stderr.trim() || 'the mount helper failed'}`);
    const fd = sys.openat2(AT_FDCWD, `/proc/${helper.pid}/root${mnt}`, { flags: O_DIRECTORY | O_PATH });
    const bindAll = async (mounts: { source: string; target: string }[], resolveTarget: (target: string) => number | undefined) => {
      const opened: number[] = [];
      try {
        for (const m of mounts) {
          if (/[\t\n]/.test(m.source)) continue;
          const target = resolveTarget(m.target);
          if (target === undefined) continue;
          opened.push(target);
          helper.stdin!.write(`${m.source}\t/proc/${process.pid}/fd/${target}\n`);
        }
        helper.stdin!.write('.\t.\n');
        if (!(await waitFor('bound'))) throw new BerthError('INTERNAL', `cannot mount the volumes of container ${rec.name}: the mount helper ended`);
      } finally {
        for (const o of opened) closeSync(o);
      }
    };
    return { fd, bindAll, release };
  } catch (err) {
    await release();
    throw err;
  }
}

/** A child's exit as a promise: rejects with its stderr unless the code is in `okCodes`. */
function finished(child: ChildProcess, what: string, okCodes: number[] = [0]): Promise<void> {
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((done, fail) => {
    child.on('error', fail);
    child.on('close', (code, signal) => {
      if (code !== null && okCodes.includes(code)) return done();
      fail(new BerthError('INTERNAL', `${what} failed: ${stderr.trim() || (signal ? `killed by ${signal}` : `exit ${code}`)}`));
    });
  });
}

interface TarCreate {
  /** The directory (a path, or a descriptor passed as fd 3) and the member in it. */
  dir: string | number;
  name: string;
  rename?: string;
  /** Force these numeric owners (without -a going in). */
  owner?: number;
  /** Members whose contents are left out (GNU tar patterns, anchored). */
  excludeContents?: string[];
}

/** File systems of the kernel's (and the limits view's) that a running container has mounted:
 * their contents are the kernel's, not the container's files (docker copies them as empty dirs). */
const KERNEL_FS = new Set(['proc', 'sysfs', 'devpts', 'mqueue', 'cgroup', 'cgroup2', 'securityfs', 'debugfs', 'tracefs', 'pstore', 'bpf', 'configfs', 'fusectl', 'binfmt_misc', 'fuse.berth-view']);

const tarPattern = (text: string) => text.replace(/[*?[\\]/g, (c) => `\\${c}`);

/**
 * The members under which a copy out of a running container must not descend: the container's
 * kernel file systems (procfs, sysfs, …) below `dir` (the container path tar archives from),
 * as patterns for the member names tar makes from `member`.
 */
export function kernelMountExcludes(mountinfo: string, dir: string, member: string): string[] {
  const base = dir === '/' ? '' : dir.replace(/\/+$/, '');
  const out: string[] = [];
  for (const { mountPoint: mountpoint, fsType } of parseMountinfo(mountinfo)) {
    if (!KERNEL_FS.has(fsType)) continue;
    // the directory itself is one (`cp c:/proc/. -`): its contents go, as in a member's
    if (mountpoint === base && member === '.') {
      out.push('./*');
      continue;
    }
    if (!mountpoint.startsWith(`${base}/`)) continue;
    const rel = mountpoint.slice(base.length + 1);
    if (member === '.') out.push(`./${tarPattern(rel)}/*`);
    else if (rel === member || rel.startsWith(`${member}/`)) out.push(`${tarPattern(rel)}/*`);
  }
  return [...new Set(out)].sort();
}

function spawnTarCreate(opts: TarCreate): ChildProcess {
  const isFd = typeof opts.dir === 'number';
  const args = ['-c', '-f', '-', '--numeric-owner', '--xattrs', '--xattrs-include=*', ...(opts.owner !== undefined ? [`--owner=${opts.owner}`, `--group=${opts.owner}`] : [])];
  if (opts.rename !== undefined && opts.rename !== opts.name) args.push(`--transform=${renameTransform(opts.name, opts.rename)}`);
  if (opts.excludeContents?.length) args.push('--anchored', ...opts.excludeContents.map((p) => `--exclude=${p}`));
  args.push('-C', isFd ? '/proc/self/fd/3' : (opts.dir as string), '--', opts.name);
  return spawn('tar', args, { stdio: ['ignore', 'pipe', 'pipe', ...(isFd ? [opts.dir as number] : [])] });
}

function readMountinfo(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/mountinfo`, 'utf8');
  } catch {
    return '';
  }
}

function hostStat(path: string, follow: boolean): Stats | undefined {
  try {
    return follow ? statSync(path) : lstatSync(path);
  } catch (err) {
    if (isErrno(err, 'ENOENT', 'ENOTDIR')) return undefined;
    throw err;
  }
}

/**
 * Where a copy lands, by docker's rules: the directory the archive is applied in and the name
 * its top member gets there. `dest` is what is at the destination path now (followed).
 */
export function placeCopy(src: { isDir: boolean; isContents: boolean; name: string }, dest: { path: string; stat: { isDir: boolean } | undefined; mustBeDir: boolean }): { into: 'dest' | 'parent'; name: string; isContents: boolean } {
  if (dest.stat?.isDir) return { into: 'dest', name: src.name, isContents: src.isContents };
  if (src.isDir && dest.stat) throw new BerthError('INVALID_ARGUMENT', `cannot copy a directory to ${JSON.stringify(dest.path)}: it is not a directory`);
  if (!src.isDir && dest.mustBeDir) {
    throw new BerthError('INVALID_ARGUMENT', dest.stat ? `${JSON.stringify(dest.path)} is not a directory` : `the destination directory ${JSON.stringify(dest.path)} must exist`);
  }
  return { into: 'parent', name: basename(dest.path.replace(/\/+$/, '')) || '/', isContents: false };
}

/** container → host path or stream */
async function copyOut(ctx: EngineContext, rec: ContainerRecord, srcPath: string, to: { hostPath: string } | { tarOut: NodeJS.WritableStream }, opts: CopyOptions): Promise<void> {
  await withContainerRoot(ctx, rec, async (root) => {
    const src = root.resolve(srcPath, opts.followLink === true);
    if (!src.stat) throw notFound(srcPath, rec);
    const isDir = src.stat.isDirectory();
    if (src.mustBeDir && !isDir) throw new BerthError('INVALID_ARGUMENT', `cannot copy ${srcPath}: not a directory`);
    // the member archived: the entry itself, or the directory's contents as `.`
    const dirFd = src.isContents && src.name !== '.' ? root.openDir(`${src.parent}/${src.name}`, srcPath) : src.parentFd;
    const member = src.isContents ? '.' : src.name;
    const shownName = basename(splitContainerPath(srcPath).name === '.' ? '/' : srcPath.replace(/\/+\.?$/, '')) || '.';
    // a running container's /proc, /sys, … are the kernel's: copied as the empty dirs they are in the image
    const dirPath = src.isContents && src.name !== '.' ? `${src.parent === '/' ? '' : src.parent}/${src.name}` : src.parent;
    const excludeContents = root.live ? kernelMountExcludes(readMountinfo(root.rec.pid), dirPath, member) : [];
    if ('tarOut' in to) {
      const tar = spawnTarCreate({ dir: dirFd, name: member, rename: src.isContents ? '.' : shownName, excludeContents });
      tar.stdout!.pipe(to.tarOut, { end: false });
      await Promise.all([finished(tar, 'tar', [0, 1]), new Promise((done) => tar.stdout!.on('end', done))]);
      return;
    }
    const destPath = resolve(to.hostPath);
    const destStat = hostStat(destPath, true);
    const place = placeCopy({ isDir, isContents: src.isContents, name: shownName }, { path: to.hostPath, stat: destStat && { isDir: destStat.isDirectory() }, mustBeDir: to.hostPath.endsWith('/') });
    const into = place.into === 'dest' ? destPath : dirname(destPath);
    if (place.into === 'parent' && !hostStat(into, true)?.isDirectory()) throw new BerthError('NOT_FOUND', `cannot copy to ${JSON.stringify(to.hostPath)}: the directory ${JSON.stringify(into)} does not exist`);
    const tar = spawnTarCreate({ dir: dirFd, name: member, rename: place.isContents ? '.' : place.name, excludeContents });
    // the host side is the caller's: tar strips leading `/` and refuses `..` members
    const x = spawn('tar', ['-x', '-f', '-', '--numeric-owner', '--xattrs', '--xattrs-include=*', ...(opts.archive ? ['--same-owner'] : ['--no-same-owner']), '-C', into], { stdio: [tar.stdout!, 'ignore', 'pipe'] });
    tar.stdout!.destroy(); // x has the pipe now: our end must not hold it open
    await Promise.all([finished(tar, 'tar', [0, 1]), finished(x, 'tar -x')]);
  });
}

/** The host side of a copy in: the directory and member tar archives, and the name it is shown as. */
interface HostSource {
  dir: string;
  name: string;
  isDir: boolean;
  isContents: boolean;
  shownName: string;
}

/** host path or stream → container */
async function copyIn(ctx: EngineContext, rec: ContainerRecord, from: { hostPath: string } | { tarIn: ChunkSource }, destPath: string, opts: CopyOptions): Promise<void> {
  // the host side first: what is refused there is refused before the container is touched
  let hostSrc: HostSource | undefined;
  if ('hostPath' in from) {
    const split = splitContainerPath(resolve(from.hostPath) + (/(^|\/)\.$/.test(from.hostPath) ? '/.' : from.hostPath.endsWith('/') ? '/' : ''));
    const isContents = split.isContents;
    const full = split.name === '.' ? split.parent : `${split.parent === '/' ? '' : split.parent}/${split.name}`;
    const follow = opts.followLink === true || split.mustBeDir;
    const st = hostStat(full, follow);
    if (!st) throw new BerthError('NOT_FOUND', `lstat ${from.hostPath}: no such file or directory`);
    if (split.mustBeDir && !st.isDirectory()) throw new BerthError('INVALID_ARGUMENT', `cannot copy ${from.hostPath}: not a directory`);
    const real = follow && !isContents ? await realpath(full) : full;
    hostSrc = isContents
      ? { dir: real, name: '.', isDir: true, isContents: true, shownName: '.' }
      : { dir: dirname(real), name: basename(real) || '/', isDir: st.isDirectory(), isContents: false, shownName: basename(full) || '/' };
  }
  const owner = opts.archive ? undefined : hostRootId(rec.spec.uidMaps);
  await withContainerRoot(ctx, rec, async (root, isRunning) => {
    // frozen while files go in: nothing in the container can swap a directory for a symlink
    // between the checks below (and the unpacker's) and the writes
    if (isRunning) await ctx.runtime().pause(rec.id);
    try {
      await applyIn(root, hostSrc, from, destPath, owner);
    } finally {
      if (isRunning) await ctx.runtime().resume(rec.id);
    }
  });
}

async function applyIn(root: ContainerRoot, hostSrc: HostSource | undefined, from: { hostPath: string } | { tarIn: ChunkSource }, destPath: string, owner: number | undefined): Promise<void> {
  const rec = root.rec;
  const dest = root.resolve(destPath, true);
  const destIsDir = dest.stat?.isDirectory() === true;
  let dirFd: number;
  let tar: ChildProcess | undefined;
  if (!hostSrc) {
    if (!dest.stat) throw notFound(destPath, rec);
    if (!destIsDir) throw new BerthError('INVALID_ARGUMENT', `cannot extract to ${destPath}: the destination must be a directory`);
    dirFd = dest.name === '.' ? dest.parentFd : root.openDir(`${dest.parent}/${dest.name}`, destPath);
  } else {
    const place = placeCopy(hostSrc, { path: destPath, stat: dest.stat && { isDir: destIsDir }, mustBeDir: dest.mustBeDir });
    dirFd = place.into === 'parent' || dest.name === '.' ? dest.parentFd : root.openDir(`${dest.parent}/${dest.name}`, destPath);
    tar = spawnTarCreate({ dir: hostSrc.dir, name: hostSrc.name, rename: place.isContents ? '.' : place.into === 'parent' ? place.name : hostSrc.shownName, ...(owner !== undefined ? { owner } : {}) });
  }
  // consumed from now on: Node drains (and drops) the output of a child that exited unread
  const input: ChunkSource = tar ? tar.stdout!.pipe(new PassThrough({ highWaterMark: 1 << 20 })) : (from as { tarIn: ChunkSource }).tarIn;
  const tarDone = tar ? finished(tar, 'tar') : Promise.resolve();
  tarDone.catch(() => {});
  try {
    // without -a everything going in belongs to the container's root, a tar from stdin too
    const ids = owner === undefined ? undefined : { uid: owner, gid: hostRootId(rec.spec.gidMaps ?? rec.spec.uidMaps) };
    // files, not a layer: a `.wh.x` is copied as it is, never read as a whiteout
    await unpackLayer(input, `/proc/self/fd/${dirFd}/.`, { mode: 'vfs', layerName: destPath, literalNames: true, ...(ids ? { owner: ids } : {}) });
  } catch (err) {
    tar?.kill();
    if (err instanceof BerthError && err.code === 'INVALID_ARGUMENT') throw new BerthError('INVALID_ARGUMENT', `cannot copy to ${destPath} in container ${rec.name}: ${err.message}`, { cause: err });
    throw err;
  }
  await tarDone;
}

/** What `docker cp` asks of a container path before copying (the archive API's stat header). */
export interface ContainerPathStat {
  name: string;
  size: number;
  /** st_mode, as the kernel gives it. */
  mode: number;
  mtimeMs: number;
  /** For a symlink: where it leads, resolved inside the container; else ''. */
  linkTarget: string;
}

/** Stats a path of a container (running or stopped), resolved inside its root; a symlink is not followed. */
export async function statContainerPath(ctx: EngineContext, ref: string, path: string): Promise<ContainerPathStat> {
  const rec = ctx.containers.resolve(ref);
  return withContainerRoot(ctx, rec, async (root) => {
    const at = root.resolve(path, false);
    if (!at.stat) throw notFound(path, rec);
    let linkTarget = '';
    if (at.stat.isSymbolicLink()) {
      const end = root.resolve(path, true);
      linkTarget = end.name === '.' ? end.parent : `${end.parent === '/' ? '' : end.parent}/${end.name}`;
    }
    const name = at.name === '.' ? basename(at.parent) || '/' : at.name;
    return { name, size: at.stat.size, mode: at.stat.mode, mtimeMs: at.stat.mtimeMs, linkTarget };
  });
}

/** docker cp: exactly one side is a container. */
export async function copyFiles(ctx: EngineContext, from: CopyEnd, to: CopyEnd, opts: CopyOptions = {}): Promise<void> {
  const fromContainer = 'container' in from;
  const toContainer = 'container' in to;
  if (fromContainer && toContainer) throw new BerthError('INVALID_ARGUMENT', 'copying between containers is not supported');
  if (!fromContainer && !toContainer) throw new BerthError('INVALID_ARGUMENT', 'must specify at least one container source');
  if (fromContainer) {
    if ('tarIn' in to || 'container' in to) throw new BerthError('INVALID_ARGUMENT', 'a copy out of a container goes to a host path or a stream');
    await copyOut(ctx, ctx.containers.resolve(from.container), from.path, to, opts);
    return;
  }
  if ('tarOut' in from || 'container' in from) throw new BerthError('INVALID_ARGUMENT', 'a copy into a container comes from a host path or a stream');
  const target = to as { container: string; path: string };
  await copyIn(ctx, ctx.containers.resolve(target.container), from, target.path, opts);
}
