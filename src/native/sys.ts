/**
 * The one module that calls host syscalls Node lacks, in-process through koffi (libc).
 *
 * Only calls that are safe in a threaded process live here (device nodes, fifos, xattrs,
 * nanosecond/no-follow timestamps, openat2). libc is loaded lazily on the first call so that
 * importing this module costs nothing at start-up.
 *
 * Every failure is a `SyscallError` (a `BerthError`) naming the call, the path and the errno:
 * `mknod "/x/dev/null": file exists (EEXIST)`.
 */
import { hostSyscallError, loadFfi } from './ffi.ts';
import { BerthError, SyscallError } from '../common/index.ts';

/** A point in time as the kernel keeps it: whole seconds since the epoch plus nanoseconds. */
export interface Timespec {
  sec: number;
  nsec: number;
}

export const S_IFMT = 0o170000;
export const S_IFIFO = 0o010000;
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;

export const AT_FDCWD = -100;
export const AT_SYMLINK_NOFOLLOW = 0x100;

export const XATTR_CREATE = 1;
export const XATTR_REPLACE = 2;

/** openat2(2) `resolve` flags. */
export const RESOLVE_NO_XDEV = 0x01;
export const RESOLVE_NO_MAGICLINKS = 0x02;
export const RESOLVE_NO_SYMLINKS = 0x04;
export const RESOLVE_BENEATH = 0x08;
export const RESOLVE_IN_ROOT = 0x10;

const SYS_OPENAT2 = 437; // the same number on every architecture (new syscalls are unified)
const O_CLOEXEC = 0o2000000;

type NativeFn = (...args: unknown[]) => unknown;

interface Libc {
  errno: () => number;
  errnoNames: Map<number, string>;
  mknodat: NativeFn;
  lsetxattr: NativeFn;
  lgetxattr: NativeFn;
  llistxattr: NativeFn;
  utimensat: NativeFn;
  umount2: NativeFn;
  ioctl: NativeFn;
  syscall: NativeFn;
}

let libc: Libc | undefined;

function loadLibc(): Libc {
  if (libc) return libc;
  const { koffi, libc: lib, errnoNames } = loadFfi();
  libc = {
    errno: () => koffi.errno(),
    errnoNames,
    mknodat: lib.func('int mknodat(int dirfd, const char *path, uint32_t mode, uint64_t dev)'),
    lsetxattr: lib.func('int lsetxattr(const char *path, const char *name, const void *value, size_t size, int flags)'),
    lgetxattr: lib.func('intptr_t lgetxattr(const char *path, const char *name, _Out_ void *value, size_t size)'),
    llistxattr: lib.func('intptr_t llistxattr(const char *path, _Out_ char *list, size_t size)'),
    utimensat: lib.func('int utimensat(int dirfd, const char *path, const void *times, int flags)'),
    umount2: lib.func('int umount2(const char *target, int flags)'),
    ioctl: lib.func('int ioctl(int fd, unsigned long request, const void *arg)'),
    syscall: lib.func('long syscall(long nr, ...)'),
  };
  return libc;
}

function fail(op: string, path: string, detail?: string): never {
  const what = detail === undefined ? JSON.stringify(path) : `${JSON.stringify(path)} ${detail}`;
  throw hostSyscallError(op, loadLibc().errno(), { path, what });
}

function checkPath(op: string, path: string): void {
  if (path.includes('\0')) {
    throw new BerthError('INVALID_ARGUMENT', `${op} ${JSON.stringify(path)}: path contains a NUL byte`);
  }
}

/** True when `err` is a SyscallError from this module carrying one of the errno names. */
export function isSyscallErrno(err: unknown, ...names: string[]): err is SyscallError {
  return err instanceof SyscallError && names.includes(err.errnoName);
}

/** The kernel's dev_t encoding of a device number (glibc's `makedev`). */
export function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major >>> 0);
  const mi = BigInt(minor >>> 0);
  return ((ma & 0xfffff000n) << 32n) | ((ma & 0xfffn) << 8n) | ((mi & 0xffffff00n) << 12n) | (mi & 0xffn);
}

/** The major number of a dev_t (as `stat.rdev`). */
export function major(rdev: bigint | number): number {
  const d = BigInt(rdev);
  return Number(((d >> 8n) & 0xfffn) | ((d >> 32n) & 0xfffff000n));
}

/** The minor number of a dev_t (as `stat.rdev`). */
export function minor(rdev: bigint | number): number {
  const d = BigInt(rdev);
  return Number((d & 0xffn) | ((d >> 12n) & 0xffffff00n));
}

/**
 * Create a device node or FIFO. `mode` carries the file type (S_IFCHR, S_IFBLK, S_IFIFO) and the
 * permission bits (still subject to the umask, as with mknod(2)). Never follows a final symlink:
 * fails with EEXIST if anything exists at `path`.
 */
export function mknod(path: string, mode: number, devMajor = 0, devMinor = 0): void {
  checkPath('mknod', path);
  const lib = loadLibc();
  if (lib.mknodat(AT_FDCWD, path, mode >>> 0, makedev(devMajor, devMinor)) !== 0) fail('mknod', path);
}

const MNT_DETACH = 2;
const UMOUNT_NOFOLLOW = 8;

