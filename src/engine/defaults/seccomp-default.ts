/**
 * Docker's default seccomp profile, and moby's setupSeccomp that turns it into the
 * `linux.seccomp` of one container.
 *
 * Source: moby's profiles/seccomp/default.json, repository moby/moby, commit
 * 00f3d189e420d485e42d15fe494f96d272284e0e (DOCKER_SECCOMP_SOURCE names it with the sha256 of the
 * bytes read). The table at the end of this file is generated from it by
 * scripts/gen-seccomp-default.mjs; refresh it with
 *   node scripts/gen-seccomp-default.mjs default.json --commit SHA --write src/engine/defaults/seccomp-default.ts
 * which rewrites everything below the marker line and leaves this code alone.
 *
 * applySeccompProfile follows setupSeccomp of moby's profiles/seccomp/seccomp_linux.go (the same in
 * moby/moby since v23 and in github.com/moby/profiles): the archMap entry of the container's
 * architecture gives `architectures`; a rule is dropped when its `excludes` matches (an arch listed,
 * any listed capability held, or the kernel at least minKernel) or its `includes` does not (arch
 * not listed, a listed capability missing, or the kernel older than minKernel); the rest pass
 * through in order with their names, action, errnoRet and args.
 */
import { release } from 'node:os';
import { BerthError } from '../../common/index.ts';
import type { Seccomp, SeccompAction, SeccompArg, SeccompOperator, SeccompSyscall } from '../../oci/index.ts';

/** One archMap entry: the native architecture and the ones its filter also covers. */
export interface MobySeccompArch {
  readonly architecture: string;
  readonly subArchitectures: readonly string[] | null;
}

/** A rule's includes/excludes: libseccomp arch names, capability names, a "MAJOR.MINOR" kernel. */
export interface MobySeccompFilter {
  readonly caps?: readonly string[];
  readonly arches?: readonly string[];
  readonly minKernel?: string;
}

export interface MobySeccompArg {
  readonly index: number;
  readonly value: number;
  readonly valueTwo?: number;
  readonly op: SeccompOperator;
}

/** A rule of moby's profile format (profiles/seccomp/seccomp.go `Syscall`). */
export interface MobySeccompRule {
  readonly names?: readonly string[];
  /** Older profiles name one syscall per rule. */
  readonly name?: string;
  readonly action: SeccompAction;
  readonly errnoRet?: number;
  readonly args?: readonly MobySeccompArg[] | null;
  readonly comment?: string;
  readonly includes?: MobySeccompFilter;
  readonly excludes?: MobySeccompFilter;
}

/** moby's profile format (profiles/seccomp/seccomp.go `Seccomp`), as default.json holds it. */
export interface MobySeccompProfile {
  readonly defaultAction: SeccompAction;
  readonly defaultErrnoRet?: number;
  readonly archMap?: readonly MobySeccompArch[];
  readonly syscalls: readonly MobySeccompRule[];
}

/** Which file the table was generated from. */
export interface MobySeccompSource {
  readonly repository: string;
  readonly path: string;
  readonly commit: string;
  readonly sha256: string;
  readonly bytes: number;
  readonly trailingNewline: boolean;
}

export interface DockerSeccompOptions {
  /**
   * The container's capabilities, e.g. DOCKER_DEFAULT_CAPABILITIES. moby matches rules against
   * the bounding set; docker gives the bounding, effective and permitted sets the same list.
   */
  capabilities: readonly string[];
  /** The container's architecture as Node names it (process.arch); default process.arch. */
  arch?: string;
  /** The host kernel's release, as `uname -r` prints it; default os.release(). */
  kernelRelease?: string;
}

/** Node's process.arch → the GOARCH moby would run as on that machine. */
const GOARCH_BY_NODE_ARCH: Readonly<Record<string, string>> = {
  arm: 'arm',
  arm64: 'arm64',
  ia32: '386',
  loong64: 'loong64',
  mips: 'mips',
  mipsel: 'mipsle',
  ppc: 'ppc',
  ppc64: 'ppc64le', // Node's only Linux ppc64 port is little-endian
  riscv64: 'riscv64',
  s390: 's390',
  s390x: 's390x',
  x64: 'amd64',
};

