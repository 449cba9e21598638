/**
 * `exec`: another process in a running container, through the runtime (setns into each of its
 * namespaces, its cgroup, capabilities, seccomp filter and user). With a terminal, berth-init
 * relays a pty of the container to the caller's own terminal.
 */
import { BerthError } from '../common/index.ts';
import type { ContainerStdio, ExecResult } from '../runtime/index.ts';
import type { EngineContext } from './container-context.ts';
import { kernelCapabilities } from './container-create.ts';
import { effectiveRecord } from './container-lifecycle.ts';
import { assertTransition } from './container-status.ts';

export interface ExecSpec {
  /** The program and its arguments. */
  cmd: string[];
  /** Added to (and overriding) the container's environment. */
  env?: string[];
  /** docker's --user: name or uid, with :group (default: the container's user). */
  user?: string;
  workdir?: string;
  tty?: boolean;
  detach?: boolean;
  privileged?: boolean;
  /** fds for the process (default: this process's own 0, 1, 2). */
  stdio?: ContainerStdio;
  /** The terminal's size at the start (with tty). */
  consoleSize?: { rows: number; cols: number };
  /** Called once the process runs, with its pid as the host sees it. */
  onStarted?: (pid: number) => void;
}

export async function execContainer(ctx: EngineContext, ref: string, spec: ExecSpec): Promise<ExecResult> {
  if (!spec.cmd.length) throw new BerthError('INVALID_ARGUMENT', 'exec needs a command to run');
  const rec = effectiveRecord(ctx, ctx.containers.resolve(ref));
  assertTransition('exec', rec.status, rec.id);
  if (spec.workdir !== undefined && spec.workdir !== '' && !spec.workdir.startsWith('/')) {
    throw new BerthError('INVALID_ARGUMENT', `the working directory '${spec.workdir}' is invalid, it needs to be an absolute path`);
  }
  const config = rec.config as { User?: string };
  const user = spec.user || config.User || '0';
  const result = await ctx.runtime().exec(rec.id, {
    process: {
      args: spec.cmd,
      // docker exec -dt: a detached process has nobody to relay a terminal to
      terminal: spec.tty === true && !spec.detach,
      ...(spec.workdir ? { cwd: spec.workdir } : {}),
      ...(spec.consoleSize && spec.tty ? { consoleSize: { height: spec.consoleSize.rows, width: spec.consoleSize.cols } } : {}),
    },
    onStarted: (pid: number) => {
      ctx.containers.event('container', 'exec_start', rec.id, { name: rec.name, image: rec.imageRef, execID: String(pid) });
      spec.onStarted?.(pid);
    },
    appendEnv: spec.env ?? [],
    userSpec: { user, groups: rec.spec.groupAdd ?? [] },
    ...(spec.privileged ? { addCapabilities: kernelCapabilities() } : {}),
    ...(spec.detach ? { detach: true, stdio: { stdin: 'ignore', stdout: 'ignore', stderr: 'ignore' } } : spec.stdio ? { stdio: spec.stdio } : {}),
  });
  if (result.exitCode !== undefined) ctx.containers.event('container', 'exec_die', rec.id, { name: rec.name, image: rec.imageRef, execID: String(result.pid), exitCode: String(result.exitCode) });
  return result;
}
