import { closeSync, openSync, constants, unlinkSync } from 'node:fs';
import { connect } from 'node:net';
import { basename, dirname } from 'node:path';
import { BerthError, isErrno } from '../common/index.ts';
import { REQ_START, type InitMessage } from '../native/protocol.ts';
import type { RuntimeContext } from './context.ts';
import { containerStatus } from './status.ts';
import { runHooksCollectingWarnings } from './hooks.ts';
import { initErrorOf } from './init-process.ts';

/** A unix socket path longer than sun_path (108 bytes) is reached through its directory's fd. */
function withShortPath<T>(path: string, use: (short: string) => Promise<T>): Promise<T> {
  if (Buffer.byteLength(path) < 108) return use(path);
  const dir = openSync(dirname(path), constants.O_RDONLY | constants.O_DIRECTORY);
  return use(`/proc/self/fd/${dir}/${basename(path)}`).finally(() => closeSync(dir));
}

type StartOutcome = { kind: 'started' } | { kind: 'gone' } | { kind: 'failed'; error: Error };

/**
 * Asks the created init to go on: connect to its start socket and send "start". The
 * connection ends when the init executes the program (it is close-on-exec); an error before
 * that (a startContainer hook, the filter, execve) arrives on it first. Nothing is polled.
 */
function requestStart(socketPath: string): Promise<StartOutcome> {
  return withShortPath(
    socketPath,
    (path) =>
      new Promise<StartOutcome>((resolve) => {
        const sock = connect({ path });
        let text = '';
        let connected = false;
        sock.setEncoding('utf8');
        sock.on('connect', () => {
          connected = true;
          sock.write(`${REQ_START}\n`);
        });
        sock.on('data', (chunk: string) => {
          if (text.length < 65536) text += chunk;
        });
        sock.on('error', (err) => {
          // no listener: the init is gone (or was never there)
          if (!connected && (isErrno(err, 'ECONNREFUSED') || isErrno(err, 'ENOENT'))) resolve({ kind: 'gone' });
          else if (!connected) resolve({ kind: 'failed', error: err });
        });
        sock.on('close', () => {
          if (!connected) return;
          const line = text.split('\n').find((l) => l.startsWith('{'));
          if (!line) return resolve({ kind: 'started' });
          try {
            const msg = JSON.parse(line) as InitMessage;
            if (msg.type === 'error') return resolve({ kind: 'failed', error: initErrorOf(msg) });
          } catch {
            // an unreadable report is still a failure
          }
          resolve({ kind: 'failed', error: new BerthError('INTERNAL', `the container's init sent an unreadable report: ${line.slice(0, 200)}`) });
        });
      }),
  );
}

/**
 * start: release the init waiting on its start socket, and return once the container's program
 * runs (or its start failed, with the init's own error). Returns poststart warnings (a failing
 * poststart hook does not stop it).
 */
export async function startContainer(ctx: RuntimeContext, id: string): Promise<{ warnings: string[] }> {
  const state = await ctx.store.read(id);
  const status = await containerStatus(ctx, state);
  if (status !== 'created') {
    throw new BerthError('FAILED_PRECONDITION', `container "${id}" is ${status}, not created`, {
      hint: status === 'running' ? 'it was started already' : undefined,
    });
  }
  const socketPath = ctx.store.startSocketPath(id);
  const outcome = await requestStart(socketPath);
  try {
    unlinkSync(socketPath);
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw err;
  }
  if (outcome.kind === 'gone') throw new BerthError('FAILED_PRECONDITION', `container "${id}" exited before it could start`);
  if (outcome.kind === 'failed') throw outcome.error;
  const warnings = await runHooksCollectingWarnings('poststart', state.config.hooks?.poststart, ctx.store.ociState(state, 'running'), state.bundle);
  return { warnings };
}
