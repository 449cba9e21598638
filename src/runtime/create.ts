/**
 * create: everything that makes the container, up to its init waiting on the exec fifo.
 * Every resource has its owner record (state.json) written before it is made, and any
 * failure takes back what was made: no process, mount, cgroup or state is left.
 */
import { realpath } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { join, resolve, isAbsolute } from 'node:path';
import { BerthError, isErrno } from '../common/index.ts';
import { parseRuntimeConfig, validateSeccompSyscallNames, type RuntimeConfig, type HookName, type Resources } from '../oci/index.ts';
import { DEFAULT_DEVICE_RULES } from '../cgroups/index.ts';
import { encodePlan, type PlanStep } from '../native/protocol.ts';
import { checkSyscallNames } from '../native/syscalls.ts';
import { compilePlan, type CompiledPlan, type MonitorOptions } from './compile.ts';
import { runHooks } from './hooks.ts';
import { checkPreserveFds, spawnInit, type InitProcess, type ContainerStdio } from './init-process.ts';
import { readProcessInfo } from './process-info.ts';
import { STATE_VERSION, validateContainerId, type StoredState } from './state-store.ts';
import type { RuntimeContext } from './context.ts';
import { killAndWait } from './kill.ts';
import { containerStatus } from './status.ts';
import { normalizeCgroupPath } from '../cgroups/index.ts';
import { hostMountsBefore, releaseHostMounts } from './host-mounts.ts';
import { addLimitsView, limitsViewWanted, loadFuse, stopLimitsView, viewArgs, viewPaths } from './limits-view.ts';

export interface CreateOptions {
  bundleDir: string;
  /** The config to use instead of BUNDLE/config.json (crun's --config). */
  configPath?: string | undefined;
  /** Library callers that built the config (the engine): used as is, config.json not read.
   * Its seccomp syscall names are not checked against libseccomp's table (berth-init skips
   * names it does not know, as runc does). */
  config?: RuntimeConfig | undefined;
  /** Variables added to the process's env (systemd socket activation: LISTEN_FDS, LISTEN_PID). */
  extraEnv?: string[] | undefined;
  consoleSocket?: string | undefined;
  pidFile?: string | undefined;
  noPivot?: boolean | undefined;
  preserveFds?: number | undefined;
  /** Library callers: the fds that become the container's 3, 4, … (preserveFds defaults to
   * their count). Without them, this process's own 3 … 3+preserveFds-1 are passed, as runc does. */
  extraFds?: readonly number[] | undefined;
  /** berth-init stays the container's parent and exits with its status (used by `run`). */
  foreground?: boolean | undefined;
  /** fds the container gets as stdin/stdout/stderr (library callers; the CLI passes its own). */
  stdio?: ContainerStdio | undefined;
  /** berth-init stays as the container's monitor (the engine): its stdio, log, attach socket,
   * exit record and exit command. The container is created and left to it. */
  monitor?: MonitorOptions | undefined;
}

export interface CreateResult {
  pid: number;
  warnings: string[];
  init: InitProcess;
}

export async function loadBundleConfig(bundleDir: string, configFile?: string): Promise<RuntimeConfig> {
  const configPath = configFile ? resolve(configFile) : join(bundleDir, 'config.json');
  let text: string;
  try {
    text = readFileSync(configPath, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) {
      if (configFile) throw new BerthError('NOT_FOUND', `config ${configPath} does not exist`);
      throw new BerthError('NOT_FOUND', `no config.json in bundle ${bundleDir}`, { hint: 'create one with: berth-runtime spec --bundle DIR' });
    }
    throw err;
  }
  const config = parseRuntimeConfig(text, configPath);
  const seccomp = config.linux?.seccomp;
  if (seccomp?.syscalls?.length) {
    const names = [...new Set(seccomp.syscalls.flatMap((s) => s.names))];
    const unknown = checkSyscallNames(names);
    validateSeccompSyscallNames(config, new Set(names.filter((n) => !unknown.has(n))), configPath);
  }
  return config;
}

let rootIsRamfs: boolean | undefined;

/** pivot_root cannot leave an initramfs: fall back to MS_MOVE + chroot there, as runc does.
 * The host's root does not change under a running process: read once, not on every create. */
