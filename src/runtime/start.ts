import { closeSync, constants, openSync, readSync, readlinkSync, unlinkSync } from 'node:fs';
import { BerthError, isErrno } from '../common/index.ts';
import type { RuntimeContext } from './context.ts';
import { containerStatus } from './status.ts';
import { isSameLiveProcess } from './process-info.ts';
import { runHooksCollectingWarnings } from './hooks.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const nextTick = () => new Promise((r) => setImmediate(r));

/** Waits a moment between polls: the first few yield only to the event loop (the init answers
 * within microseconds), later ones sleep so a slow container costs no CPU. */
function backoff(attempt: number): Promise<unknown> {
  return attempt < 200 ? nextTick() : sleep(1);
}

function isStillInit(pid: number): boolean {
  try {
    return readlinkSync(`/proc/${pid}/exe`).startsWith('/memfd:berth-init');
  } catch {
    return false;
  }
}

/**
 * start: release the init waiting on the exec fifo. The fifo is opened without blocking
 * and read until the init's byte arrives, so a container that died meanwhile is an error,
 * never a hang. Returns poststart warnings (a failing poststart hook does not stop it).
 */
export async function startContainer(ctx: RuntimeContext, id: string): Promise<{ warnings: string[] }> {
  const state = await ctx.store.read(id);
  const status = await containerStatus(ctx, state);
  if (status !== 'created') {
    throw new BerthError('FAILED_PRECONDITION', `container "${id}" is ${status}, not created`, {
      hint: status === 'running' ? 'it was started already' : undefined,
    });
  }
  const fifoPath = ctx.store.execFifoPath(id);
  const fd = openSync(fifoPath, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const buf = Buffer.alloc(1);
    const readByte = () => {
      try {
        return readSync(fd, buf, 0, 1, null) === 1;
      } catch (err) {
        if (!isErrno(err, 'EAGAIN')) throw err;
        return false;
      }
    };
    for (let attempt = 0; !readByte(); attempt++) {
      // a fast program may have run and exited already: its byte is still in the fifo
      if (!isSameLiveProcess(state.pid, state.pidStartTime) && !readByte()) {
        throw new BerthError('FAILED_PRECONDITION', `container "${id}" exited before it could start`);
      }
      if (!isSameLiveProcess(state.pid, state.pidStartTime)) break;
      await backoff(attempt);
    }
  } finally {
    closeSync(fd);
  }
  unlinkSync(fifoPath);
  // poststart runs after the process is executed: wait until the init is no longer berth-init
  // (startContainer hooks run in between), or is gone
  for (let attempt = 0; isStillInit(state.pid) && isSameLiveProcess(state.pid, state.pidStartTime); attempt++) await backoff(attempt);
  const warnings = await runHooksCollectingWarnings('poststart', state.config.hooks?.poststart, ctx.store.ociState(state, 'running'));
  return { warnings };
}
