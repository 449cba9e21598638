/**
 * `run`: create, then start with the caller attached from before the program's first byte,
 * pump its streams until it ends (or the user detaches), and finish it: a foreground run
 * that cannot be detached from finishes (and for --rm removes) the container itself, so no
 * exit command has to start; one that can be detached from leaves that to the monitor's exit
 * command and waits for it.
 */
import { BerthError } from '../common/index.ts';
import type { EngineContext } from './container-context.ts';
import { createContainer, type CreateOptions } from './container-create.ts';
import type { RunSpec } from './container-spec.ts';
import type { ContainerRecord } from './container-store.ts';
import { finishLocked, isActive, settle } from './container-lifecycle.ts';
import { openAttach, pumpAttach, SEND_CLIENT_CLEANS, type AttachSession, type AttachStreams } from './container-attach.ts';
import { removeContainer, removeLocked, startContainer, waitContainer, withLock } from './container-verbs.ts';

export interface RunOptions extends CreateOptions {
  /** Start and return (docker run -d). */
  detach?: boolean;
  /** The caller's streams (not needed with detach). */
  streams?: AttachStreams;
  /** The caller's terminal size, for a terminal container's pty. */
  consoleSize?: { rows: number; cols: number };
  /** Subscribes the caller's resizes (SIGWINCH) to the container's pty; returns the unsubscribe. */
  onResize?: (resize: (rows: number, cols: number) => void) => () => void;
  /** Told once the container runs (e.g. to forward signals to it). */
  onStarted?: (rec: ContainerRecord) => void;
  /** Told once it exists and its program is about to start (e.g. to put the terminal in raw mode). */
  beforeStart?: () => void;
}

export interface RunResult {
  record: ContainerRecord;
  warnings: string[];
  /** The container's exit code (undefined with detach, or when the user detached). */
  exitCode?: number;
  detached: boolean;
}

export async function runContainer(ctx: EngineContext, spec: RunSpec, opts: RunOptions = {}): Promise<RunResult> {
  // created locked by this process, and started holding that lock: nobody acts in between
  const { record, warnings } = await createContainer(ctx, spec, { ...opts, keepLock: true });
  if (opts.detach) {
    try {
      const started = await startContainer(ctx, record.id, { isLocked: true });
      opts.onStarted?.(started);
      return { record: started, warnings, detached: true };
    } catch (err) {
      if (spec.autoRemove) await removeContainer(ctx, record.id, { force: true }).catch(() => undefined);
      throw err;
    }
  }
  const streams = opts.streams;
  if (!streams) throw new BerthError('INVALID_ARGUMENT', 'a foreground run needs streams to attach to');
  // detachable (a terminal with input) or restarted by policy: the exit command finishes it
  const canDetach = spec.tty === true && spec.interactive === true;
  const restarts = (spec.restart?.name ?? 'no') !== 'no';
  const clientCleans = !canDetach && !restarts;
  let session: AttachSession | undefined;
  let started: ContainerRecord;
  try {
    started = await startContainer(ctx, record.id, {
      isLocked: true,
      ...(opts.consoleSize ? { consoleSize: opts.consoleSize } : {}),
      beforeStart: async (paths) => {
        session = await openAttach(paths.attachPath);
        if (clientCleans) await session.send(SEND_CLIENT_CLEANS);
        opts.beforeStart?.();
      },
    });
  } catch (err) {
    session?.close();
    if (spec.autoRemove) await removeContainer(ctx, record.id, { force: true }).catch(() => undefined);
    throw err;
  }
  opts.onStarted?.(started);
  const unsubscribe = opts.onResize?.((rows, cols) => session!.resize(rows, cols));
  let outcome;
  try {
    outcome = await pumpAttach(session!, { ...streams, tty: spec.tty === true, stdin: spec.interactive ? streams.stdin : undefined });
  } finally {
    unsubscribe?.();
  }
  if (outcome.detached) return { record: started, warnings, detached: true };

  let final: ContainerRecord | undefined;
  if (clientCleans) {
    // the monitor ran no exit command: this process finishes the container (as its cleanup would)
    final = await settle(ctx, record.id, 0);
    if (final && spec.autoRemove) {
      await withLock(ctx, record.id, 'remove', async (rec) => {
        const done = isActive(rec) ? await finishLocked(ctx, rec) : rec;
        await removeLocked(ctx, done);
      });
    }
  } else {
    const waited = await waitContainer(ctx, record.id, spec.autoRemove ? 'removed' : 'not-running');
    return { record: started, warnings, detached: false, exitCode: outcome.exit?.exitCode ?? waited.StatusCode };
  }
  return { record: final ?? started, warnings, detached: false, exitCode: outcome.exit?.exitCode ?? final?.exitCode ?? 255 };
}
