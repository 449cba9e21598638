import type { RuntimeContext } from './context.ts';
import { createContainer, type CreateOptions } from './create.ts';
import { startContainer } from './start.ts';
import { deleteContainer } from './delete.ts';

export interface RunOptions extends Omit<CreateOptions, 'foreground'> {
  detach?: boolean | undefined;
  /** Keep the stopped container's state (runc --keep). */
  keep?: boolean | undefined;
}

export interface RunResult {
  pid: number;
  /** The container's exit status (128+signal when killed); undefined when detached. */
  exitCode?: number;
  warnings: string[];
}

/** create + start, then (unless detached) wait for the container and pass its status through. */
export async function runContainer(ctx: RuntimeContext, id: string, opts: RunOptions): Promise<RunResult> {
  const created = await createContainer(ctx, id, { ...opts, foreground: !opts.detach });
  const warnings: string[] = [...created.warnings];
  try {
    warnings.push(...(await startContainer(ctx, id)).warnings);
  } catch (err) {
    // the init's own report (e.g. a failed exec after `ready`) says more than "not created"
    if (!opts.detach) await created.init.exited;
    await deleteContainer(ctx, id, { force: true }).catch(() => {});
    throw created.init.lateError() ?? err;
  }
  if (opts.detach) return { pid: created.pid, warnings };
  const exitCode = await created.init.exited;
  const late = created.init.lateError();
  if (!opts.keep) warnings.push(...(await deleteContainer(ctx, id, { force: true })).warnings);
  if (late) throw late;
  return { pid: created.pid, exitCode, warnings };
}
