/**
 * The bpf(2) calls berth needs to control device access on cgroup v2: load a
 * BPF_PROG_TYPE_CGROUP_DEVICE program, attach it to a cgroup directory, list and detach the
 * programs already there. Called in-process through koffi (libc `syscall`), like sys.ts: libc
 * is loaded lazily on the first call, so importing this module costs nothing at start-up.
 *
 * `union bpf_attr` is built by hand, field by field, in memory that koffi allocates (so the
 * pointers stored in it stay valid while the kernel reads them). Only the fields each command
 * knows since it was introduced are set; the rest stay zero, which every kernel accepts.
 *
 * Every failure is a `SyscallError` naming the command and, when given, the cgroup path:
 * `bpf(BPF_PROG_ATTACH) "/sys/fs/cgroup/berth/web": operation not permitted (EPERM)`.
 */
import { hostSyscallError, loadFfi } from './ffi.ts';
import { BerthError } from '../common/index.ts';

/** bpf(2)'s number: x86_64 (which UML guests use too) and arm64. */
const SYS_BPF_BY_ARCH: Record<string, number> = { x64: 321, arm64: 280 };

export const BPF_PROG_LOAD = 5;
export const BPF_PROG_ATTACH = 8;
export const BPF_PROG_DETACH = 9;
export const BPF_PROG_GET_FD_BY_ID = 13;
export const BPF_PROG_QUERY = 16;

export const BPF_PROG_TYPE_CGROUP_DEVICE = 15;
export const BPF_CGROUP_DEVICE = 6;

/** Attach flags (BPF_PROG_ATTACH). */
export const BPF_F_ALLOW_OVERRIDE = 1;
export const BPF_F_ALLOW_MULTI = 2;
export const BPF_F_REPLACE = 4;
/** Query flag: also list the programs inherited from the ancestors. */
export const BPF_F_QUERY_EFFECTIVE = 1;

/** One eBPF instruction is 8 bytes (struct bpf_insn). */
export const BPF_INSN_SIZE = 8;
/** The kernel's limit for privileged programs (BPF_COMPLEXITY_LIMIT_INSNS). */
const BPF_MAX_INSNS = 1_000_000;
/** Room for the verifier's explanation when a load fails (the kernel truncates beyond it). */
const VERIFIER_LOG_SIZE = 256 * 1024;
/** Ids fetched per BPF_PROG_QUERY attempt; grown to what the kernel reports on ENOSPC. */
const QUERY_FIRST_COUNT = 64;

/**
 * The size of `union bpf_attr` passed with every command: larger than any field used here, all
 * unused bytes zero (kernels accept a larger zero-filled attr, and zero-fill a shorter one).
 */
const ATTR_SIZE = 128;

type NativeFn = (...args: unknown[]) => unknown;
type Pointer = unknown;

interface Native {
  sysBpf: number;
  errno: () => number;
  errnoNames: Map<number, string>;
  syscall: NativeFn;
  alloc: (size: number) => Pointer;
  free: (ptr: Pointer) => void;
  address: (ptr: Pointer) => bigint;
  bytes: (ptr: Pointer, size: number) => Uint8Array;
}

let native: Native | undefined;

function loadNative(): Native {
  if (native) return native;
  const sysBpf = SYS_BPF_BY_ARCH[process.arch];
  if (sysBpf === undefined) throw new BerthError('NOT_IMPLEMENTED', `bpf(2) is not wired for the ${process.arch} architecture`);
  const { koffi, libc: lib, errnoNames } = loadFfi();
  native = {
    sysBpf,
    errno: () => koffi.errno(),
    errnoNames,
    syscall: lib.func('long syscall(long nr, ...)'),
    alloc: (size) => koffi.alloc('uint8_t', size),
    free: (ptr) => koffi.free(ptr),
    address: (ptr) => koffi.address(ptr),
    bytes: (ptr, size) => new Uint8Array(koffi.view(ptr, size)),
  };
  return native;
}

/** Native memory, zeroed, that does not move: pointers to it can go into a bpf_attr. Freed by withBuffers. */
class NativeBuffer {
  readonly ptr: Pointer;
  readonly address: bigint;
  readonly bytes: Uint8Array;
  readonly view: DataView;

  constructor(lib: Native, size: number) {
    this.ptr = lib.alloc(size);
    this.address = lib.address(this.ptr);
    this.bytes = lib.bytes(this.ptr, size);
    this.bytes.fill(0);
    this.view = new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength);
  }
}

function withBuffers<T>(lib: Native, sizes: number[], fn: (...buffers: NativeBuffer[]) => T): T {
  const buffers: NativeBuffer[] = [];
  try {
    for (const size of sizes) buffers.push(new NativeBuffer(lib, size));
    return fn(...buffers);
  } finally {
    for (const buffer of buffers) lib.free(buffer.ptr);
  }
}