/**
 * moby's goToNative: GOARCH → the libseccomp name that includes/excludes `arches` use. Kept as
 * moby has it, quirks included (loong64 → "loongarch64", mipsle → "mipsel"); a GOARCH it lacks
 * ("mips") gives "", which no rule lists.
 */
const NATIVE_BY_GOARCH: Readonly<Record<string, string>> = {
  '386': 'x86',
  amd64: 'amd64',
  arm: 'arm',
  arm64: 'arm64',
  loong64: 'loongarch64',
  mips64: 'mips64',
  mips64p32: 'mips64n32',
  mips64le: 'mipsel64',
  mips64p32le: 'mips3l64n32',
  mipsle: 'mipsel',
  ppc: 'ppc',
  ppc64: 'ppc64',
  ppc64le: 'ppc64le',
  riscv64: 'riscv64',
  s390: 's390',
  s390x: 's390x',
};

/** moby's nativeToSeccomp: the archMap `architecture` a native name selects (same quirks). */
const SCMP_ARCH_BY_NATIVE: Readonly<Record<string, string>> = {
  x86: 'SCMP_ARCH_X86',
  amd64: 'SCMP_ARCH_X86_64',
  arm: 'SCMP_ARCH_ARM',
  arm64: 'SCMP_ARCH_AARCH64',
  loong64: 'SCMP_ARCH_LOONGARCH64',
  mips64: 'SCMP_ARCH_MIPS64',
  mips64n32: 'SCMP_ARCH_MIPS64N32',
  mipsel64: 'SCMP_ARCH_MIPSEL64',
  mips3l64n32: 'SCMP_ARCH_MIPSEL64N32',
  mipsle: 'SCMP_ARCH_MIPSEL',
  ppc: 'SCMP_ARCH_PPC',
  ppc64: 'SCMP_ARCH_PPC64',
  ppc64le: 'SCMP_ARCH_PPC64LE',
  riscv64: 'SCMP_ARCH_RISCV64',
  s390: 'SCMP_ARCH_S390',
  s390x: 'SCMP_ARCH_S390X',
};

const lookup = (table: Readonly<Record<string, string>>, key: string): string | undefined => (Object.hasOwn(table, key) ? table[key] : undefined);

/** The libseccomp arch name moby would use for a Node arch name ("" when moby has none). */
function nativeArch(nodeArch: string): string {
  const goarch = lookup(GOARCH_BY_NODE_ARCH, nodeArch);
  if (goarch === undefined) {
    throw new BerthError('INVALID_ARGUMENT', `unknown architecture ${JSON.stringify(nodeArch)}`, {
      hint: `name it as Node's process.arch does: ${Object.keys(GOARCH_BY_NODE_ARCH).join(', ')}`,
    });
  }
  return lookup(NATIVE_BY_GOARCH, goarch) ?? '';
}

/** "MAJOR.MINOR…" → [major, minor], as moby's Sscanf("%d.%d") reads a release or minKernel. */
function parseKernelVersion(text: string, what: string): [number, number] {
  const match = /^(\d+)\.(\d+)/.exec(text);
  if (!match) {
    throw new BerthError('INVALID_ARGUMENT', `cannot read the ${what} ${JSON.stringify(text)}`, { hint: 'expected MAJOR.MINOR, e.g. "6.8.0-45-generic"' });
  }
  return [Number(match[1]), Number(match[2])];
}

