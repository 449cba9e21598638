/**
 * Talks to one berth-init process: sends the plan, reads its sync messages, answers hook
 * requests, and turns its error report into a typed SyscallError.
 */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import type { Socket } from 'node:net';
import { BerthError, SyscallError } from '../common/index.ts';
import { ACK_ABORT, ACK_HOOKS, INIT_EXIT_SETUP_FAILED, type InitMessage } from '../native/protocol.ts';
import { initBinaryPath } from '../native/init-binary.ts';
import { constants } from 'node:os';

function signalNumber(signal: NodeJS.Signals | null): number {
  return signal ? (constants.signals[signal] ?? 0) : 0;
}

export interface InitHandlers {
  onPid(pid: number): Promise<void>;
  /** Runs the runtime's hooks of a phase; returns the state JSON to hand to in-container hooks. */
  onHooks(name: string): Promise<string>;
}

export interface InitProcess {
  child: ChildProcess;
  /** Resolves when the container is created (waiting on the exec fifo). */
  ready: Promise<void>;
  /** Resolves with berth-init's exit status (the container's, in foreground mode). */
  exited: Promise<number>;
  /** An error berth-init reported after ready (foreground mode), if any. */
  lateError(): Error | undefined;
}

export interface SpawnInitOptions {
  plan: Buffer;
  foreground: boolean;
  preserveFds: number;
  handlers: InitHandlers;
  /** fds for the container's stdin, stdout and stderr (default: this process's own). */
  stdio?: ContainerStdio | undefined;
}

export interface ContainerStdio {
  stdin?: number | undefined;
  stdout?: number | undefined;
  stderr?: number | undefined;
}

function syscallErrorOf(msg: Extract<InitMessage, { type: 'error' }>): SyscallError {
  let hint: string | undefined;
  if (msg.op === 'exec' && msg.errnoName === 'ENOENT') hint = 'check process.args[0] and PATH in config.json';
  if (msg.op === 'mount' && msg.errnoName === 'ENOENT') hint = 'create the mount source or drop the mount from config.json';
  const what = msg.path ? ` ${JSON.stringify(msg.path)}` : '';
  const message = msg.message
    ? `${msg.stage}: ${msg.op}${what}: ${msg.message}${msg.errnoName ? ` (${msg.errnoName})` : ''}`
    : undefined;
  return new SyscallError({ stage: msg.stage, op: msg.op, errno: msg.errno, errnoName: msg.errnoName, path: msg.path || undefined, message, hint });
}

export function spawnInit(opts: SpawnInitOptions): InitProcess {
  const planFd = 3 + opts.preserveFds;
  const syncFd = planFd + 1;
  const stdio: StdioOptions = [opts.stdio?.stdin ?? 'inherit', opts.stdio?.stdout ?? 'inherit', opts.stdio?.stderr ?? 'inherit'];
  for (let fd = 3; fd < planFd; fd++) stdio.push(fd);
  stdio.push('pipe', 'pipe');
  const args = ['create', '--plan-fd', String(planFd), '--sync-fd', String(syncFd)];
  if (opts.foreground) args.push('--foreground');
  const child = spawn(initBinaryPath(), args, { stdio });
  const planPipe = child.stdio[planFd] as Socket;
  const sync = child.stdio[syncFd] as Socket;
  planPipe.on('error', () => {});
  planPipe.end(opts.plan);

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
          await opts.handlers.onPid(msg.pid);
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
          reported ??= syscallErrorOf(msg);
          if (!isReady) rejectReady(reported);
          break;
      }
    } catch (err) {
      reported ??= err as Error;
      if (!sync.destroyed) sync.write(`${ACK_ABORT}\n`);
      if (!isReady) rejectReady(reported);
    }
  }

  const exited = new Promise<number>((resolve) => {
    child.on('error', (err) => {
      reported ??= new BerthError('FAILED_PRECONDITION', `cannot run berth-init: ${err.message}`, { cause: err });
      rejectReady(reported);
      resolve(INIT_EXIT_SETUP_FAILED);
    });
    // 'exit', not 'close': a created container holds the sync socket until it execs
    child.on('exit', (code, signal) => {
      const finish = () =>
        void queue.then(() => {
          if (!isReady) {
            rejectReady(
              reported ??
                new BerthError('INTERNAL', `berth-init ended during set-up (${signal ? `signal ${signal}` : `exit status ${code}`}) without saying why`),
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
    });
  });
  return { child, ready, exited, lateError: () => (isReady ? reported : undefined) };
}
