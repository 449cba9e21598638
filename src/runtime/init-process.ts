/**
 * Talks to one berth-init process: sends the plan, reads its sync messages, answers hook
 * requests, and turns its error report into a typed SyscallError.
 */
import { spawn, type StdioOptions } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { canPosixSpawn, inheritedFds, memfdWith, posixSpawn, socketPair, type SpawnedExit } from '../native/spawn.ts';
import { BerthError, SyscallError } from '../common/index.ts';
import { ACK_ABORT, ACK_HOOKS, INIT_EXIT_SETUP_FAILED, type InitMessage } from '../native/protocol.ts';
import { initBinaryPath, staticInitBinaryPath } from '../native/init-binary.ts';
import { constants } from 'node:os';

function signalNumber(signal: NodeJS.Signals | null): number {
  return signal ? (constants.signals[signal] ?? 0) : 0;
}

export interface InitHandlers {
  /** viewPid: the keeper of the container's limits view (OP_VIEW), when the plan has one. */
  onPid(pid: number, viewPid?: number): Promise<void>;
  /** Runs the runtime's hooks of a phase; returns the state JSON to hand to in-container hooks. */
  onHooks(name: string): Promise<string>;
}

export interface InitProcess {
  pid: number;
  /** Whether berth-init ended (and was reaped). */
  hasExited(): boolean;
  kill(signal: NodeJS.Signals): void;
  /** Resolves when the container is created (its init waits on the start socket). */
  ready: Promise<void>;
  /** Resolves with berth-init's exit status (the container's, in foreground mode). */
  exited: Promise<number>;
  /** An error berth-init reported after ready (foreground mode), if any. */
  lateError(): Error | undefined;
  /** A monitor, once the container is created: this process lets it go (the event loop no
   * longer waits for it, the sync socket is closed). */
  release(): void;
}

export interface SpawnInitOptions {
  plan: Buffer;
  foreground: boolean;
  preserveFds: number;
  /** The caller's fds that become the container's 3 … 3+preserveFds-1 (default: this
   * process's own 3 … 3+preserveFds-1, as runc passes its own). */
  extraFds?: readonly number[] | undefined;
  handlers: InitHandlers;
  /** fds for the container's stdin, stdout and stderr (default: this process's own). */
  stdio?: ContainerStdio | undefined;
  /** How berth-init is started (default 'node'): see InitLauncher. */
  launcher?: InitLauncher | undefined;
  /** berth-init stays as the container's monitor: a session of its own, /dev/null as its
   * stdio, and nothing of this process waits for it once the container is created. */
  monitor?: boolean | undefined;
}

/**
 * 'node': child_process.spawn (a fork of this process; cheapest for a one-shot CLI, which then
 * need not load koffi). 'posix': posix_spawn from a sealed memfd made once (src/native/spawn.ts;
 * for long-lived processes: the engine and library users). 'auto': 'posix' where koffi loads.
 */
export type InitLauncher = 'node' | 'posix' | 'auto';

/** An open fd, or 'ignore' for /dev/null; unset: this process's own. */
export type StdioSpec = number | 'ignore';

export interface ContainerStdio {
  stdin?: StdioSpec | undefined;
  stdout?: StdioSpec | undefined;
  stderr?: StdioSpec | undefined;
}

/** berth-init's error report as a typed error: a hook's own sentence, or the failing syscall. */
export function initErrorOf(msg: Extract<InitMessage, { type: 'error' }>): Error {
  if (msg.op === 'hook' && msg.message) return new BerthError('FAILED_PRECONDITION', msg.message);
  if (msg.op === 'killed' && msg.message) return new BerthError('UNAVAILABLE', msg.message);
  let hint: string | undefined;
  if (msg.op === 'exec' && msg.errnoName === 'ENOENT') hint = 'check process.args[0] and PATH in config.json';
  if (msg.op === 'mount' && msg.errnoName === 'ENOENT') hint = 'create the mount source or drop the mount from config.json';
  if (msg.errnoName === 'ELOOP' && /^\/proc\//.test(msg.path)) {
    hint = 'the path goes through a /proc magic link (such as /proc/self/fd/N): paths of the container must stay inside its root';
  }
  const what = msg.path ? ` ${JSON.stringify(msg.path)}` : '';
  const message = msg.message
    ? `${msg.stage}: ${msg.op}${what}: ${msg.message}${msg.errnoName ? ` (${msg.errnoName})` : ''}`
    : undefined;
  return new SyscallError({ stage: msg.stage, op: msg.op, errno: msg.errno, errnoName: msg.errnoName, path: msg.path || undefined, message, hint });
}

/** A started berth-init, however it was started. */
interface Launched {
  pid: number;
  /** The parent's end of the sync socket. */
  sync: Socket;
  exited: Promise<SpawnedExit & { error?: Error }>;
  hasExited(): boolean;
  kill(signal: NodeJS.Signals): void;
  unref(): void;
}