/** umount2(path, MNT_DETACH|UMOUNT_NOFOLLOW): false when nothing is mounted there (EINVAL) or
 * the path is gone (ENOENT). */
export function detachMount(path: string): boolean {
  checkPath('umount', path);
  const lib = loadLibc();
  if (lib.umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW) === 0) return true;
  const name = lib.errnoNames.get(lib.errno());
  if (name === 'EINVAL' || name === 'ENOENT') return false;
  fail('umount', path);
}

const TIOCSWINSZ = 0x5414; // the generic value (x86, arm, riscv)

/** Sets a terminal's size (TIOCSWINSZ) on an open fd of it (master or slave). */
export function setWindowSize(fd: number, rows: number, cols: number): void {
  const ws = Buffer.from(new Uint16Array([rows, cols, 0, 0]).buffer); // struct winsize, host order
  if (loadLibc().ioctl(fd, TIOCSWINSZ, ws) !== 0) fail('ioctl TIOCSWINSZ', `fd ${fd}`);
}

/** Create a FIFO (named pipe). */
export function mkfifo(path: string, mode: number): void {
  checkPath('mkfifo', path);
  const lib = loadLibc();
  if (lib.mknodat(AT_FDCWD, path, (S_IFIFO | (mode & 0o7777)) >>> 0, 0n) !== 0) fail('mkfifo', path);
}

/** Set an extended attribute on `path` itself (a symlink is not followed). The value is bytes. */
export function lsetxattr(path: string, name: string, value: Uint8Array, flags = 0): void {
  checkPath('lsetxattr', path);
  const lib = loadLibc();
  const buf = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (lib.lsetxattr(path, name, buf, buf.length, flags) !== 0) fail('lsetxattr', path, JSON.stringify(name));
}

/** Read an extended attribute of `path` itself; `undefined` when it is not set. */
export function lgetxattr(path: string, name: string): Buffer | undefined {
  checkPath('lgetxattr', path);
  const lib = loadLibc();
  const ENODATA = 61;
  const ERANGE = 34;
  for (;;) {
    const size = Number(lib.lgetxattr(path, name, null, 0));
    if (size < 0) {
      if (lib.errno() === ENODATA) return undefined;
      fail('lgetxattr', path, JSON.stringify(name));
    }
    const buf = Buffer.alloc(size);
    if (size === 0) return buf;
    const got = Number(lib.lgetxattr(path, name, buf, size));
    if (got >= 0) return buf.subarray(0, got);
    if (lib.errno() === ENODATA) return undefined;
    if (lib.errno() !== ERANGE) fail('lgetxattr', path, JSON.stringify(name)); // grew meanwhile: retry
  }
}

/** The names of the extended attributes of `path` itself. */
export function llistxattr(path: string): string[] {
  checkPath('llistxattr', path);
  const lib = loadLibc();
  const ERANGE = 34;
  for (;;) {
    const size = Number(lib.llistxattr(path, null, 0));
    if (size < 0) fail('llistxattr', path);
    if (size === 0) return [];
    const buf = Buffer.alloc(size);
    const got = Number(lib.llistxattr(path, buf, size));
    if (got >= 0) {
      return buf
        .subarray(0, got)
        .toString('utf8')
        .split('\0')
        .filter((n) => n.length > 0);
    }
    if (lib.errno() !== ERANGE) fail('llistxattr', path);
  }
}

/**
 * Set access and modification times of `path` itself with nanosecond precision
 * (utimensat with AT_SYMLINK_NOFOLLOW: works on symlinks, never follows them).
 */
export function lutimes(path: string, atime: Timespec, mtime: Timespec): void {
  checkPath('lutimes', path);
  const lib = loadLibc();
  const times = Buffer.alloc(32);
  times.writeBigInt64LE(BigInt(atime.sec), 0);
  times.writeBigInt64LE(BigInt(atime.nsec), 8);
  times.writeBigInt64LE(BigInt(mtime.sec), 16);
  times.writeBigInt64LE(BigInt(mtime.nsec), 24);
  if (lib.utimensat(AT_FDCWD, path, times, AT_SYMLINK_NOFOLLOW) !== 0) fail('lutimes', path);
}

export interface OpenAt2Options {
  /** open(2) flags; O_CLOEXEC is always added. */
  flags?: number;
  mode?: number;
  /** RESOLVE_* flags, e.g. RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS. */
  resolve?: number;
}

/**
 * openat2(2): open `path` relative to `dirfd` with scoped resolution. With RESOLVE_IN_ROOT,
 * `..`, absolute paths and absolute symlinks all stay inside `dirfd`. Returns a file
 * descriptor the caller must close (`fs.closeSync` or `FileHandle`).
 */
export function openat2(dirfd: number, path: string, opts: OpenAt2Options = {}): number {
  checkPath('openat2', path);
  const lib = loadLibc();
  const how = Buffer.alloc(24);
  how.writeBigUInt64LE(BigInt(((opts.flags ?? 0) | O_CLOEXEC) >>> 0), 0);
  how.writeBigUInt64LE(BigInt(opts.mode ?? 0), 8);
  how.writeBigUInt64LE(BigInt(opts.resolve ?? 0), 16);
  const fd = Number(lib.syscall(SYS_OPENAT2, 'int', dirfd, 'str', path, 'void *', how, 'size_t', how.length));
  if (fd < 0) fail('openat2', path);
  return fd;
}