const COMMAND_NAMES: Record<number, string> = {
  [BPF_PROG_LOAD]: 'BPF_PROG_LOAD',
  [BPF_PROG_ATTACH]: 'BPF_PROG_ATTACH',
  [BPF_PROG_DETACH]: 'BPF_PROG_DETACH',
  [BPF_PROG_GET_FD_BY_ID]: 'BPF_PROG_GET_FD_BY_ID',
  [BPF_PROG_QUERY]: 'BPF_PROG_QUERY',
};

/** bpf(cmd, attr, ATTR_SIZE): the result, or -errno. */
function bpf(lib: Native, cmd: number, attr: NativeBuffer): number {
  // The verifier gives up with EAGAIN when a signal is pending for the caller (a SIGCHLD of one
  // of Node's children will do): libbpf and cilium/ebpf load again, and so does berth.
  for (let attempt = 1; ; attempt++) {
    const result = Number(lib.syscall(lib.sysBpf, 'int', cmd, 'void *', attr.ptr, 'uint32_t', ATTR_SIZE));
    if (result >= 0) return result;
    const errno = lib.errno();
    if (cmd !== BPF_PROG_LOAD || lib.errnoNames.get(errno) !== 'EAGAIN' || attempt >= 10) return -errno;
  }
}

function fail(cmd: number, errno: number, info: { path?: string | undefined; detail?: string; hint?: string }): never {
  throw hostSyscallError(`bpf(${COMMAND_NAMES[cmd] ?? cmd})`, errno, {
    path: info.path,
    ...(info.path === undefined ? {} : { what: JSON.stringify(info.path) }),
    ...(info.detail === undefined ? {} : { detail: info.detail }),
    ...(info.hint === undefined ? {} : { hint: info.hint }),
  });
}

const hintFor = (errnoName: string): string | undefined => {
  switch (errnoName) {
    case 'EPERM':
      return 'bpf(2) needs root (CAP_SYS_ADMIN, or CAP_BPF with CAP_NET_ADMIN); before Linux 5.11 the program also counts against RLIMIT_MEMLOCK (`ulimit -l`)';
    case 'ENOSYS':
      return 'the kernel was built without CONFIG_BPF_SYSCALL';
    default:
      return undefined;
  }
};

function hintOf(errnoName: string): { hint?: string } {
  const hint = hintFor(errnoName);
  return hint === undefined ? {} : { hint };
}

function checkFd(name: string, fd: number): void {
  if (!Number.isInteger(fd) || fd < 0 || fd > 0x7fffffff) throw new BerthError('INVALID_ARGUMENT', `${name} must be an open file descriptor (got ${fd})`);
}

export interface BpfLoadOptions {
  /** The program's license (MODULE_LICENSE strings); "Apache" as runc. */
  license?: string;
  /** A name the kernel shows in bpftool (up to 15 of [A-Za-z0-9_.]); "berth_devices" by default. */
  name?: string;
  /** The cgroup the program is for: named in the error. */
  path?: string;
}

/**
 * Load a BPF_PROG_TYPE_CGROUP_DEVICE program (`insns`: 8 bytes per instruction, little
 * endian, as `compileDeviceFilter` makes them). Returns the program's file descriptor
 * (close-on-exec); the caller closes it once attached. A program the verifier refuses fails
 * with the verifier's log in the error message.
 */