function isRootRamfs(): boolean {
  if (rootIsRamfs !== undefined) return rootIsRamfs;
  try {
    const line = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.split(' ')[4] === '/');
    const fstype = line?.split(' - ')[1]?.split(' ')[0];
    return (rootIsRamfs = fstype === 'rootfs' || fstype === 'ramfs');
  } catch {
    return false;
  }
}

export function defaultCgroupPath(id: string): string {
  return `/berth/${id}`;
}

/** Resources a rootless container cannot have without a delegated cgroup (devices are never
 * enforced rootless, as with runc). */
function hasLimits(config: RuntimeConfig): boolean {
  const { devices: _devices, ...limits } = config.linux?.resources ?? {};
  return Object.values(limits).some((v) => v !== undefined && v !== null && (typeof v !== 'object' || Object.keys(v).length > 0));
}

interface Prepared {
  /** '' when the container gets no cgroup of its own (rootless, no delegation). */
  cgroupPath: string;
  plan: CompiledPlan;
  /** The limits view (limits-view.ts): whether it is wanted, and whether it answers sysinfo. */
  view?: { sysinfo: boolean } | undefined;
}

/** The cgroup decision and the plan, shared by create and --explain. */
async function prepare(ctx: RuntimeContext, id: string, opts: CreateOptions, config: RuntimeConfig, bundleDir: string): Promise<Prepared> {
  const isRootless = process.getuid?.() !== 0;
  let cgroupPath = config.linux?.cgroupsPath || defaultCgroupPath(id);
  if (isRootless && !(await ctx.cgroups.canManage(cgroupPath))) {
    // as runc rootless: no cgroup unless one is delegated to us; limits without one are refused
    if (hasLimits(config)) {
      throw new BerthError('FAILED_PRECONDITION', 'linux.resources: a rootless container cannot have resource limits without a delegated cgroup', {
        hint: 'drop the limits from config.json, or run as root',
      });
    }
    cgroupPath = '';
  }
  const preview = cgroupPath ? await ctx.cgroups.preview(cgroupPath) : { entry: { joinFiles: [] }, hierarchies: [] };
  // the view shows the container's cgroup: none without one (rootless, no delegation)
  const paths = viewPaths(ctx.store.containerDir(id));
  const view = limitsViewWanted(config) && cgroupPath ? { sysinfo: addLimitsView(config, paths) } : undefined;
  if (view) loadFuse();
  const plan = compilePlan(config, {
    seccompCache: ctx.seccompCache,
    containerId: id,
    bundleDir,
    startSocketPath: ctx.store.startSocketPath(id),
    cgroupEntry: preview.entry,
    cgroupHierarchies: preview.hierarchies,
    consoleSocket: opts.consoleSocket ? resolve(opts.consoleSocket) : undefined,
    noPivot: opts.noPivot,
    relayConsole: opts.foreground === true && !opts.consoleSocket,
    preserveFds: opts.preserveFds ?? opts.extraFds?.length,
    view: view && viewArgs(await ctx.cgroups.viewSources(cgroupPath), paths, view.sysinfo),
    monitor: opts.monitor && { ...opts.monitor, oomFile: opts.monitor.oomFile ?? (cgroupPath ? await ctx.cgroups.oomCounterFile(cgroupPath) : '') },
    isRootless,
    isRootRamfs: isRootRamfs(),
  });
  return { cgroupPath, plan, view };
}

/** Compiles the plan for a bundle without running anything (for --explain). */
export async function planFor(ctx: RuntimeContext, id: string, opts: CreateOptions): Promise<{ config: RuntimeConfig; plan: CompiledPlan }> {
  validateContainerId(id);
  const bundleDir = resolve(opts.bundleDir);
  const config = opts.config ? structuredClone(opts.config) : await loadBundleConfig(bundleDir, opts.configPath);
  const { plan } = await prepare(ctx, id, opts, config, bundleDir);
  return { config, plan };
}