/** The rules and architectures of `profile` that apply to one container: moby's setupSeccomp. */
export function applySeccompProfile(profile: MobySeccompProfile, opts: DockerSeccompOptions): Seccomp {
  const arch = nativeArch(opts.arch ?? process.arch);
  const caps = new Set(opts.capabilities);
  let host: [number, number] | undefined;
  const kernelAtLeast = (minKernel: string): boolean => {
    host ??= parseKernelVersion(opts.kernelRelease ?? release(), 'kernel release');
    const [major, minor] = parseKernelVersion(minKernel, 'minKernel of the seccomp profile');
    return host[0] > major || (host[0] === major && host[1] >= minor);
  };

  const out: Seccomp = { defaultAction: profile.defaultAction };
  if (profile.defaultErrnoRet !== undefined) out.defaultErrnoRet = profile.defaultErrnoRet;

  const scmpArch = lookup(SCMP_ARCH_BY_NATIVE, arch);
  const entry = scmpArch === undefined ? undefined : profile.archMap?.find((a) => a.architecture === scmpArch);
  if (entry) out.architectures = [entry.architecture, ...(entry.subArchitectures ?? [])];

  const syscalls: SeccompSyscall[] = [];
  profile.syscalls.forEach((rule, i) => {
    if (rule.name !== undefined && rule.name !== '' && (rule.names?.length ?? 0) > 0) {
      throw new BerthError('INVALID_ARGUMENT', `seccomp profile rule ${i} has both "name" and "names"`, { hint: 'use one of them' });
    }
    const { includes: inc, excludes: exc } = rule;
    if (exc?.arches?.includes(arch)) return;
    if (exc?.caps?.some((c) => caps.has(c))) return;
    if (exc?.minKernel !== undefined && exc.minKernel !== '' && kernelAtLeast(exc.minKernel)) return;
    if (inc?.arches?.length && !inc.arches.includes(arch)) return;
    if (inc?.caps?.some((c) => !caps.has(c))) return;
    if (inc?.minKernel !== undefined && inc.minKernel !== '' && !kernelAtLeast(inc.minKernel)) return;

    const names = rule.name ? [rule.name] : [...(rule.names ?? [])];
    if (names.length === 0) return; // a rule naming nothing filters nothing
    const oci: SeccompSyscall = { names, action: rule.action };
    if (rule.errnoRet !== undefined) oci.errnoRet = rule.errnoRet;
    if (rule.args?.length) oci.args = rule.args.map(toOciArg);
    syscalls.push(oci);
  });
  if (syscalls.length > 0) out.syscalls = syscalls;
  return out;
}

/** As Go marshals specs.LinuxSeccompArg: valueTwo only when it is not 0. */
function toOciArg(arg: MobySeccompArg): SeccompArg {
  const out: SeccompArg = { index: arg.index, value: arg.value, op: arg.op };
  if (arg.valueTwo) out.valueTwo = arg.valueTwo;
  return out;
}

/** Docker's default `linux.seccomp` for a container with these capabilities, architecture and host kernel. */
export function dockerSeccompProfile(opts: DockerSeccompOptions): Seccomp {
  return applySeccompProfile(DOCKER_SECCOMP_PROFILE, opts);
}

// ---- generated by scripts/gen-seccomp-default.mjs: do not edit below this line ----
// Source: https://github.com/moby/moby/blob/00f3d189e420d485e42d15fe494f96d272284e0e/profiles/seccomp/default.json
// 31 rules naming 411 distinct syscalls. JSON.stringify(DOCKER_SECCOMP_PROFILE, null, '\t')
// gives back the source bytes (see DOCKER_SECCOMP_SOURCE.sha256).

/** Where DOCKER_SECCOMP_PROFILE comes from: the file, and the hash of the bytes the generator read. */
export const DOCKER_SECCOMP_SOURCE: MobySeccompSource = {
  repository: 'moby/moby',
  path: 'profiles/seccomp/default.json',
  commit: '00f3d189e420d485e42d15fe494f96d272284e0e',
  sha256: '691370acc2e46f4b0e02a0f8ccce1b01be0068740c41ceaaccadeca42b0cf89b',
  bytes: 12782,
  trailingNewline: false,
};

