/**
 * exec: run another process in a running (or created) container, as `runc exec` does: same
 * namespaces and cgroups, the container's seccomp filter, the process's own user,
 * capabilities and limits.
 */
import { viewKeeperAlive, withoutLimitsView } from './limits-view.ts';
import { existsSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { CgroupEntry } from './compile.ts';
import { BerthError, writeFileAtomic } from '../common/index.ts';
import { validateProcess, type Process } from '../oci/index.ts';
import { encodePlan } from '../native/protocol.ts';
import type { RuntimeContext } from './context.ts';
import { containerStatus } from './status.ts';
import { compileExecPlan } from './compile-exec.ts';
import { checkUserSpec, type UserSpec } from './compile-process.ts';
import { checkPreserveFds, spawnInit, type ContainerStdio } from './init-process.ts';
import { explainPlan } from './explain.ts';

export interface ExecOptions {
  /** The process (OCI `process` object); fields not given come from the container's own. */
  process: Partial<Process> & { args: string[] };
  /** Variables added to the process's env (runc exec --env: after the container's own). */
  appendEnv?: string[] | undefined;
  /** Exec into a paused container too (runc --ignore-paused). */
  ignorePaused?: boolean | undefined;
  /** Existing sub-cgroups of the container's to run in: "PATH" or "CONTROLLER[,…]:PATH" (runc
   * exec --cgroup). */
  subCgroups?: string[] | undefined;
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
  /** A user named as docker names one, looked up in the container (docker exec --user). */
  userSpec?: UserSpec | undefined;
  /** Called once the process runs (its pid as the host sees it), before it ends. */
  onStarted?: ((pid: number) => void) | undefined;
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
  if (status !== 'running' && status !== 'created' && !(status === 'paused' && opts.ignorePaused)) {
    if (status === 'paused') throw new BerthError('FAILED_PRECONDITION', `cannot exec in a paused container "${id}" (use --ignore-paused to override)`, { hint: 'resume it, or pass --ignore-paused' });
    throw new BerthError('FAILED_PRECONDITION', `cannot exec in container "${id}": it is ${status}`);
  }
  const base = state.config.process;
  const merged = {
    ...base,
    // a terminal only when the exec asks for one (-t, or its --process), never config.json's
    terminal: false,
    ...opts.process,
    user: opts.process.user ?? base?.user ?? { uid: 0, gid: 0 },
    cwd: opts.process.cwd ?? base?.cwd ?? '/',
    env: mergeEnv(opts.process.env ?? base?.env ?? [], opts.appendEnv ?? []),
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
  const entry = state.cgroupPath ? await execCgroupEntry(ctx, state.cgroupPath, opts.subCgroups ?? []) : { joinFiles: [] };
  // a view that is gone answers no sysinfo(2): the process gets the kernel's (and no listener)
  const config = state.view && !viewKeeperAlive(state.view) ? withoutLimitsView(state.config, state.view) : state.config;
  const { steps, warnings } = compileExecPlan(config, process, {
    seccompCache: ctx.seccompCache,
    pid: state.pid,
    cgroupEntry: entry,
    seccompState: { id, status: 'running', bundle: state.bundle, annotations: state.annotations },
    consoleSocket: opts.consoleSocket ? resolve(opts.consoleSocket) : undefined,
    relayConsole: !opts.detach && !opts.consoleSocket,
    preserveFds: opts.preserveFds ?? opts.extraFds?.length,
    userSpec: opts.userSpec ? checkUserSpec(opts.userSpec) : undefined,
  });
  return { steps, warnings };
}

/** `extra` after `env`, a variable given in both taking extra's value (runc exec --env). */
function mergeEnv(env: string[], extra: string[]): string[] {
  const names = new Set(extra.map((e) => e.slice(0, e.indexOf('='))));
  return [...env.filter((e) => !names.has(e.slice(0, e.indexOf('=')))), ...extra];
}

/** Where an exec'd process enters the container's cgroups: the container's own, or, for
 * --cgroup, existing sub-cgroups of it (per controller on cgroup v1). */
async function execCgroupEntry(ctx: RuntimeContext, cgroupPath: string, specs: string[]): Promise<CgroupEntry> {
  const own = (await ctx.cgroups.preview(cgroupPath)).entry;
  if (specs.length === 0) return own;
  const sub = async (given: string) => {
    // as runc: a path below the container's cgroup, "/" being the container's own
    const rel = given.replace(/^\/+/, '').replace(/\/+$/, '');
    if (rel.split('/').includes('..') || given === '') {
      throw new BerthError('INVALID_ARGUMENT', `--cgroup: ${given} is not a sub cgroup path (a path below the container's cgroup, without "..")`);
    }
    if (rel === '') return own;
    const path = join(cgroupPath, rel);
    if (!(await ctx.cgroups.inspect(path)).exists) {
      // runc's words: the process could not be added to a cgroup that is not there
      const ownDir = own.cloneInto ?? (own.joinFiles[0] ? own.joinFiles[0].slice(0, own.joinFiles[0].lastIndexOf('/')) : undefined);
      const dir = ownDir === undefined ? path : `${ownDir}/${rel}`;
      throw new BerthError('NOT_FOUND', `--cgroup: adding pid to cgroups: open ${dir}/cgroup.procs: no such file or directory (cgroup ${path} does not exist)`, { hint: 'create the sub-cgroup first' });
    }
    return (await ctx.cgroups.preview(path)).entry;
  };
  const whole = specs.filter((s) => !s.includes(':'));
  const perController = specs.filter((s) => s.includes(':')).map((s) => ({ controllers: s.slice(0, s.indexOf(':')).split(','), rel: s.slice(s.indexOf(':') + 1) }));
  if (whole.length > 1) throw new BerthError('INVALID_ARGUMENT', `--cgroup: more than one path for every controller (${whole.join(', ')})`);
  const hierarchyOf = (file: string) => file.split('/')[4] ?? '';
  const v1 = own.joinFiles.filter((f) => f.endsWith('/tasks'));
  const known = new Set(v1.flatMap((f) => hierarchyOf(f).split(',').map((c) => c.replace(/^name=/, ''))));
  for (const { controllers } of v1.length ? perController : []) {
    const unknown = controllers.find((c) => !known.has(c));
    if (unknown !== undefined) throw new BerthError('INVALID_ARGUMENT', `--cgroup: unknown controller ${JSON.stringify(unknown)} (this host's: ${[...known].sort().join(', ')})`);
  }
  let entry = whole.length ? await sub(whole[0]!) : own;
  if (!own.joinFiles.some((f) => f.endsWith('/tasks'))) {
    // cgroup v2: one hierarchy, one path
    const paths = new Set(perController.map((p) => p.rel));
    if (paths.size > 1 || (paths.size === 1 && whole.length && !paths.has(whole[0]!))) {
      throw new BerthError('INVALID_ARGUMENT', '--cgroup: cgroup v2 has one hierarchy: every controller must name the same path');
    }
    return paths.size === 1 ? sub([...paths][0]!) : entry;
  }
  // per controller (v1): the sub-cgroup need exist only in the hierarchies it names
  for (const { controllers, rel: given } of perController) {
    const rel = given.replace(/^\/+/, '').replace(/\/+$/, '');
    if (rel.split('/').includes('..')) throw new BerthError('INVALID_ARGUMENT', `--cgroup: ${given} is not a sub cgroup path (a path below the container's cgroup, without "..")`);
    const matches = (file: string) => hierarchyOf(file).split(',').some((c) => controllers.includes(c) || controllers.includes(c.replace(/^name=/, '')));
    if (!own.joinFiles.some(matches)) throw new BerthError('INVALID_ARGUMENT', `--cgroup: no cgroup v1 hierarchy for ${controllers.join(',')}`);
    entry = {
      ...entry,
      joinFiles: entry.joinFiles.map((f, i) => {
        const mine = own.joinFiles[i]!;
        if (!matches(mine) || rel === '') return matches(mine) ? mine : f;
        const dir = join(dirname(mine), rel);
        if (!existsSync(dir)) {
          // runc's words: the process could not be added to a cgroup that is not there
          throw new BerthError('NOT_FOUND', `--cgroup: adding pid to cgroups: open ${dir}/cgroup.procs: no such file or directory (cgroup ${join(cgroupPath, rel)} does not exist in ${hierarchyOf(mine)})`, { hint: 'create the sub-cgroup first' });
        }
        return join(dir, basename(mine));
      }),
    };
  }
  return entry;
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
  opts.onStarted?.(pid);
  const status = await init.exited;
  if (opts.detach) {
    if (status !== 0) throw new BerthError('INTERNAL', `berth-init exited with status ${status} after the process started`);
    return { pid, warnings };
  }
  const late = init.lateError();
  if (late) throw late;
  return { pid, exitCode: status, warnings };
}