export async function createContainer(ctx: RuntimeContext, id: string, opts: CreateOptions): Promise<CreateResult> {
  // the id names directories: it is checked before anything is derived from it
  validateContainerId(id);
  checkPreserveFds(opts.preserveFds, opts.extraFds);
  const bundleDir = await realpath(resolve(opts.bundleDir)).catch((err: unknown) => {
    if (isErrno(err, 'ENOENT')) throw new BerthError('NOT_FOUND', `bundle directory ${opts.bundleDir} does not exist`);
    throw err;
  });
  // everything that can be refused is refused before anything is created
  const config = opts.config ? structuredClone(opts.config) : await loadBundleConfig(bundleDir, opts.configPath);
  if (opts.extraEnv?.length && config.process) config.process.env = [...(config.process.env ?? []), ...opts.extraEnv];
  if (config.process?.terminal && !opts.consoleSocket && !opts.foreground && !opts.monitor) {
    throw new BerthError('INVALID_ARGUMENT', 'process.terminal is true but no --console-socket was given', {
      hint: 'pass --console-socket, run it in the foreground (berth-runtime run), or set process.terminal to false in config.json',
    });
  }
  if (opts.consoleSocket && !config.process?.terminal) {
    throw new BerthError('INVALID_ARGUMENT', '--console-socket was given but process.terminal is false in config.json');
  }
  const rootfsDir = isAbsolute(config.root!.path) ? config.root!.path : resolve(bundleDir, config.root!.path);
  const { cgroupPath, plan, view } = await prepare(ctx, id, opts, config, bundleDir);

  const state: StoredState = {
    version: STATE_VERSION,
    id,
    bundle: bundleDir,
    rootfs: rootfsDir,
    pid: 0,
    pidStartTime: '',
    phase: 'creating',
    created: new Date().toISOString(),
    cgroupPath,
    // not the container's until it made it (a failed create never destroys a cgroup it found)
    cgroupOwned: false,
    annotations: config.annotations ?? {},
    config,
    // recorded before it is made (its keeper's pid comes with the container's, in onPid's write:
    // a berth-init killed in between closes the view's control socket, and the view ends itself)
    view: view && { ...viewPaths(ctx.store.containerDir(id)), pid: 0, pidStartTime: '', sysinfo: view.sysinfo },
    // no mount namespace of its own: its mounts land in the caller's, and are taken down at delete
    hostMounts: plan.mountsInCaller ? hostMountsBefore(await resolvedRoot(rootfsDir)) : undefined,
  };
  await ctx.store.claim(state);
  let init: InitProcess | undefined;
  try {
    // the devices every container needs stay usable after the config's own rules (as runc does)
    const resources = { ...config.linux?.resources, devices: [...(config.linux?.resources?.devices ?? []), ...DEFAULT_DEVICE_RULES.slice(1)] };
    const warnings = [...plan.warnings];
    if (cgroupPath) {
      const found = await checkCgroupFree(ctx, id, cgroupPath);
      warnings.push(...found.warnings);
      // recorded before it is made: a runtime killed right after the mkdir leaves a cgroup
      // that delete --force removes
      if (found.owned) {
        state.cgroupOwned = true;
        await ctx.store.write(state);
      }
      warnings.push(...(await ctx.cgroups.create(cgroupPath, resources as Resources)).warnings);
    } else {
      warnings.push('no cgroup: rootless, and no cgroup is delegated to this user');
    }
    init = spawnInit({
      plan: encodePlan(plan.steps),
      foreground: opts.foreground === true,
      preserveFds: opts.preserveFds ?? opts.extraFds?.length ?? 0,
      extraFds: opts.extraFds,
      stdio: opts.stdio,
      launcher: ctx.launcher,
      monitor: opts.monitor !== undefined,
      handlers: {
        onPid: async (pid, viewPid) => {
          if (state.view && viewPid) state.view = { ...state.view, pid: viewPid, pidStartTime: readProcessInfo(viewPid)?.startTime ?? '' };
          state.pid = pid;
          state.pidStartTime = readProcessInfo(pid)?.startTime ?? '';
          await ctx.store.write(state);
        },
        onHooks: async () => {
          const oci = ctx.store.ociState(state, 'creating');
          for (const phase of ['prestart', 'createRuntime'] as HookName[]) await runHooks(phase, config.hooks?.[phase], oci, bundleDir);
          return JSON.stringify(ctx.store.ociState(state, 'creating'));
        },
      },
    });
    await init.ready;
    state.phase = 'created';
    await ctx.store.write(state);
    if (opts.monitor) {
      init.release();
    } else if (!opts.foreground) {
      const status = await init.exited;
      if (status !== 0) throw new BerthError('INTERNAL', `berth-init exited with status ${status} after the container was created`);
    }
    if (opts.pidFile) {
      const { writeFileAtomic } = await import('../common/index.ts');
      await writeFileAtomic(resolve(opts.pidFile), String(state.pid));
    }
    return { pid: state.pid, init, warnings };
  } catch (err) {
    const why = await explainSetupDeath(ctx, state, err);
    await undoCreate(ctx, state, init);
    throw why;
  }
}

