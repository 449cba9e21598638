/**
 * Starting a helper process without copying this one: posix_spawn(3) through koffi.
 *
 * Node's child_process.spawn forks the whole Node process (its page tables grow with the
 * heap: 2–4 ms here, more in a big engine) before it execs. glibc's posix_spawn uses
 * clone(CLONE_VM|CLONE_VFORK): the child borrows this process's memory until it execs,
 * which costs a tenth of that whatever the heap. It is what a long-lived process (the engine,
 * library users of the runtime) should use to start berth-init for every container.
 *
 * Children started here are not libuv's: they are reaped by `waitpid(pid, WNOHANG)` for the
 * pids this module started, on SIGCHLD (as libuv does for its own), never `waitpid(-1)`.
 * Every fd made here is close-on-exec; only the fds mapped explicitly reach the child.
 */
import { closeSync, writeSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { BerthError, signalProcess } from '../common/index.ts';
import { hostSyscallError, loadFfi } from './ffi.ts';

type NativeFn = (...args: unknown[]) => unknown;

interface SpawnLibc {
  errno: () => number;
  errnoNames: Map<number, string>;
  posix_spawn: NativeFn;
  fa_init: NativeFn;
  fa_adddup2: NativeFn;
  fa_addclose: NativeFn;
  fa_destroy: NativeFn;
  attr_init: NativeFn;
  attr_setflags: NativeFn;
  attr_setsigmask: NativeFn;
  attr_setsigdefault: NativeFn;
  attr_destroy: NativeFn;
  sigemptyset: NativeFn;
  sigfillset: NativeFn;
  waitpid: NativeFn;
  memfd_create: NativeFn;
  fcntl: NativeFn;
  socketpair: NativeFn;
}

let lib: SpawnLibc | undefined;

function load(): SpawnLibc {
  if (lib) return lib;
  const { koffi, libc, errnoNames } = loadFfi();
  lib = {
    errno: () => koffi.errno(),
    errnoNames,
    posix_spawn: libc.func('int posix_spawn(_Out_ int *pid, const char *path, void *fa, void *attr, const char **argv, const char **envp)'),
    fa_init: libc.func('int posix_spawn_file_actions_init(void *fa)'),
    fa_adddup2: libc.func('int posix_spawn_file_actions_adddup2(void *fa, int fd, int newfd)'),
    fa_addclose: libc.func('int posix_spawn_file_actions_addclose(void *fa, int fd)'),
    fa_destroy: libc.func('int posix_spawn_file_actions_destroy(void *fa)'),
    attr_init: libc.func('int posix_spawnattr_init(void *attr)'),
    attr_setflags: libc.func('int posix_spawnattr_setflags(void *attr, short flags)'),
    attr_setsigmask: libc.func('int posix_spawnattr_setsigmask(void *attr, const void *mask)'),
    attr_setsigdefault: libc.func('int posix_spawnattr_setsigdefault(void *attr, const void *mask)'),
    attr_destroy: libc.func('int posix_spawnattr_destroy(void *attr)'),
    sigemptyset: libc.func('int sigemptyset(void *set)'),
    sigfillset: libc.func('int sigfillset(void *set)'),
    waitpid: libc.func('int waitpid(int pid, _Out_ int *status, int options)'),
    memfd_create: libc.func('int memfd_create(const char *name, unsigned int flags)'),
    fcntl: libc.func('int fcntl(int fd, int cmd, ...)'),
    socketpair: libc.func('int socketpair(int domain, int type, int protocol, _Out_ int *sv)'),
  };
  return lib;
}

/** Whether posix_spawn is usable here (koffi loads); callers fall back to child_process. */
export function canPosixSpawn(): boolean {
  try {
    load();
    return true;
  } catch {
    return false;
  }
}

function fail(op: string, what: string, errno = load().errno()): never {
  throw hostSyscallError(op, errno, { path: what, what });
}

const MFD_CLOEXEC = 1;
const MFD_ALLOW_SEALING = 2;
const F_ADD_SEALS = 1033;
const F_SEAL_SEAL = 1;
const F_SEAL_SHRINK = 2;
const F_SEAL_GROW = 4;
const F_SEAL_WRITE = 8;
const AF_UNIX = 1;
const SOCK_STREAM = 1;
const SOCK_CLOEXEC = 0o2000000;
const WNOHANG = 1;
const POSIX_SPAWN_SETSIGDEF = 0x04;
const POSIX_SPAWN_SETSIGMASK = 0x08;
const POSIX_SPAWN_SETSID = 0x80;
/** glibc's sizes are 80 (file actions), 336 (attr) and 128 (sigset_t) bytes on 64-bit Linux: room to spare. */
const OPAQUE_SIZE = 1024;

/** An anonymous file holding `data` (close-on-exec). `sealed`: nobody, this process included,
 * can change it any more (F_SEAL_WRITE|GROW|SHRINK|SEAL), so a binary run from it cannot be
 * overwritten through /proc/PID/exe (the CVE-2019-5736 class). */
export function memfdWith(name: string, data: Uint8Array, opts: { sealed?: boolean } = {}): number {
  const l = load();
  const fd = Number(l.memfd_create(name, MFD_CLOEXEC | (opts.sealed ? MFD_ALLOW_SEALING : 0)));
  if (fd < 0) fail('memfd_create', JSON.stringify(name));
  try {
    // pwrite at 0: the file offset stays at 0 for the reader that inherits the fd
    for (let off = 0; off < data.byteLength; ) off += writeSync(fd, data, off, data.byteLength - off, off);
    if (opts.sealed && Number(l.fcntl(fd, F_ADD_SEALS, 'int', F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL)) < 0) {
      fail('fcntl(F_ADD_SEALS)', JSON.stringify(name));
    }
    return fd;
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

/**
 * This process's fds `from` … `from+count-1` that its caller gave it: each fd, or -1 where there
 * is none. Node marks every fd it inherits close-on-exec at start-up and opens its own (epoll,
 * io_uring, event fds, pipes) at the lowest free numbers, gaps of the caller's range included:
 * from inside Node the two cannot be told apart, and one of Node's must never reach a container.
 * So the launcher (bin/berth-runtime), a shell that opens nothing, records the fds it was given
 * in BERTH_INHERITED_FDS as "PID: FD FD …"; without a record for this process, undefined.
 */
export function inheritedFds(from: number, count: number, record = process.env.BERTH_INHERITED_FDS): number[] | undefined {
  const m = /^(\d+):([\d ]*)$/.exec(record ?? '');
  if (!m || Number(m[1]) !== process.pid) return undefined; // "PID: FD FD …", made for this process
  const given = new Set(m[2]!.split(' ').filter(Boolean).map(Number));
  return Array.from({ length: count }, (_, i) => (given.has(from + i) ? from + i : -1));
}

/** A connected pair of Unix stream sockets, both close-on-exec. */
export function socketPair(): [number, number] {
  const sv = [0, 0];
  if (Number(load().socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) < 0) fail('socketpair', 'AF_UNIX');
  return [sv[0] as number, sv[1] as number];
}

export interface SpawnedExit {
  /** Exit status, or null when killed by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface SpawnedProcess {
  pid: number;
  /** Resolves once the process ended and was reaped. */
  exited: Promise<SpawnedExit>;
  /** Whether it was reaped already (its pid may belong to someone else then). */
  hasExited(): boolean;
  /** Signals the process unless it was reaped already. */
  kill(signal: NodeJS.Signals | number): void;
  /** Keeps the event loop no longer alive for it (it is still reaped if it ends while we run). */
  unref(): void;
}

export interface PosixSpawnOptions {
  /** fds[i] becomes the child's fd i (0, 1, 2, …), -1 leaves it closed (not for 0 to 2); every other fd of ours stays out. */
  fds: number[];
  /** Default: this process's environment. */
  env?: NodeJS.ProcessEnv;
  /** A session of its own (setsid): the terminal's hangup and signals do not reach it. */
  setsid?: boolean;
}

let signalNamesMap: Map<number, NodeJS.Signals> | undefined;
const signalNames = {
  get: (num: number) => (signalNamesMap ??= new Map(Object.entries(osConstants.signals).map(([name, n]) => [n, name as NodeJS.Signals]))).get(num),
};

interface Watched {
  resolve: (exit: SpawnedExit) => void;
  reaped: boolean;
  /** The event loop need not stay alive for it. */
  weak: boolean;
}
const watched = new Map<number, Watched>();
let listening = false;
/** Keeps the event loop alive while a child of ours runs (a signal listener does not), and
 * reaps once a second in case a SIGCHLD was coalesced away by someone else's waitpid. */
let keepAlive: NodeJS.Timeout | undefined;

/** Reaps the pids we started that ended (never anyone else's: no waitpid(-1)). */
function reap(): void {
  const l = load();
  for (const [pid, w] of watched) {
    const status = [0];
    const r = Number(l.waitpid(pid, status, WNOHANG));
    if (r === 0) continue;
    watched.delete(pid);
    w.reaped = true;
    if (r < 0) {
      w.resolve({ code: null, signal: null }); // ECHILD: someone else reaped it
      continue;
    }
    const st = status[0] as number;
    const termsig = st & 0x7f;
    w.resolve(termsig === 0 ? { code: (st >> 8) & 0xff, signal: null } : { code: null, signal: signalNames.get(termsig) ?? null });
  }
  if (watched.size === 0 && listening) {
    process.removeListener('SIGCHLD', reap);
    listening = false;
    clearInterval(keepAlive);
    keepAlive = undefined;
  } else {
    refKeepAlive();
  }
}

/** The keep-alive timer holds the event loop only while a child not marked weak runs. */
function refKeepAlive(): void {
  if (!keepAlive) return;
  if ([...watched.values()].some((w) => !w.weak)) keepAlive.ref();
  else keepAlive.unref();
}

/** Starts `path` with `argv` (argv[0] included), the child's fds as `opts.fds` maps them,
 * signal dispositions at their defaults and no signal blocked (as libuv does for its children). */
export function posixSpawn(path: string, argv: string[], opts: PosixSpawnOptions): SpawnedProcess {
  const bad = opts.fds.findIndex((fd, i) => !Number.isInteger(fd) || fd < -1 || (fd === -1 && i < 3));
  if (bad >= 0) throw new BerthError('INVALID_ARGUMENT', `posix_spawn: fd ${bad} of the child must be an open file descriptor, not ${JSON.stringify(opts.fds[bad])}`);
  const l = load();
  const fa = Buffer.alloc(OPAQUE_SIZE);
  const attr = Buffer.alloc(OPAQUE_SIZE);
  const sigs = Buffer.alloc(OPAQUE_SIZE);
  if (Number(l.fa_init(fa)) !== 0 || Number(l.attr_init(attr)) !== 0) throw new BerthError('INTERNAL', 'posix_spawn: cannot initialise its attributes');
  try {
    // two passes, so that no source fd is overwritten before it was copied: first every
    // source to a number above all of them, then those to their places. Above the program's
    // own fd too, when it is run as /proc/self/fd/N (a sealed memfd): the temporaries are
    // closed before execve, and N must still be there then.
    const execFd = /^\/proc\/self\/fd\/(\d+)$/.exec(path);
    const base = opts.fds.reduce((max, fd) => Math.max(max, fd), Math.max(2, execFd ? Number(execFd[1]) : 0)) + 1;
    // (-1: the child's fd i stays closed)
    opts.fds.forEach((fd, i) => fd >= 0 && l.fa_adddup2(fa, fd, base + i));
    opts.fds.forEach((fd, i) => fd >= 0 && l.fa_adddup2(fa, base + i, i));
    opts.fds.forEach((fd, i) => fd >= 0 && l.fa_addclose(fa, base + i));
    l.sigfillset(sigs);
    l.attr_setsigdefault(attr, sigs);
    l.sigemptyset(sigs);
    l.attr_setsigmask(attr, sigs);
    l.attr_setflags(attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | (opts.setsid ? POSIX_SPAWN_SETSID : 0));
    const env = Object.entries(opts.env ?? process.env)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}=${v}`);
    const pid = [0];
    // the SIGCHLD listener is in place before the child exists: no exit is missed
    if (!listening) {
      process.on('SIGCHLD', reap);
      keepAlive = setInterval(reap, 1000);
      listening = true;
    }
    const rc = Number(l.posix_spawn(pid, path, fa, attr, [...argv, null], [...env, null]));
    if (rc !== 0) {
      if (watched.size === 0) reap();
      fail('posix_spawn', JSON.stringify(path), rc);
    }
    const child = pid[0] as number;
    let resolve!: (exit: SpawnedExit) => void;
    const exited = new Promise<SpawnedExit>((res) => (resolve = res));
    const w: Watched = { resolve, reaped: false, weak: false };
    watched.set(child, w);
    setImmediate(reap); // it may have ended before the listener saw anything of ours
    return {
      pid: child,
      exited,
      hasExited: () => w.reaped,
      kill: (signal) => {
        if (!w.reaped) signalProcess(child, signal);
      },
      unref: () => {
        w.weak = true;
        refKeepAlive();
      },
    };
  } finally {
    l.fa_destroy(fa);
    l.attr_destroy(attr);
  }
}