/** Docker's default seccomp profile as moby ships it, before setupSeccomp filters it for a container. */
export const DOCKER_SECCOMP_PROFILE: MobySeccompProfile = {
  defaultAction: 'SCMP_ACT_ERRNO',
  defaultErrnoRet: 1,
  archMap: [
    { architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86', 'SCMP_ARCH_X32'] },
    { architecture: 'SCMP_ARCH_AARCH64', subArchitectures: ['SCMP_ARCH_ARM'] },
    { architecture: 'SCMP_ARCH_MIPS64', subArchitectures: ['SCMP_ARCH_MIPS', 'SCMP_ARCH_MIPS64N32'] },
    { architecture: 'SCMP_ARCH_MIPS64N32', subArchitectures: ['SCMP_ARCH_MIPS', 'SCMP_ARCH_MIPS64'] },
    { architecture: 'SCMP_ARCH_MIPSEL64', subArchitectures: ['SCMP_ARCH_MIPSEL', 'SCMP_ARCH_MIPSEL64N32'] },
    { architecture: 'SCMP_ARCH_MIPSEL64N32', subArchitectures: ['SCMP_ARCH_MIPSEL', 'SCMP_ARCH_MIPSEL64'] },
    { architecture: 'SCMP_ARCH_S390X', subArchitectures: ['SCMP_ARCH_S390'] },
    { architecture: 'SCMP_ARCH_RISCV64', subArchitectures: null },
  ],
  syscalls: [
    {
      names: [
        'accept', 'accept4', 'access', 'adjtimex', 'alarm', 'bind', 'brk', 'capget', 'capset', 'chdir', 'chmod',
        'chown', 'chown32', 'clock_adjtime', 'clock_adjtime64', 'clock_getres', 'clock_getres_time64', 'clock_gettime',
        'clock_gettime64', 'clock_nanosleep', 'clock_nanosleep_time64', 'close', 'close_range', 'connect',
        'copy_file_range', 'creat', 'dup', 'dup2', 'dup3', 'epoll_create', 'epoll_create1', 'epoll_ctl',
        'epoll_ctl_old', 'epoll_pwait', 'epoll_pwait2', 'epoll_wait', 'epoll_wait_old', 'eventfd', 'eventfd2', 'execve',
        'execveat', 'exit', 'exit_group', 'faccessat', 'faccessat2', 'fadvise64', 'fadvise64_64', 'fallocate',
        'fanotify_mark', 'fchdir', 'fchmod', 'fchmodat', 'fchown', 'fchown32', 'fchownat', 'fcntl', 'fcntl64',
        'fdatasync', 'fgetxattr', 'flistxattr', 'flock', 'fork', 'fremovexattr', 'fsetxattr', 'fstat', 'fstat64',
        'fstatat64', 'fstatfs', 'fstatfs64', 'fsync', 'ftruncate', 'ftruncate64', 'futex', 'futex_time64',
        'futex_waitv', 'futimesat', 'getcpu', 'getcwd', 'getdents', 'getdents64', 'getegid', 'getegid32', 'geteuid',
        'geteuid32', 'getgid', 'getgid32', 'getgroups', 'getgroups32', 'getitimer', 'getpeername', 'getpgid', 'getpgrp',
        'getpid', 'getppid', 'getpriority', 'getrandom', 'getresgid', 'getresgid32', 'getresuid', 'getresuid32',
        'getrlimit', 'get_robust_list', 'getrusage', 'getsid', 'getsockname', 'getsockopt', 'get_thread_area', 'gettid',
        'gettimeofday', 'getuid', 'getuid32', 'getxattr', 'inotify_add_watch', 'inotify_init', 'inotify_init1',
        'inotify_rm_watch', 'io_cancel', 'ioctl', 'io_destroy', 'io_getevents', 'io_pgetevents', 'io_pgetevents_time64',
        'ioprio_get', 'ioprio_set', 'io_setup', 'io_submit', 'io_uring_enter', 'io_uring_register', 'io_uring_setup',
        'ipc', 'kill', 'landlock_add_rule', 'landlock_create_ruleset', 'landlock_restrict_self', 'lchown', 'lchown32',
        'lgetxattr', 'link', 'linkat', 'listen', 'listxattr', 'llistxattr', '_llseek', 'lremovexattr', 'lseek',
        'lsetxattr', 'lstat', 'lstat64', 'madvise', 'membarrier', 'memfd_create', 'memfd_secret', 'mincore', 'mkdir',
        'mkdirat', 'mknod', 'mknodat', 'mlock', 'mlock2', 'mlockall', 'mmap', 'mmap2', 'mprotect', 'mq_getsetattr',
        'mq_notify', 'mq_open', 'mq_timedreceive', 'mq_timedreceive_time64', 'mq_timedsend', 'mq_timedsend_time64',
        'mq_unlink', 'mremap', 'msgctl', 'msgget', 'msgrcv', 'msgsnd', 'msync', 'munlock', 'munlockall', 'munmap',
        'name_to_handle_at', 'nanosleep', 'newfstatat', '_newselect', 'open', 'openat', 'openat2', 'pause',
        'pidfd_open', 'pidfd_send_signal', 'pipe', 'pipe2', 'pkey_alloc', 'pkey_free', 'pkey_mprotect', 'poll', 'ppoll',
        'ppoll_time64', 'prctl', 'pread64', 'preadv', 'preadv2', 'prlimit64', 'process_mrelease', 'pselect6',
        'pselect6_time64', 'pwrite64', 'pwritev', 'pwritev2', 'read', 'readahead', 'readlink', 'readlinkat', 'readv',
        'recv', 'recvfrom', 'recvmmsg', 'recvmmsg_time64', 'recvmsg', 'remap_file_pages', 'removexattr', 'rename',
        'renameat', 'renameat2', 'restart_syscall', 'rmdir', 'rseq', 'rt_sigaction', 'rt_sigpending', 'rt_sigprocmask',
        'rt_sigqueueinfo', 'rt_sigreturn', 'rt_sigsuspend', 'rt_sigtimedwait', 'rt_sigtimedwait_time64',
        'rt_tgsigqueueinfo', 'sched_getaffinity', 'sched_getattr', 'sched_getparam', 'sched_get_priority_max',
        'sched_get_priority_min', 'sched_getscheduler', 'sched_rr_get_interval', 'sched_rr_get_interval_time64',
        'sched_setaffinity', 'sched_setattr', 'sched_setparam', 'sched_setscheduler', 'sched_yield', 'seccomp',
        'select', 'semctl', 'semget', 'semop', 'semtimedop', 'semtimedop_time64', 'send', 'sendfile', 'sendfile64',
        'sendmmsg', 'sendmsg', 'sendto', 'setfsgid', 'setfsgid32', 'setfsuid', 'setfsuid32', 'setgid', 'setgid32',
        'setgroups', 'setgroups32', 'setitimer', 'setpgid', 'setpriority', 'setregid', 'setregid32', 'setresgid',
        'setresgid32', 'setresuid', 'setresuid32', 'setreuid', 'setreuid32', 'setrlimit', 'set_robust_list', 'setsid',
        'setsockopt', 'set_thread_area', 'set_tid_address', 'setuid', 'setuid32', 'setxattr', 'shmat', 'shmctl',
        'shmdt', 'shmget', 'shutdown', 'sigaltstack', 'signalfd', 'signalfd4', 'sigprocmask', 'sigreturn', 'socketcall',
        'socketpair', 'splice', 'stat', 'stat64', 'statfs', 'statfs64', 'statx', 'symlink', 'symlinkat', 'sync',
        'sync_file_range', 'syncfs', 'sysinfo', 'tee', 'tgkill', 'time', 'timer_create', 'timer_delete',
        'timer_getoverrun', 'timer_gettime', 'timer_gettime64', 'timer_settime', 'timer_settime64', 'timerfd_create',
        'timerfd_gettime', 'timerfd_gettime64', 'timerfd_settime', 'timerfd_settime64', 'times', 'tkill', 'truncate',
        'truncate64', 'ugetrlimit', 'umask', 'uname', 'unlink', 'unlinkat', 'utime', 'utimensat', 'utimensat_time64',
        'utimes', 'vfork', 'vmsplice', 'wait4', 'waitid', 'waitpid', 'write', 'writev',
      ],
      action: 'SCMP_ACT_ALLOW',
    },
    {
      names: ['process_vm_readv', 'process_vm_writev', 'ptrace'],
      action: 'SCMP_ACT_ALLOW',
      includes: { minKernel: '4.8' },
    },
    { names: ['socket'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 40, op: 'SCMP_CMP_NE' }] },
    { names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 0, op: 'SCMP_CMP_EQ' }] },
    { names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 8, op: 'SCMP_CMP_EQ' }] },
    { names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 131072, op: 'SCMP_CMP_EQ' }] },
    { names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 131080, op: 'SCMP_CMP_EQ' }] },
    { names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 4294967295, op: 'SCMP_CMP_EQ' }] },
    { names: ['sync_file_range2', 'swapcontext'], action: 'SCMP_ACT_ALLOW', includes: { arches: ['ppc64le'] } },
    {
      names: ['arm_fadvise64_64', 'arm_sync_file_range', 'sync_file_range2', 'breakpoint', 'cacheflush', 'set_tls'],
      action: 'SCMP_ACT_ALLOW',
      includes: { arches: ['arm', 'arm64'] },
    },
    { names: ['arch_prctl'], action: 'SCMP_ACT_ALLOW', includes: { arches: ['amd64', 'x32'] } },
    { names: ['modify_ldt'], action: 'SCMP_ACT_ALLOW', includes: { arches: ['amd64', 'x32', 'x86'] } },
    {
      names: ['s390_pci_mmio_read', 's390_pci_mmio_write', 's390_runtime_instr'],
      action: 'SCMP_ACT_ALLOW',
      includes: { arches: ['s390', 's390x'] },
    },
    { names: ['riscv_flush_icache'], action: 'SCMP_ACT_ALLOW', includes: { arches: ['riscv64'] } },
    { names: ['open_by_handle_at'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_DAC_READ_SEARCH'] } },
    {
      names: [
        'bpf', 'clone', 'clone3', 'fanotify_init', 'fsconfig', 'fsmount', 'fsopen', 'fspick', 'lookup_dcookie', 'mount',
        'mount_setattr', 'move_mount', 'open_tree', 'perf_event_open', 'quotactl', 'quotactl_fd', 'setdomainname',
        'sethostname', 'setns', 'syslog', 'umount', 'umount2', 'unshare',
      ],
      action: 'SCMP_ACT_ALLOW',
      includes: { caps: ['CAP_SYS_ADMIN'] },
    },
    {
      names: ['clone'],
      action: 'SCMP_ACT_ALLOW',
      args: [{ index: 0, value: 2114060288, op: 'SCMP_CMP_MASKED_EQ' }],
      excludes: { caps: ['CAP_SYS_ADMIN'], arches: ['s390', 's390x'] },
    },
    {
      names: ['clone'],
      action: 'SCMP_ACT_ALLOW',
      args: [{ index: 1, value: 2114060288, op: 'SCMP_CMP_MASKED_EQ' }],
      comment: 's390 parameter ordering for clone is different',
      includes: { arches: ['s390', 's390x'] },
      excludes: { caps: ['CAP_SYS_ADMIN'] },
    },
    { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38, excludes: { caps: ['CAP_SYS_ADMIN'] } },
    { names: ['reboot'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_BOOT'] } },
    { names: ['chroot'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_CHROOT'] } },
    {
      names: ['delete_module', 'init_module', 'finit_module'],
      action: 'SCMP_ACT_ALLOW',
      includes: { caps: ['CAP_SYS_MODULE'] },
    },
    { names: ['acct'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_PACCT'] } },
    {
      names: ['kcmp', 'pidfd_getfd', 'process_madvise', 'process_vm_readv', 'process_vm_writev', 'ptrace'],
      action: 'SCMP_ACT_ALLOW',
      includes: { caps: ['CAP_SYS_PTRACE'] },
    },
    { names: ['iopl', 'ioperm'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_RAWIO'] } },
    {
      names: ['settimeofday', 'stime', 'clock_settime', 'clock_settime64'],
      action: 'SCMP_ACT_ALLOW',
      includes: { caps: ['CAP_SYS_TIME'] },
    },
    { names: ['vhangup'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_TTY_CONFIG'] } },
    {
      names: ['get_mempolicy', 'mbind', 'set_mempolicy', 'set_mempolicy_home_node'],
      action: 'SCMP_ACT_ALLOW',
      includes: { caps: ['CAP_SYS_NICE'] },
    },
    { names: ['syslog'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYSLOG'] } },
    { names: ['bpf'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_BPF'] } },
    { names: ['perf_event_open'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_PERFMON'] } },
  ],
};
