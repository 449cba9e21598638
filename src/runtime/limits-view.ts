/**
 * The limits view: a container's /proc/meminfo, cpuinfo, stat, uptime, loadavg, swaps,
 * diskstats, /sys/devices/system/cpu/online and sysinfo(2) show its own cgroup's limits and
 * usage, so free, top, nproc and uptime tell the truth inside it.
 *
 * One `berth-init view` per container (native/view.c), started before the container and ending
 * with it: a FUSE filesystem mounted in the container's state directory, whose files are bound
 * over the kernel's; and the seccomp listener (linux.seccomp.listenerPath) that answers
 * sysinfo(2). No daemon is shared: a view that fails touches one container, its keeper starts
 * the server again, and `berth-init view-off` unmounts the files of a view that is gone, so the
 * container reads the kernel's files again.
 *
 * Turned on by the annotation io.berth.limits-view=true (`berth run` sets it unless
 * --limits-view=false); a container without a cgroup of its own gets no view.
 */
import { existsSync, mkdirSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { BerthError, signalProcess } from '../common/index.ts';
import { staticInitBinaryPath, initBinaryPath } from '../native/index.ts';
import { detachMount } from '../native/sys.ts';
import type { Mount, RuntimeConfig, SeccompSyscall } from '../oci/index.ts';
import { isSameLiveProcess, readProcessInfo } from './process-info.ts';

export const LIMITS_VIEW_ANNOTATION = 'io.berth.limits-view';

/** The view's files and where each is bound in the container. */
export const VIEW_FILES: ReadonlyArray<readonly [file: string, target: string]> = [
  ['meminfo', '/proc/meminfo'],
  ['cpuinfo', '/proc/cpuinfo'],
  ['stat', '/proc/stat'],
  ['uptime', '/proc/uptime'],
  ['loadavg', '/proc/loadavg'],
  ['swaps', '/proc/swaps'],
  ['diskstats', '/proc/diskstats'],
  ['cpu-online', '/sys/devices/system/cpu/online'],
];

/** The cgroup files the view reads: each list starts at the container's cgroup and goes up to
 * the hierarchy's root (the tightest limit counts, as the kernel enforces it). */
export interface ViewSources {
  version: 1 | 2;
  memory: string[];
  cpu: string[];
  cpuset: string[];
  /** The directory with cpuacct.usage_percpu* (v1) or cpu.stat (v2). */
  cpuacct?: string | undefined;
  /** The directory with blkio.throttle.* (v1) or io.stat (v2). */
  blkio?: string | undefined;
  /** The file listing the container's threads (v1 tasks, v2 cgroup.threads). */
  tasks?: string | undefined;
}

export interface ViewPaths {
  dir: string;
  socket: string;
}

/** What the state records of a container's view: its keeper, to end it, and its mount. */
export interface ViewRecord extends ViewPaths {
  pid: number;
  pidStartTime: string;
  /** Whether sysinfo(2) is answered (the config had a seccomp filter to add it to). */
  sysinfo: boolean;
}

export function viewPaths(containerDir: string): ViewPaths {
  return { dir: join(containerDir, 'view'), socket: join(containerDir, 'view.sock') };
}

export function limitsViewWanted(config: RuntimeConfig): boolean {
  const value = config.annotations?.[LIMITS_VIEW_ANNOTATION];
  if (value === undefined || value === 'false') return false;
  if (value === 'true') return true;
  throw new BerthError('INVALID_ARGUMENT', `annotations: ${LIMITS_VIEW_ANNOTATION} must be "true" or "false", not ${JSON.stringify(value)}`);
}

const ALLOWING = new Set(['SCMP_ACT_ALLOW', 'SCMP_ACT_LOG']);

/** Whether the filter lets sysinfo(2) through (only then is it answered by the view: a profile
 * that refuses it keeps refusing it). */
function filterAllowsSysinfo(rules: readonly SeccompSyscall[], defaultAction: string): boolean {
  const named = rules.filter((r) => r.names.includes('sysinfo'));
  if (named.length === 0) return ALLOWING.has(defaultAction);
  return named.some((r) => ALLOWING.has(r.action) && !r.args?.length);
}

/**
 * Adds the view to a config: the bind mounts over the kernel's files, and sysinfo(2) sent to the
 * view's listener when the config has a seccomp filter that allows it and no listener of its own
 * (a filter is never added to a container that has none). Returns whether sysinfo is answered.
 */
export function addLimitsView(config: RuntimeConfig, paths: ViewPaths): boolean {
  const binds: Mount[] = VIEW_FILES.map(([file, target]) => ({
    destination: target,
    type: 'bind',
    source: join(paths.dir, file),
    // no remount: a bind keeps the flags of the view's mount (ro, nosuid, nodev, noexec)
    options: ['bind'],
  }));
  config.mounts = [...(config.mounts ?? []), ...binds];
  const seccomp = config.linux?.seccomp;
  if (!seccomp || seccomp.listenerPath || !filterAllowsSysinfo(seccomp.syscalls ?? [], seccomp.defaultAction)) return false;
  const syscalls = (seccomp.syscalls ?? []).map((r) => ({ ...r, names: r.names.filter((n) => n !== 'sysinfo') })).filter((r) => r.names.length > 0);
  syscalls.push({ names: ['sysinfo'], action: 'SCMP_ACT_NOTIFY' });
  config.linux!.seccomp = { ...seccomp, syscalls, listenerPath: paths.socket };
  return true;
}

/** The config as if the view had never been added to its seccomp filter: sysinfo(2) allowed
 * again (it was allowed before), and no listener (for processes exec'd after the view is gone). */
export function withoutLimitsView(config: RuntimeConfig, paths: ViewPaths): RuntimeConfig {
  const seccomp = config.linux?.seccomp;
  if (!seccomp || seccomp.listenerPath !== paths.socket) return config;
  const syscalls = (seccomp.syscalls ?? []).map((r) => (r.action === 'SCMP_ACT_NOTIFY' && r.names.length === 1 && r.names[0] === 'sysinfo' ? { ...r, action: 'SCMP_ACT_ALLOW' as const } : r));
  const { listenerPath: _gone, ...rest } = seccomp;
  return { ...config, linux: { ...config.linux, seccomp: { ...rest, syscalls } } };
}

/** Whether the view's keeper (which starts its servers) still runs. */
export function viewKeeperAlive(view: ViewRecord): boolean {
  return isSameLiveProcess(view.pid, view.pidStartTime);
}

export function viewArgs(sources: ViewSources, paths: ViewPaths, sysinfo: boolean): string[] {
  const args = ['--dir', paths.dir, '--cgroup-version', String(sources.version)];
  if (sysinfo) args.push('--socket', paths.socket);
  for (const d of sources.memory) args.push('--memory', d);
  for (const d of sources.cpu) args.push('--cpu', d);
  for (const d of sources.cpuset) args.push('--cpuset', d);
  if (sources.cpuacct) args.push('--cpuacct', sources.cpuacct);
  if (sources.blkio) args.push('--blkio', sources.blkio);
  if (sources.tasks) args.push('--tasks', sources.tasks);
  return args;
}

/** Whether this host can serve a view (/dev/fuse, after loading the module if need be). */
export function fuseAvailable(): boolean {
  loadFuse();
  return existsSync('/dev/fuse');
}

let fuseChecked = false;

/** FUSE is a module on most distributions' kernels: loaded when /dev/fuse is not there yet (as
 * docker loads overlay and br_netfilter). */
export function loadFuse(): void {
  if (fuseChecked || existsSync('/dev/fuse')) return;
  fuseChecked = true;
  spawnSync('modprobe', ['fuse'], { stdio: 'ignore' });
}


/** The mount points of views under `root` (fuse.berth-view). */
export function viewMounts(root: string): string[] {
  try {
    return readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .filter((l) => l.includes(' - fuse.berth-view '))
      .map((l) => l.split(' ')[4]!.replace(/\\040/g, ' '))
      .filter((m) => m.startsWith(`${root}/`));
  } catch {
    return [];
  }
}

/** Ends a container's view: its keeper (which unmounts it and stops its server) and its mount
 * (idempotent; usually the keeper ended with the container's init already). */
export function stopLimitsView(view: ViewRecord): void {
  const alive = viewKeeperAlive(view);
  if (alive) {
    try {
      signalProcess(view.pid, 'SIGTERM');
    } catch {
      // ended meanwhile
    }
  }
  if (!removeDir(view.dir)) {
    // still mounted: its keeper unmounts it in a moment, or is gone (killed with its server)
    for (let i = 0; alive && i < 100 && isSameLiveProcess(view.pid, view.pidStartTime); i++) sleepMs(2);
    if (!removeDir(view.dir)) {
      detachMount(view.dir);
      removeDir(view.dir);
    }
  }
  rmSync(view.socket, { force: true });
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));
function sleepMs(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}

/** A running container whose view is gone: its files are unmounted inside the container, so
 * that reads get the kernel's files (the host's figures) instead of ENOTCONN. */
export function viewOff(initPid: number): void {
  const r = spawnSync(initBinaryPath(), ['view-off', String(initPid), ...VIEW_FILES.map(([, target]) => target)], { encoding: 'utf8' });
  if (r.status !== 0) throw new BerthError('INTERNAL', `could not turn off the limits view of process ${initPid}: ${(r.stderr || r.error?.message || '').trim()}`);
}

/** Whether a view still serves: its files answer (a dead one answers ENOTCONN; a killed server
 * is replaced by its keeper within a second, and the read waits for it). */
export function viewServes(view: ViewPaths): boolean {
  try {
    readFileSync(join(view.dir, 'uptime'));
    return true;
  } catch {
    return false;
  }
}

/** rmdir: false while something is mounted on it (EBUSY). */
function removeDir(dir: string): boolean {
  try {
    rmdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EBUSY') return false;
  }
  return true;
}
