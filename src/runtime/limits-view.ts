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
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, rmdirSync, rmSync, writeSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { BerthError } from '../common/index.ts';
import { staticInitBinaryPath, initBinaryPath } from '../native/index.ts';
import { posixSpawn, socketPair } from '../native/spawn.ts';
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
    options: ['bind', 'ro', 'nosuid', 'nodev', 'noexec'],
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

/** A view started for a container being created. */
export interface StartedView {
  pid: number;
  pidStartTime: string;
  /** The container's init is known: the view ends with it. */
  attach(initPid: number): void;
  /** The create failed: the view unmounts itself and ends. */
  cancel(): void;
}

export function viewArgs(sources: ViewSources, paths: ViewPaths, sysinfo: boolean): string[] {
  const args = ['view', '--dir', paths.dir, '--cgroup-version', String(sources.version)];
  if (sysinfo) args.push('--socket', paths.socket);
  for (const d of sources.memory) args.push('--memory', d);
  for (const d of sources.cpu) args.push('--cpu', d);
  for (const d of sources.cpuset) args.push('--cpuset', d);
  if (sources.cpuacct) args.push('--cpuacct', sources.cpuacct);
  if (sources.blkio) args.push('--blkio', sources.blkio);
  if (sources.tasks) args.push('--tasks', sources.tasks);
  return args;
}

/** Starts the view (the static berth-init: it lives as long as the container, and its memory
 * is only the pages it touches) and waits until its filesystem is mounted. */
export function startLimitsView(sources: ViewSources, paths: ViewPaths, sysinfo: boolean): StartedView {
  loadFuse();
  mkdirSync(paths.dir, { recursive: true, mode: 0o711 });
  const [ours, theirs] = socketPair();
  let devNull: number | undefined;
  let child;
  try {
    devNull = openDevNull();
    // fd 2 and 3 are the socket: an error before "ready" reaches us as text
    child = posixSpawn(staticInitBinaryPath(), ['berth-init', ...viewArgs(sources, paths, sysinfo)], { fds: [devNull, devNull, theirs, theirs], setsid: true });
  } catch (err) {
    closeSync(ours);
    throw err;
  } finally {
    closeSync(theirs);
    if (devNull !== undefined) closeSync(devNull);
  }
  child.unref();
  let said = '';
  const buf = Buffer.alloc(512);
  while (!said.includes('\n')) {
    const n = readSync(ours, buf);
    if (n <= 0) break;
    said += buf.subarray(0, n).toString('utf8');
  }
  if (!said.startsWith('ready\n')) {
    closeSync(ours);
    removeDir(paths.dir);
    throw new BerthError('FAILED_PRECONDITION', `the limits view could not start: ${said.trim().replace(/^berth-init view: /, '') || 'berth-init view ended'}`, {
      hint: 'run the container with --limits-view=false (or without the io.berth.limits-view annotation)',
    });
  }
  let open = true;
  const close = (text: string) => {
    if (!open) return;
    open = false;
    try {
      if (text) writeSync(ours, text);
    } finally {
      closeSync(ours);
    }
  };
  return {
    pid: child.pid,
    pidStartTime: readProcessInfo(child.pid)?.startTime ?? '',
    attach: (initPid) => close(`${initPid}\n`),
    cancel: () => close(''),
  };
}

let fuseChecked = false;

/** FUSE is a module on most distributions' kernels: loaded when /dev/fuse is not there yet (as
 * docker loads overlay and br_netfilter). */
function loadFuse(): void {
  if (fuseChecked || existsSync('/dev/fuse')) return;
  fuseChecked = true;
  spawnSync('modprobe', ['fuse'], { stdio: 'ignore' });
}

function openDevNull(): number {
  return openSync('/dev/null', 'r+');
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

/** Whether `dir` is a mount point (a dead FUSE mount answers ENOTCONN: mounted too). */
export function isMounted(dir: string): boolean {
  try {
    const line = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.split(' ')[4] === dir);
    return line !== undefined;
  } catch {
    return false;
  }
}

/** Ends a container's view: its keeper and server, and its mount (idempotent). */
export function stopLimitsView(view: ViewRecord): void {
  if (viewKeeperAlive(view)) {
    // the keeper's children are its servers: they go with it (a server left alone ends when
    // its filesystem is unmounted below)
    try {
      process.kill(view.pid, 'SIGKILL');
    } catch {
      // ended meanwhile
    }
  }
  if (isMounted(view.dir)) spawnSync('umount', ['-l', view.dir], { stdio: 'ignore' });
  removeDir(view.dir);
  rmSync(view.socket, { force: true });
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

function removeDir(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    // gone, or still mounted somewhere: `berth system check` finds it
  }
}
