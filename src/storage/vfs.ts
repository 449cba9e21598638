/**
 * The vfs fallback, for where overlayfs is unavailable: build a container's root filesystem
 * as a full copy of its layers (unpacked in overlay format), applied in order.
 *
 * Per layer: an overlay whiteout (char device 0:0) deletes the path from the copy, an opaque
 * directory (`trusted.overlay.opaque=y`) is emptied before its contents are copied, anything
 * else replaces what is there (directories merge). Owners, modes (setuid included), xattrs,
 * devices, FIFOs, symlinks, hardlinks (within a layer) and nanosecond times are preserved.
 * The copy never follows symlinks: every directory it descends into was lstat-ed as one.
 */
import { chmod, copyFile, lchown, link, lstat, mkdir, readdir, readlink, rm, symlink, constants } from 'node:fs/promises';
import type { BigIntStats } from 'node:fs';
import { join } from 'node:path';
import { BerthError } from '../common/index.ts';
import { S_IFBLK, S_IFCHR, isSyscallErrno, lgetxattr, llistxattr, lsetxattr, lutimes, major, minor, mkfifo, mknod, type Timespec } from '../native/sys.ts';
import { isOverlayWhiteout, OVERLAY_OPAQUE_XATTR } from './whiteout.ts';

export interface VfsSnapshotOptions {
  /** Called for things skipped without failing (sockets, xattrs the filesystem refuses). */
  onWarning?: (path: string, message: string) => void;
}

interface CopyContext {
  /** dev:ino of multiply-linked files already copied in this layer → their copy. */
  links: Map<string, string>;
  warn: (path: string, message: string) => void;
}

function toTimespec(ns: bigint): Timespec {
  let sec = ns / 1_000_000_000n;
  let nsec = ns % 1_000_000_000n;
  if (nsec < 0n) {
    sec -= 1n;
    nsec += 1_000_000_000n;
  }
  return { sec: Number(sec), nsec: Number(nsec) };
}

async function lstatBig(path: string): Promise<BigIntStats | undefined> {
  try {
    return await lstat(path, { bigint: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

function isOpaque(dir: string): boolean {
  return lgetxattr(dir, OVERLAY_OPAQUE_XATTR)?.toString() === 'y';
}

async function copyMetadata(ctx: CopyContext, src: string, dst: string, st: BigIntStats): Promise<void> {
  await lchown(dst, Number(st.uid), Number(st.gid));
  if (!st.isSymbolicLink()) await chmod(dst, Number(st.mode) & 0o7777);
  for (const name of llistxattr(src)) {
    if (name.startsWith('trusted.overlay.')) continue;
    const value = lgetxattr(src, name);
    if (value === undefined) continue;
    try {
      lsetxattr(dst, name, value);
    } catch (err) {
      if (!isSyscallErrno(err, 'ENOTSUP', 'EPERM')) throw err;
      ctx.warn(dst, `xattr ${JSON.stringify(name)} not copied: ${err.errnoName}`);
    }
  }
  lutimes(dst, toTimespec(st.atimeNs), toTimespec(st.mtimeNs));
}

async function emptyDir(dir: string): Promise<void> {
  for (const name of await readdir(dir)) await rm(join(dir, name), { recursive: true, force: true });
}

async function copyEntry(ctx: CopyContext, src: string, dst: string, st: BigIntStats): Promise<void> {
  const existing = await lstatBig(dst);
  if (st.isDirectory()) {
    if (existing && !existing.isDirectory()) await rm(dst, { force: true });
    if (!existing?.isDirectory()) await mkdir(dst, 0o700);
    await copyDir(ctx, src, dst);
    await copyMetadata(ctx, src, dst, st); // after the contents, so the mtime sticks
    return;
  }
  if (existing) await rm(dst, { recursive: existing.isDirectory(), force: true });
  if (st.nlink > 1n && !st.isSymbolicLink()) {
    const key = `${st.dev}:${st.ino}`;
    const first = ctx.links.get(key);
    if (first !== undefined) {
      await link(first, dst);
      return;
    }
    ctx.links.set(key, dst);
  }
  if (st.isFile()) await copyFile(src, dst, constants.COPYFILE_EXCL);
  else if (st.isSymbolicLink()) await symlink(await readlink(src), dst);
  else if (st.isCharacterDevice()) mknod(dst, S_IFCHR | 0o600, major(st.rdev), minor(st.rdev));
  else if (st.isBlockDevice()) mknod(dst, S_IFBLK | 0o600, major(st.rdev), minor(st.rdev));
  else if (st.isFIFO()) mkfifo(dst, 0o600);
  else {
    ctx.warn(src, 'skipped: sockets cannot be copied');
    return;
  }
  await copyMetadata(ctx, src, dst, st);
}

async function copyDir(ctx: CopyContext, srcDir: string, dstDir: string): Promise<void> {
  if (isOpaque(srcDir)) await emptyDir(dstDir);
  const names = (await readdir(srcDir)).sort();
  for (const name of names) {
    const src = join(srcDir, name);
    const dst = join(dstDir, name);
    const st = await lstat(src, { bigint: true });
    if (isOverlayWhiteout(st)) {
      await rm(dst, { recursive: true, force: true });
      continue;
    }
    await copyEntry(ctx, src, dst, st);
  }
}

/**
 * Copy `layerDirs` (BASE LAYER FIRST, image order) one after another into `targetDir`,
 * applying each layer's overlay whiteouts and opaque directories to what lies below.
 */
export async function vfsSnapshot(layerDirs: string[], targetDir: string, opts: VfsSnapshotOptions = {}): Promise<void> {
  await mkdir(targetDir, { recursive: true });
  const rootStat = await lstat(targetDir);
  if (!rootStat.isDirectory()) {
    throw new BerthError('INVALID_ARGUMENT', `vfs snapshot target ${JSON.stringify(targetDir)} is not a directory`);
  }
  const warn = opts.onWarning ?? (() => {});
  for (const layerDir of layerDirs) {
    const st = await lstat(layerDir, { bigint: true });
    if (!st.isDirectory()) throw new BerthError('NOT_FOUND', `layer directory ${JSON.stringify(layerDir)} is not a directory`);
    const ctx: CopyContext = { links: new Map(), warn };
    await copyDir(ctx, layerDir, targetDir);
    await copyMetadata(ctx, layerDir, targetDir, st);
  }
}
