/**
 * exec: run another process in a running (or created) container, as `runc exec` does: same
 * namespaces and cgroups, the container's seccomp filter, the process's own user,
 * capabilities and limits.
 */
import { resolve } from 'node:path';
import { BerthError, writeFileAtomic } from '../common/index.ts';
import { validateProcess, type Process } from '../oci/index.ts';
import { encodePlan } from '../native/protocol.ts';
import type { RuntimeContext } from './context.ts';
import { containerStatus } from './status.ts';
import { compileExecPlan } from './compile-exec.ts';
import { checkPreserveFds, spawnInit, type ContainerStdio } from './init-process.ts';
import { explainPlan } from './explain.ts';

export interface ExecOptions {
  /** The process (OCI `process` object); fields not given come from the container's own. */
  process: Partial<Process> & { args: string[] };
  /** Capabilities added to the bounding, effective and permitted sets (runc exec --cap). */
  addCapabilities?: string[] | undefined;
  consoleSocket?: string | undefined;
  pidFile?: string | undefined;
  detach?: boolean | undefined;
  preserveFds?: number | undefined;
  /** Library callers: the fds that become the container's 3, 4, … (preserveFds defaults to
   * their count). Without them, this process's own 3 … 3+preserveFds-1 are passed, as runc does. */
  extraFds?: readonly number[] | undefined;
  stdio?: ContainerStdio | undefined;
}

export interface ExecResult {
  pid: number;
  /** What the process gets differently from what was asked (e.g. unknown capabilities skipped). */
  warnings: string[];
  /** The process's exit status; undefined when detached. */
  exitCode?: number;
}

async function prepare(ctx: RuntimeContext, id: string, opts: ExecOptions) {
  checkPreserveFds(opts.preserveFds, opts.extraFds);
  const state = await ctx.store.read(id);
  const status = await containerStatus(ctx, state);
  if (status !== 'running' && status !== 'created') {
    throw new BerthError('FAILED_PRECONDITION', `cannot exec in container "${id}": it is ${status}`);
  }
  const base = state.config.process;
  const merged = {
    ...base,
    ...opts.process,
    user: opts.process.user ?? base?.user ?? { uid: 0, gid: 0 },
    cwd: opts.process.cwd ?? base?.cwd ?? '/',
    env: opts.process.env ?? base?.env ?? [],
  };
  if (opts.addCapabilities?.length) {
    const caps = merged.capabilities ?? {};
    const plus = (set: string[] | undefined) => [...new Set([...(set ?? []), ...opts.addCapabilities!])];
    merged.capabilities = { ...caps, bounding: plus(caps.bounding), effective: plus(caps.effective), permitted: plus(caps.permitted) };
  }
  // the same rules as config.json: errors name the field
  const process = validateProcess(merged, 'exec process');
  if (process.terminal && !opts.consoleSocket && opts.detach) {
    throw new BerthError('INVALID_ARGUMENT', 'a detached exec with a terminal needs --console-socket');
  }
  const { entry } = state.cgroupPath ? await ctx.cgroups.preview(state.cgroupPath) : { entry: { joinFiles: [] } };
  const { steps, warnings } = compileExecPlan(state.config, process, {
    pid: state.pid,
    cgroupEntry: entry,
    seccompState: { id, status: 'running', bundle: state.bundle, annotations: state.annotations },
    consoleSocket: opts.consoleSocket ? resolve(opts.consoleSocket) : undefined,
    relayConsole: !opts.detach && !opts.consoleSocket,
    preserveFds: opts.preserveFds ?? opts.extraFds?.length,
  });
  return { steps, warnings };
}

export async function explainExec(ctx: RuntimeContext, id: string, opts: ExecOptions): Promise<string> {
  const { steps } = await prepare(ctx, id, opts);
  return explainPlan(steps, `exec plan for container ${JSON.stringify(id)}: ${steps.length} steps`);
}

export async function execInContainer(ctx: RuntimeContext, id: string, opts: ExecOptions): Promise<ExecResult> {
  const { steps, warnings } = await prepare(ctx, id, opts);
  let pid = 0;
  const init = spawnInit({
    plan: encodePlan(steps),
    foreground: !opts.detach,
    preserveFds: opts.preserveFds ?? opts.extraFds?.length ?? 0,
    extraFds: opts.extraFds,
    stdio: opts.stdio,
    launcher: ctx.launcher,
    handlers: {
      onPid: async (p) => {
        pid = p;
      },
      onHooks: async () => {
        throw new BerthError('INTERNAL', 'exec plans have no hooks');
      },
    },
  });
  try {
    await init.ready;
  } catch (err) {
    await init.exited;
    throw err;
  }
  if (opts.pidFile) await writeFileAtomic(resolve(opts.pidFile), String(pid));
  const status = await init.exited;
  if (opts.detach) {
    if (status !== 0) throw new BerthError('INTERNAL', `berth-init exited with status ${status} after the process started`);
    return { pid, warnings };
  }
  const late = init.lateError();
  if (late) throw late;
  return { pid, exitCode: status, warnings };
}