export function bpfProgLoadCgroupDevice(insns: Uint8Array, license: string | BpfLoadOptions = 'Apache'): number {
  const options: BpfLoadOptions = typeof license === 'string' ? { license } : license;
  const licenseText = options.license ?? 'Apache';
  const name = options.name ?? 'berth_devices';
  if (insns.length === 0 || insns.length % BPF_INSN_SIZE !== 0 || insns.length / BPF_INSN_SIZE > BPF_MAX_INSNS) {
    throw new BerthError('INVALID_ARGUMENT', `a BPF program must be 1 to ${BPF_MAX_INSNS} instructions of ${BPF_INSN_SIZE} bytes (got ${insns.length} bytes)`);
  }
  if (licenseText.includes('\0')) throw new BerthError('INVALID_ARGUMENT', 'the BPF program license contains a NUL byte');
  if (!/^[A-Za-z0-9_.]{0,15}$/.test(name)) throw new BerthError('INVALID_ARGUMENT', `BPF program name ${JSON.stringify(name)} must be up to 15 of A-Z a-z 0-9 _ .`);
  const lib = loadNative();
  const licenseBytes = Buffer.from(`${licenseText}\0`, 'utf8');
  return withBuffers(lib, [ATTR_SIZE, insns.length, licenseBytes.length], (attr, code, lic) => {
    code.bytes.set(insns);
    lic.bytes.set(licenseBytes);
    const fill = (logBuf: NativeBuffer | undefined) => {
      attr.bytes.fill(0);
      const v = attr.view;
      v.setUint32(0, BPF_PROG_TYPE_CGROUP_DEVICE, true); // prog_type
      v.setUint32(4, insns.length / BPF_INSN_SIZE, true); // insn_cnt
      v.setBigUint64(8, code.address, true); // insns
      v.setBigUint64(16, lic.address, true); // license
      if (logBuf) {
        v.setUint32(24, 1, true); // log_level
        v.setUint32(28, VERIFIER_LOG_SIZE, true); // log_size
        v.setBigUint64(32, logBuf.address, true); // log_buf
      }
      // kern_version (40) and prog_flags (44) stay 0; prog_name at 48 (16 bytes, NUL-terminated).
      attr.bytes.set(Buffer.from(name, 'ascii'), 48);
    };
    // First without a log (a log too small for a good program fails the load on old kernels),
    // then, only to explain a failure, again with the verifier's log (as libbpf does).
    fill(undefined);
    const fd = bpf(lib, BPF_PROG_LOAD, attr);
    if (fd >= 0) return fd;
    const errnoName = lib.errnoNames.get(-fd) ?? `E${-fd}`;
    if (errnoName !== 'EINVAL' && errnoName !== 'EACCES' && errnoName !== 'E2BIG') {
      return fail(BPF_PROG_LOAD, -fd, { path: options.path, ...hintOf(errnoName) });
    }
    return withBuffers(lib, [VERIFIER_LOG_SIZE], (logBuf) => {
      fill(logBuf);
      const again = bpf(lib, BPF_PROG_LOAD, attr);
      if (again >= 0) return again; // the first failure did not repeat: keep the program
      const end = logBuf.bytes.indexOf(0);
      const log = Buffer.from(logBuf.bytes.subarray(0, end < 0 ? VERIFIER_LOG_SIZE : end)).toString('utf8').trim();
      return fail(BPF_PROG_LOAD, -again, {
        path: options.path,
        ...(log === '' ? {} : { detail: `verifier log:\n${log.length > 8000 ? `…${log.slice(-8000)}` : log}` }),
        hint: 'the kernel refused the BPF_CGROUP_DEVICE program; this is a bug in berth, please report it with the verifier log',
      });
    });
  });
}

export interface BpfAttachOptions {
  /** BPF_CGROUP_DEVICE by default. */
  attachType?: number;
  /** BPF_F_ALLOW_MULTI by default. */
  flags?: number;
  /** With BPF_F_REPLACE: the attached program to replace atomically (Linux 5.6+). */
  replaceProgFd?: number;
  /** The cgroup directory `cgroupFd` is open on: named in the error. */
  path?: string;
}

/** The fields BPF_PROG_ATTACH and BPF_PROG_DETACH share: target, program, attach type. */
function attachAttr(v: DataView, cgroupFd: number, progFd: number, attachType: number | undefined): DataView {
  checkFd('cgroupFd', cgroupFd);
  checkFd('progFd', progFd);
  v.setUint32(0, cgroupFd, true); // target_fd
  v.setUint32(4, progFd, true); // attach_bpf_fd
  v.setUint32(8, attachType ?? BPF_CGROUP_DEVICE, true); // attach_type
  return v;
}

/** Attach a loaded program to the cgroup open at `cgroupFd` (BPF_PROG_ATTACH). */
export function bpfProgAttach(cgroupFd: number, progFd: number, options: BpfAttachOptions = {}): void {
  const lib = loadNative();
  withBuffers(lib, [ATTR_SIZE], (attr) => {
    const v = attachAttr(attr.view, cgroupFd, progFd, options.attachType);
    v.setUint32(12, options.flags ?? BPF_F_ALLOW_MULTI, true); // attach_flags
    if (options.replaceProgFd !== undefined) {
      checkFd('replaceProgFd', options.replaceProgFd);
      v.setUint32(16, options.replaceProgFd, true); // replace_bpf_fd
    }
    const result = bpf(lib, BPF_PROG_ATTACH, attr);
    if (result < 0) {
      const errnoName = lib.errnoNames.get(-result) ?? '';
      const hint =
        errnoName === 'EPERM' && (options.flags ?? BPF_F_ALLOW_MULTI) & BPF_F_ALLOW_MULTI
          ? 'a program is already attached to this cgroup without BPF_F_ALLOW_MULTI (or bpf(2) needs CAP_SYS_ADMIN)'
          : errnoName === 'EBADF'
            ? 'the target must be a cgroup v2 directory opened O_RDONLY|O_DIRECTORY'
            : hintFor(errnoName);
      fail(BPF_PROG_ATTACH, -result, { path: options.path, ...(hint === undefined ? {} : { hint }) });
    }
  });
}