/** child_process.spawn: forks this process; berth-init then re-executes itself from a sealed copy. */
function launchWithNode(args: string[], stdio: StdioOptions, planFd: number, syncFd: number, plan: Buffer, setsid: boolean): Launched {
  stdio = [...(stdio as unknown[]), 'pipe', 'pipe'] as StdioOptions;
  const child = spawn(binaryFor(setsid), args, { stdio, detached: setsid });
  const planPipe = child.stdio[planFd] as Socket;
  planPipe.on('error', () => {});
  planPipe.end(plan);
  const exited = new Promise<SpawnedExit & { error?: Error }>((resolve) => {
    child.on('error', (error) => resolve({ code: null, signal: null, error }));
    // 'exit', not 'close': a created container holds the sync socket until it execs
    child.on('exit', (code, signal) => resolve({ code, signal }));
  });
  return {
    pid: child.pid ?? 0,
    sync: child.stdio[syncFd] as Socket,
    exited,
    hasExited: () => child.exitCode !== null || child.signalCode !== null,
    kill: (signal) => void child.kill(signal),
    unref: () => {
      child.unref();
      for (const s of child.stdio) (s as unknown as { unref?: () => void } | null)?.unref?.();
    },
  };
}

/**
 * A monitor outlives its caller for the container's whole life: it runs the static build, whose
 * resident memory is only the pages it touches (no libc or ld.so of the host's mapped in).
 */
function binaryFor(isMonitor: boolean): string {
  return isMonitor ? staticInitBinaryPath() : initBinaryPath();
}

const sealedInit = new Map<string, number>();

/** posix_spawn of berth-init from a sealed memfd this process made once: no copy of this
 * process, and no re-exec in berth-init (it finds itself sealed already). */
function launchWithPosixSpawn(args: string[], stdio: StdioSpec[], plan: Buffer, setsid: boolean): Launched {
  const binary = binaryFor(setsid);
  let sealed = sealedInit.get(binary);
  if (sealed === undefined) sealedInit.set(binary, (sealed = memfdWith('berth-init', readFileSync(binary), { sealed: true })));
  const planFd = memfdWith('berth-plan', plan);
  let pair: [number, number] | undefined;
  let devNull: number | undefined;
  try {
    const fds = stdio.map((fd, i) => (fd === 'ignore' ? (i < 3 ? (devNull ??= openSync('/dev/null', 'r+')) : -1) : fd));
    pair = socketPair();
    const child = posixSpawn(`/proc/self/fd/${sealed}`, ['berth-init', ...args], { fds: [...fds, planFd, pair[1]], setsid });
    const sync = new Socket({ fd: pair[0], readable: true, writable: true });
    return { pid: child.pid, sync, exited: child.exited, hasExited: child.hasExited, kill: child.kill, unref: child.unref };
  } catch (err) {
    if (pair) closeSync(pair[0]);
    throw err;
  } finally {
    closeSync(planFd);
    if (pair) closeSync(pair[1]);
    if (devNull !== undefined) closeSync(devNull);
  }
}

/** Most fds a container may be given: the kernel's nr_open default (runc has no lower bound). */
const MAX_PRESERVE_FDS = 1 << 20;

/**
 * --preserve-fds N passes the fds 3 … 3+N-1 that this process's caller gave it, at the same
 * numbers (one it did not give stays closed in the container, as crun has it; one that Node
 * opened there is never passed: inheritedFds). N must be a count, and the fds
 * must fit under the open-file limit (berth-init's own two come after them).
 */
export function checkPreserveFds(count: number | undefined, extraFds: readonly number[] | undefined): void {
  if (count === undefined) return;
  if (!Number.isInteger(count) || count < 0 || count > MAX_PRESERVE_FDS) {
    throw new BerthError('INVALID_ARGUMENT', `--preserve-fds: expected a number of fds from 0 to ${MAX_PRESERVE_FDS}, got ${count}`);
  }
  if (extraFds && extraFds.length !== count) throw new BerthError('INVALID_ARGUMENT', `--preserve-fds ${count}: ${extraFds.length} fds were given`);
  const limit = openFileLimit();
  if (limit !== undefined && 3 + count + 2 > limit) {
    throw new BerthError('INVALID_ARGUMENT', `--preserve-fds ${count}: fds 3 to ${2 + count} pass the open-file limit of ${limit}`, {
      hint: 'preserve fewer fds, or raise the limit (ulimit -n)',
    });
  }
  if (!extraFds && count > 0 && !inheritedFds(3, 0)) {
    throw new BerthError('FAILED_PRECONDITION', `--preserve-fds ${count}: which fds the caller gave is known only when berth-runtime runs through its launcher (bin/berth-runtime)`, {
      hint: 'run bin/berth-runtime, or pass the fds themselves (extraFds) when using the library',
    });
  }
}