/** The root's real path (mountinfo shows real paths), or a clear error when there is none. */
async function resolvedRoot(rootfsDir: string): Promise<string> {
  return realpath(rootfsDir).catch((err: unknown) => {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) throw new BerthError('NOT_FOUND', `root.path: ${rootfsDir} does not exist`, { hint: 'unpack the root filesystem there, or fix root.path in config.json' });
    throw err;
  });
}

/** A process killed during set-up says nothing itself: when the OOM killer did it, say so. */
async function explainSetupDeath(ctx: RuntimeContext, state: StoredState, err: unknown): Promise<unknown> {
  if (!(err instanceof BerthError) || err.code !== 'UNAVAILABLE' || !/killed by SIGKILL/.test(err.message) || !state.cgroupPath) return err;
  const kills = await ctx.cgroups.oomKillCount(state.cgroupPath).catch(() => 0);
  if (kills === 0) return err;
  const limit = state.config.linux?.resources?.memory?.limit;
  return new BerthError('FAILED_PRECONDITION', `the container's process was killed by the OOM killer during set-up${limit !== undefined ? ` (memory limit ${limit} bytes)` : ''}`, {
    hint: 'raise linux.resources.memory.limit',
    cause: err,
  });
}

async function undoCreate(ctx: RuntimeContext, state: StoredState, init: InitProcess | undefined): Promise<void> {
  if (init && !init.hasExited()) init.kill('SIGKILL');
  if (state.pid > 0) await killAndWait(state.pid, state.pidStartTime).catch(() => {});
  if (init) await init.exited;
  if (state.cgroupPath && state.cgroupOwned !== false) await ctx.cgroups.destroy(state.cgroupPath).catch(() => {});
  if (state.view) stopLimitsView(state.view);
  if (state.hostMounts) releaseHostMounts(state.hostMounts);
  await ctx.store.remove(state.id);
}

/**
 * A cgroup that already holds processes is not this container's: another container's is refused
 * (its limits would change, and its delete would take this one along), one of anything else is
 * used with a warning, as runc does. A frozen one would freeze the container's set-up forever.
 */
async function checkCgroupFree(ctx: RuntimeContext, id: string, cgroupPath: string): Promise<{ warnings: string[]; owned: boolean }> {
  const found = await ctx.cgroups.inspect(cgroupPath);
  if (!found.exists) return { warnings: [], owned: true };
  if (found.frozen) {
    throw new BerthError('FAILED_PRECONDITION', `linux.cgroupsPath: the container's cgroup unexpectedly frozen (${cgroupPath}): a container made in it could never start`, {
      hint: 'thaw it first (berth-runtime resume, or write THAWED / 0 to its freezer file)',
    });
  }
  if (found.pids.length === 0) return { warnings: [], owned: true };
  const normalized = normalizeCgroupPath(cgroupPath);
  for (const other of await ctx.store.list()) {
    if (other === id) continue;
    const state = await ctx.store.read(other).catch(() => undefined);
    if (!state?.cgroupPath || normalizeCgroupPath(state.cgroupPath) !== normalized) continue;
    if ((await containerStatus(ctx, state)) === 'stopped') continue;
    throw new BerthError('CONFLICT', `linux.cgroupsPath: cgroup ${cgroupPath} is the cgroup of container "${other}"`, {
      hint: 'give each container a cgroup of its own (or leave cgroupsPath out: berth uses /berth/<id>)',
    });
  }
  return {
    warnings: [`the container's cgroup is not empty: ${cgroupPath} already holds processes (${found.pids.slice(0, 5).join(', ')}${found.pids.length > 5 ? ', …' : ''}); they share the container's limits, and berth will not kill them, nor remove the cgroup`],
    owned: false,
  };
}

export type { PlanStep };