export interface BpfDetachOptions {
  /** BPF_CGROUP_DEVICE by default. */
  attachType?: number;
  /** The cgroup directory `cgroupFd` is open on: named in the error. */
  path?: string;
}

/** Detach the program `progFd` from the cgroup open at `cgroupFd` (BPF_PROG_DETACH). */
export function bpfProgDetach(cgroupFd: number, progFd: number, options: BpfDetachOptions = {}): void {
  const lib = loadNative();
  withBuffers(lib, [ATTR_SIZE], (attr) => {
    attachAttr(attr.view, cgroupFd, progFd, options.attachType);
    const result = bpf(lib, BPF_PROG_DETACH, attr);
    if (result < 0) {
      fail(BPF_PROG_DETACH, -result, { path: options.path, ...hintOf(lib.errnoNames.get(-result) ?? '') });
    }
  });
}

export interface BpfQueryOptions {
  /** BPF_CGROUP_DEVICE by default. */
  attachType?: number;
  /** Also list the programs that apply through the ancestors (BPF_F_QUERY_EFFECTIVE). */
  isEffective?: boolean;
  /** The cgroup directory `cgroupFd` is open on: named in the error. */
  path?: string;
}

export interface BpfQueryResult {
  /** The ids of the attached programs, in the order the kernel runs them. */
  progIds: number[];
  /** The flags they were attached with (BPF_F_ALLOW_MULTI, …); 0 when none is attached. */
  attachFlags: number;
}

/** The programs attached to the cgroup open at `cgroupFd` (BPF_PROG_QUERY). */
export function bpfProgQuery(cgroupFd: number, options: BpfQueryOptions = {}): BpfQueryResult {
  checkFd('cgroupFd', cgroupFd);
  const lib = loadNative();
  let count = QUERY_FIRST_COUNT;
  for (let attempt = 0; attempt < 10; attempt++) {
    const done = withBuffers(lib, [ATTR_SIZE, count * 4], (attr, ids): BpfQueryResult | undefined => {
      const v = attr.view;
      v.setUint32(0, cgroupFd, true); // target_fd
      v.setUint32(4, options.attachType ?? BPF_CGROUP_DEVICE, true); // attach_type
      v.setUint32(8, options.isEffective ? BPF_F_QUERY_EFFECTIVE : 0, true); // query_flags
      v.setBigUint64(16, ids.address, true); // prog_ids
      v.setUint32(24, count, true); // prog_cnt (in: room, out: how many are attached)
      const result = bpf(lib, BPF_PROG_QUERY, attr);
      const attached = v.getUint32(24, true);
      if (result < 0) {
        const errnoName = lib.errnoNames.get(-result) ?? '';
        if (errnoName === 'ENOSPC' && attached > count) {
          count = attached; // more were attached than we had room for: ask again
          return undefined;
        }
        const hint = errnoName === 'EBADF' || errnoName === 'EINVAL' ? 'the target must be a cgroup v2 directory' : hintFor(errnoName);
        fail(BPF_PROG_QUERY, -result, { path: options.path, ...(hint === undefined ? {} : { hint }) });
      }
      const progIds: number[] = [];
      for (let i = 0; i < Math.min(attached, count); i++) progIds.push(ids.view.getUint32(i * 4, true));
      return { progIds, attachFlags: v.getUint32(12, true) };
    });
    if (done) return done;
  }
  throw new BerthError('UNAVAILABLE', `bpf(BPF_PROG_QUERY) ${JSON.stringify(options.path ?? '')}: the list of attached programs kept growing`, {
    hint: 'something else is attaching programs to this cgroup; retry',
  });
}

/**
 * A file descriptor for the loaded program with this id (BPF_PROG_GET_FD_BY_ID), to detach
 * it; the caller closes it. `undefined` when no such program exists any more.
 */
export function bpfProgGetFdById(progId: number, options: { path?: string } = {}): number | undefined {
  if (!Number.isInteger(progId) || progId <= 0 || progId > 0xffffffff) throw new BerthError('INVALID_ARGUMENT', `BPF program id must be a positive 32-bit integer (got ${progId})`);
  const lib = loadNative();
  return withBuffers(lib, [ATTR_SIZE], (attr) => {
    attr.view.setUint32(0, progId, true); // prog_id
    const fd = bpf(lib, BPF_PROG_GET_FD_BY_ID, attr);
    if (fd >= 0) return fd;
    if (lib.errnoNames.get(-fd) === 'ENOENT') return undefined;
    return fail(BPF_PROG_GET_FD_BY_ID, -fd, { path: options.path, detail: `(program id ${progId})`, ...hintOf(lib.errnoNames.get(-fd) ?? '') });
  });
}