/** RLIMIT_NOFILE's soft limit, from /proc/self/limits. */
function openFileLimit(): number | undefined {
  try {
    const line = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return line && line[1] !== 'unlimited' ? Number(line[1]) : undefined;
  } catch {
    return undefined;
  }
}

export function spawnInit(opts: SpawnInitOptions): InitProcess {
  const planFd = 3 + opts.preserveFds;
  const syncFd = planFd + 1;
  const args = ['create', '--plan-fd', String(planFd), '--sync-fd', String(syncFd)];
  if (opts.foreground) args.push('--foreground');
  // a monitor's own stdio is nothing: the container's are its pipes (or pty)
  const std = opts.monitor ? (['ignore', 'ignore', 'ignore'] as const) : [opts.stdio?.stdin, opts.stdio?.stdout, opts.stdio?.stderr];
  const preserved = opts.extraFds ? [...opts.extraFds] : (inheritedFds(3, opts.preserveFds) ?? []);
  if (preserved.length !== opts.preserveFds) throw new BerthError('INVALID_ARGUMENT', `${opts.preserveFds} fds to preserve, but ${preserved.length} given`);
  const launcher = opts.launcher === 'auto' ? (canPosixSpawn() ? 'posix' : 'node') : opts.launcher;
  const launched =
    launcher === 'posix'
      ? launchWithPosixSpawn(args, [...std.map((fd, i) => fd ?? i), ...preserved], opts.plan, opts.monitor === true)
      : launchWithNode(args, [...std.map((fd) => fd ?? 'inherit'), ...preserved.map((fd) => (fd < 0 ? 'ignore' : fd))], planFd, syncFd, opts.plan, opts.monitor === true);
  const sync = launched.sync;

  let reported: Error | undefined;
  let isReady = false;
  let resolveReady!: () => void;
  let rejectReady!: (err: Error) => void;
  const ready = new Promise<void>((res, rej) => {
    resolveReady = res;
    rejectReady = rej;
  });
  ready.catch(() => {});

  // messages are handled one at a time, in order: hooks must finish before the next step
  let queue = Promise.resolve();
  let buffered = '';
  sync.setEncoding('utf8');
  sync.on('error', () => {});
  sync.on('data', (chunk: string) => {
    buffered += chunk;
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      queue = queue.then(() => handle(line));
    }
  });

  async function handle(line: string): Promise<void> {
    let msg: InitMessage;
    try {
      msg = JSON.parse(line) as InitMessage;
    } catch {
      reported ??= new BerthError('INTERNAL', `berth-init sent an unreadable message: ${line.slice(0, 200)}`);
      return;
    }
    try {
      switch (msg.type) {
        case 'pid':
          await opts.handlers.onPid(msg.pid, msg.view);
          break;
        case 'hooks': {
          const state = await opts.handlers.onHooks(msg.name);
          sync.write(`${ACK_HOOKS} ${state}\n`);
          break;
        }
        case 'ready':
          isReady = true;
          resolveReady();
          break;
        case 'error':
          reported ??= initErrorOf(msg);
          if (!isReady) rejectReady(reported);
          break;
      }
    } catch (err) {
      reported ??= err as Error;
      if (!sync.destroyed) sync.write(`${ACK_ABORT}\n`);
      if (!isReady) rejectReady(reported);
    }
  }

  const exited = launched.exited.then(
    ({ code, signal, error }) =>
      new Promise<number>((resolve) => {
        if (error) {
          reported ??= new BerthError('FAILED_PRECONDITION', `cannot run berth-init: ${error.message}`, { cause: error });
          rejectReady(reported);
          return resolve(INIT_EXIT_SETUP_FAILED);
        }
        const finish = () =>
          void queue.then(() => {
            if (!isReady) {
              rejectReady(
                reported ??
                  (signal
                    ? new BerthError('UNAVAILABLE', `berth-init was killed by ${signal} during set-up`)
                    : new BerthError('INTERNAL', `berth-init ended during set-up (exit status ${code}) without saying why`)),
              );
            }
            // nothing more to hear once berth-init is gone and the container is created
            if (isReady && !opts.foreground) sync.destroy();
            resolve(code ?? 128 + signalNumber(signal));
          });
        // berth-init may be gone before its child's last words are read: wait for `ready`
        // (a created container keeps the socket open) or for the end of the socket
        if (isReady || sync.destroyed || sync.readableEnded) return finish();
        let done = false;
        const once = () => {
          if (!done) (done = true), finish();
        };
        ready.then(once, once);
        sync.once('close', once);
      }),
  );
  const release = () => {
    sync.destroy();
    launched.unref();
  };
  return { pid: launched.pid, hasExited: launched.hasExited, kill: launched.kill, ready, exited, lateError: () => (isReady ? reported : undefined), release };
}
