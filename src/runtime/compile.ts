/**
 * compile: a validated OCI config becomes the plan berth-init carries out. Every decision
 * about how a container is made is taken here, in order; berth-init only executes.
 */
import { isAbsolute, join, resolve } from 'node:path';
import { BerthError } from '../common/index.ts';
import type { PlanStep } from '../native/protocol.ts';
import { parseMountOptions, MS_SLAVE, MS_REC, MS_PRIVATE, parseRootfsPropagation, type RuntimeConfig, type NamespaceType } from '../oci/index.ts';
import { mountFlagNames } from './flag-names.ts';
import type { SeccompCache } from './seccomp-cache.ts';
import { processSteps, seccompListenerPath, userSpecOf } from './compile-process.ts';
import { checkLabels, hostSecurity, type HostSecurity } from './host-security.ts';
import { deviceSteps, hostProcSysMounts, idMapText, mountSteps, type CgroupHierarchy, type MountContext } from './compile-mounts.ts';

export { DEFAULT_DEVICES, type CgroupHierarchy } from './compile-mounts.ts';

export const CLONE_FLAGS: Record<NamespaceType, number> = {
  mount: 0x0002_0000,
  uts: 0x0400_0000,
  ipc: 0x0800_0000,
  user: 0x1000_0000,
  pid: 0x2000_0000,
  network: 0x4000_0000,
  cgroup: 0x0200_0000,
  time: 0x0000_0080,
};

/** Order in which namespaces given by path are joined: the user namespace first. */
const JOIN_ORDER: NamespaceType[] = ['user', 'cgroup', 'ipc', 'uts', 'network', 'pid', 'mount', 'time'];

/**
 * How the container's first process gets into its cgroups without ever running outside them.
 * A write to cgroup.procs takes the kernel's global threadgroup lock, whose first taker waits
 * for an RCU grace period (~10 ms here, paid by runc and crun on every start); the two ways
 * around it are used where the kernel has them.
 */
export interface CgroupEntry {
  /** Files berth-init writes "0" to before cloning: v1 `tasks` files (berth-init is
   * single-threaded, so this moves all of it, without the global lock), or cgroup.procs of a
   * v2 cgroup where clone3 cannot place the child (kernel < 5.7). */
  joinFiles: string[];
  /** A cgroup v2 directory the child is created in (clone3 CLONE_INTO_CGROUP, kernel >= 5.7). */
  cloneInto?: string | undefined;
}

/**
 * The plan steps of a CgroupEntry (before any setns: the paths are the host's). When berth-init
 * joins an existing cgroup namespace before cloning (exec, or a namespace given by path), the
 * kernel refuses to clone into a cgroup from outside that namespace's root (ENOENT): berth-init
 * then joins the v2 cgroup itself, through cgroup.procs, before the setns.
 */
export function cgroupEntrySteps(
  entry: CgroupEntry,
  joinsCgroupNs: boolean,
  stage: 'parent' | 'parent-after' = 'parent',
  childJoinsV1 = false,
): { steps: PlanStep[]; intoCgroup: boolean } {
  const joinFiles = [...entry.joinFiles];
  if (entry.cloneInto && joinsCgroupNs) joinFiles.push(join(entry.cloneInto, 'cgroup.procs'));
  // a v1 `tasks` file written "0" by the child itself moves it without the global lock that a
  // write of another process's pid takes (its first taker waits for an RCU grace period:
  // 10-35 ms here): the monitor then never enters the container's cgroups, and pays nothing
  const steps: PlanStep[] = joinFiles.map((procsPath) => ({ stage: childJoinsV1 && procsPath.endsWith('/tasks') ? 'child' : stage, op: 'cgroup-join', procsPath }));
  const intoCgroup = entry.cloneInto !== undefined && !joinsCgroupNs;
  if (intoCgroup) steps.push({ stage: 'parent', op: 'cgroup-open', dir: entry.cloneInto! });
  return { steps, intoCgroup };
}

export interface CompileOptions {
  /** Where compiled seccomp filters are kept (see seccomp-cache.ts). */
  seccompCache?: SeccompCache | undefined;
  containerId: string;
  bundleDir: string;
  /** The unix socket the created container's init waits on for `start`. */
  startSocketPath: string;
  cgroupEntry: CgroupEntry;
  cgroupHierarchies: CgroupHierarchy[];
  consoleSocket?: string | undefined;
  noPivot?: boolean | undefined;
  /** process.terminal without a console socket: berth-init (foreground) relays the pty itself. */
  relayConsole?: boolean | undefined;
  /** Extra fds (3 … 3+n-1) passed to the container. */
  preserveFds?: number | undefined;
  /** The caller is not root (rootless): write setgroups "deny" before gid_map. */
  isRootless?: boolean | undefined;
  /** The host root is an initramfs: pivot_root cannot work there. */
  isRootRamfs?: boolean | undefined;
  /** The host's security modules (default: this host's). */
  security?: HostSecurity | undefined;
  /** The host's mount points whose procfs/sysfs --no-pivot takes away (default: this host's). */
  hostProcSysMounts?: string[] | undefined;
  /** berth-init stays as the container's monitor (the engine's containers): see MonitorOptions. */
  monitor?: MonitorOptions | undefined;
  /** The container's limits view: the arguments of berth-init view (limits-view.ts). */
  view?: string[] | undefined;
}

/** What a container's monitor does (native/monitor.c); every path is the engine's. */
export interface MonitorOptions {
  /** json-file log; '' for none (--log-driver none). */
  logPath: string;
  /** Rotate at this size (0: never) keeping this many files in all (docker's max-size, max-file). */
  logMaxSize: number;
  logMaxFiles: number;
  attachPath: string;
  exitPath: string;
  /** The container's stdin stays open for attach clients (-i). */
  stdinOpen: boolean;
  /** Run at the end, in the monitor's place (the engine's cleanup). */
  exitCommand: string[];
  /** The file that counts the cgroup's OOM kills ("oom_kill N"), '' when there is none. */
  oomFile?: string | undefined;
}

export interface CompiledPlan {
  steps: PlanStep[];
  /** Hook phases the runtime itself runs, in the order berth-init will ask for them. */
  runtimeHookPhases: string[];
  /** What the container gets differently from its config, said to the caller (runc warns too). */
  warnings: string[];
  /** Its mounts are made in the caller's mount namespace (it has none of its own): delete takes them down. */
  mountsInCaller: boolean;
}

/** Namespaces the config creates anew (no path). */
export function newNamespaces(config: RuntimeConfig): Set<NamespaceType> {
  return new Set((config.linux?.namespaces ?? []).filter((ns) => !ns.path).map((ns) => ns.type));
}

function hookRunSteps(config: RuntimeConfig, name: 'createContainer' | 'startContainer', cwd: string): PlanStep[] {
  return (config.hooks?.[name] ?? []).map((hook) => ({
    stage: 'child' as const,
    op: 'run-hook' as const,
    name,
    path: hook.path,
    timeout: hook.timeout ?? 0,
    cwd,
    args: hook.args ?? [hook.path],
    env: hook.env ?? [],
    // a hook without env of its own gets the runtime's environment, as runc and crun give it
    inheritEnv: hook.env === undefined,
  }));
}

/** Without a mount namespace the container shares its caller's mounts. Its own mounts are made
 * there, under its root, as runc makes them (and taken down at delete, which runc does not); what
 * would change the caller's view beyond the root is refused. */
function checkNoMountNamespace(config: RuntimeConfig, isUserNs: boolean): void {
  const linux = config.linux ?? {};
  const why = 'the container has no mount namespace of its own (it would change the host\'s)';
  const hint = 'add {"type": "mount"} to linux.namespaces, or drop these fields';
  if (config.mounts?.length && isUserNs) {
    throw new BerthError('INVALID_ARGUMENT', `mounts: a user-namespaced container cannot mount when ${why}`, { hint });
  }
  if (linux.maskedPaths?.length) throw new BerthError('INVALID_ARGUMENT', `linux.maskedPaths: cannot be masked when ${why}`, { hint });
  if (linux.readonlyPaths?.length) throw new BerthError('INVALID_ARGUMENT', `linux.readonlyPaths: cannot be made read-only when ${why}`, { hint });
  if (config.root?.readonly) throw new BerthError('INVALID_ARGUMENT', `root.readonly: the root cannot be made read-only when ${why}`, { hint });
  if (linux.rootfsPropagation) throw new BerthError('INVALID_ARGUMENT', `linux.rootfsPropagation: cannot apply when ${why}`, { hint });
}

/**
 * A bundle's root filesystem as a mount rather than a directory: the annotation holds
 * {"type": "overlay", "source": "overlay", "options": ["lowerdir=…", "upperdir=…", "workdir=…"],
 * "cwd": "/dir the relative lowerdirs are resolved from"}. berth's engine gives its containers the
 * overlay of their image's layers this way: it is mounted in the container's own mount
 * namespace, over root.path, and goes away with it (nothing is mounted on the host).
 */
export const ROOTFS_MOUNT_ANNOTATION = 'io.berth.rootfs.mount';

function rootfsMount(config: RuntimeConfig, hasMountNs: boolean): { type: string; source: string; data: string; cwd?: string } | undefined {
  const text = config.annotations?.[ROOTFS_MOUNT_ANNOTATION];
  if (text === undefined) return undefined;
  const field = `annotations["${ROOTFS_MOUNT_ANNOTATION}"]`;
  if (!hasMountNs) throw new BerthError('INVALID_ARGUMENT', `${field}: the root can be a mount only in a mount namespace of the container's own`);
  let spec: { type?: unknown; source?: unknown; options?: unknown; cwd?: unknown };
  try {
    spec = JSON.parse(text) as typeof spec;
  } catch {
    throw new BerthError('INVALID_ARGUMENT', `${field}: not JSON`);
  }
  const options = spec.options ?? [];
  if (typeof spec.type !== 'string' || !spec.type || typeof spec.source !== 'string' || !Array.isArray(options) || !options.every((o) => typeof o === 'string')) {
    throw new BerthError('INVALID_ARGUMENT', `${field}: expected {"type": string, "source": string, "options": [string], "cwd"?: string}`);
  }
  if (spec.cwd !== undefined && (typeof spec.cwd !== 'string' || !isAbsolute(spec.cwd))) throw new BerthError('INVALID_ARGUMENT', `${field}.cwd: must be an absolute path`);
  return { type: spec.type, source: spec.source, data: (options as string[]).join(','), ...(spec.cwd ? { cwd: spec.cwd as string } : {}) };
}

/** OP_ROOTFS_TREE for an overlay root (`lowerdir=` taken out of its options) under the user
 * namespace's maps. */
function overlayTree(mount: { data: string; cwd?: string }, linux: NonNullable<RuntimeConfig['linux']>, ctx: MountContext): PlanStep & { op: 'rootfs-tree' } {
  const field = `annotations["${ROOTFS_MOUNT_ANNOTATION}"]`;
  if (!linux.uidMappings?.length || !linux.gidMappings?.length) {
    throw new BerthError('INVALID_ARGUMENT', `${field}: an overlay root in a user namespace needs linux.uidMappings and linux.gidMappings`);
  }
  const options = mount.data.split(',');
  const lowers = options.filter((o) => o.startsWith('lowerdir=')).flatMap((o) => o.slice('lowerdir='.length).split(':'));
  if (lowers.length === 0 || lowers.some((l) => l === '')) throw new BerthError('INVALID_ARGUMENT', `${field}: an overlay root needs lowerdir=`);
  return {
    stage: 'parent',
    op: 'rootfs-tree',
    slot: ctx.treeSlots.next++,
    cwd: mount.cwd ?? '',
    options: options.filter((o) => !o.startsWith('lowerdir=')).join(','),
    uidMap: idMapText(linux.uidMappings),
    gidMap: idMapText(linux.gidMappings),
    lowers,
  };
}

export function compilePlan(config: RuntimeConfig, opts: CompileOptions): CompiledPlan {
  const linux = config.linux ?? {};
  const process = config.process;
  if (!process?.args?.length) throw new BerthError('INVALID_ARGUMENT', 'process.args: the container needs a program to run');
  if (linux.intelRdt && Object.values(linux.intelRdt).some((v) => v !== undefined && v !== false && v !== '')) {
    throw new BerthError('NOT_IMPLEMENTED', 'linux.intelRdt: Intel RDT (resctrl) is not supported by berth-runtime', { hint: 'remove linux.intelRdt from config.json' });
  }
  checkLabels({ mountLabel: linux.mountLabel }, opts.security ?? hostSecurity(), 'process');
  if (!config.root?.path) throw new BerthError('INVALID_ARGUMENT', 'root.path: is required');
  const namespaces = linux.namespaces ?? [];
  const created = newNamespaces(config);
  const hasMountNs = namespaces.some((ns) => ns.type === 'mount');
  const isUserNs = namespaces.some((ns) => ns.type === 'user');
  if (!hasMountNs) checkNoMountNamespace(config, isUserNs);
  const rootfsDir = isAbsolute(config.root.path) ? config.root.path : resolve(opts.bundleDir, config.root.path);
  const steps: PlanStep[] = [];
  const runtimeHookPhases: string[] = [];
  const warnings: string[] = [];
  const parent = (step: PlanStep) => steps.push(step);
  const child = (step: PlanStep) => steps.push(step);

  // --- parent: the limits view before anything (it stays out of the container's cgroups and
  // namespaces), then cgroups, so nothing of the container ever runs outside them
  if (opts.view) steps.push({ stage: 'parent', op: 'view', args: opts.view });
  const joined = namespaces.filter((ns) => ns.path).sort((a, b) => JOIN_ORDER.indexOf(a.type) - JOIN_ORDER.indexOf(b.type));
  // a monitor stays, and stays out of the container's cgroups: the child is moved in after the
  // clone, before anything else it does, where it cannot be cloned into them
  const monitor = opts.monitor;
  // the child moves itself into its v1 cgroups, first thing, when it can open their files:
  // not from a new user namespace (the host's root owns them)
  const entry = cgroupEntrySteps(opts.cgroupEntry, joined.some((ns) => ns.type === 'cgroup'), monitor ? 'parent-after' : 'parent', monitor !== undefined && !created.has('user'));
  steps.push(...entry.steps.filter((s) => s.stage === 'parent'));
  // host paths are reached from the host's namespaces, before any is joined or made: the
  // console socket and the seccomp listener are connected here, bind sources opened here
  if (process.terminal && opts.consoleSocket) parent({ stage: 'parent', op: 'console-connect', socketPath: opts.consoleSocket });
  const listenerPath = seccompListenerPath(config);
  if (listenerPath) parent({ stage: 'parent', op: 'seccomp-listener', path: listenerPath });
  const mounts = config.mounts ?? [];
  const finalRemounts: PlanStep[] = [];
  const mountCtx: MountContext = {
    bundleDir: opts.bundleDir,
    isUserNs,
    isRootless: opts.isRootless === true,
    hasCgroupNs: created.has('cgroup'),
    hierarchies: opts.cgroupHierarchies,
    userNsMappings: { uid: linux.uidMappings, gid: linux.gidMappings },
    treeSlots: { next: 0 },
    finalRemounts,
  };
  // the overlay root of a user-namespaced container: its layers id-mapped, made by the parent
  const rootMount = rootfsMount(config, hasMountNs);
  const rootTree = rootMount?.type === 'overlay' && isUserNs && !opts.isRootless ? overlayTree(rootMount, linux, mountCtx) : undefined;
  if (rootTree) parent(rootTree);
  const mountPlan = mounts.flatMap((m, i) => mountSteps(m, i, mountCtx));
  const devBound = mounts.some((m) => m.destination === '/dev' && parseMountOptions(m.options ?? []).isBind);
  // device nodes and /dev links go into a /dev the container mounts: never into a host directory
  const ownDev = hasMountNs || mounts.some((m) => m.destination === '/dev');
  const devicePlan = ownDev && !devBound ? deviceSteps(config, isUserNs, mountCtx) : [];
  steps.push(...mountPlan.filter((s) => s.stage === 'parent'), ...devicePlan.filter((s) => s.stage === 'parent'));
  parent({ stage: 'parent', op: 'start-socket', path: opts.startSocketPath });
  if (monitor) {
    parent({
      stage: 'parent',
      op: 'monitor',
      logPath: monitor.logPath,
      logMaxSize: monitor.logMaxSize,
      logMaxFiles: monitor.logMaxFiles,
      attachPath: monitor.attachPath,
      exitPath: monitor.exitPath,
      oomFile: monitor.oomFile ?? '',
      stdinOpen: monitor.stdinOpen,
      tty: process.terminal === true,
      exitCommand: monitor.exitCommand,
    });
  }
  for (const ns of joined) parent({ stage: 'parent', op: 'setns', path: ns.path!, nsType: CLONE_FLAGS[ns.type], namespace: ns.type });
  if (created.has('time')) {
    const offsets = Object.entries(linux.timeOffsets ?? {})
      .map(([clock, o]) => `${clock} ${o.secs ?? 0} ${o.nanosecs ?? 0}`)
      .join('\n');
    parent({ stage: 'parent', op: 'timens', offsets });
  }
  // a monitor holds the pty master as a foreground run relays it: over the console pair
  const relay = opts.relayConsole === true || monitor !== undefined;
  const hasConsole = process.terminal === true && (!!opts.consoleSocket || relay);
  if (process.terminal && !opts.consoleSocket && relay) parent({ stage: 'parent', op: 'console-pair' });
  // a cgroup namespace is rooted at the cgroups of whoever creates it: when the child is cloned
  // into its v2 cgroup, berth-init is not there, so the child makes it itself (as runc does)
  const intoCgroup = entry.intoCgroup;
  const cgroupNsInChild = (intoCgroup || monitor !== undefined) && created.has('cgroup');
  const cloneTypes = [...created].filter((t) => t !== 'time' && !(t === 'cgroup' && cgroupNsInChild));
  parent({ stage: 'parent', op: 'clone', flags: cloneTypes.reduce((f, t) => f | CLONE_FLAGS[t], 0), namespaces: cloneTypes, intoCgroup });
  steps.push(...entry.steps.filter((s) => s.stage === 'parent-after'));
  if (created.has('user')) {
    if (opts.isRootless) steps.push({ stage: 'parent-after', op: 'setgroups-deny' });
    if (linux.uidMappings?.length) steps.push({ stage: 'parent-after', op: 'uid-map', map: idMapText(linux.uidMappings) });
    if (linux.gidMappings?.length) steps.push({ stage: 'parent-after', op: 'gid-map', map: idMapText(linux.gidMappings) });
  }
  if (process.oomScoreAdj !== undefined) steps.push({ stage: 'parent-after', op: 'oom-score-adj', value: process.oomScoreAdj });

  // --- child: the container's init, in its new namespaces. Nothing of the host that it does
  // not need goes further: every other fd is closed before anything of the container is resolved
  steps.push(...entry.steps.filter((s) => s.stage === 'child'));
  child({ stage: 'child', op: 'close-fds', from: 3 + (opts.preserveFds ?? 0) });
  child({ stage: 'child', op: 'dumpable', value: false, reason: 'processes joining the container cannot ptrace its init before execve' });
  child({ stage: 'child', op: 'setsid' });
  if (cgroupNsInChild) child({ stage: 'child', op: 'unshare', flags: CLONE_FLAGS.cgroup, namespaces: ['cgroup'] });
  if (created.has('user')) child({ stage: 'child', op: 'become-root' });

  // the rootfs propagation asked for is applied after pivot_root, which refuses a shared root
  const asked = linux.rootfsPropagation ? parseRootfsPropagation(linux.rootfsPropagation) : undefined;
  const isolating = asked !== undefined && (asked & (MS_PRIVATE | MS_SLAVE)) !== 0;
  if (created.has('mount')) {
    const flags = isolating ? asked : MS_SLAVE | MS_REC;
    child({ stage: 'child', op: 'propagation', path: '/', flags, flagNames: mountFlagNames(flags), why: 'keep the container\'s mounts off the host' });
  }
  child({ stage: 'child', op: 'rootfs', path: rootfsDir, bind: hasMountNs, mount: rootMount, ...(rootTree ? { treeSlot: rootTree.slot } : {}) });

  steps.push(...mountPlan.filter((s) => s.stage === 'child'));
  if (ownDev && !devBound) {
    steps.push(...devicePlan.filter((s) => s.stage === 'child'));
    const hasPts = mounts.some((m) => m.destination === '/dev/pts');
    const links: [string, string][] = [
      ['/proc/self/fd', '/dev/fd'],
      ['/proc/self/fd/0', '/dev/stdin'],
      ['/proc/self/fd/1', '/dev/stdout'],
      ['/proc/self/fd/2', '/dev/stderr'],
    ];
    if (hasPts) links.push(['pts/ptmx', '/dev/ptmx']);
    for (const [target, path] of links) child({ stage: 'child', op: 'symlink', target, path });
  }

  const runtimeHooks = ['prestart', 'createRuntime'] as const;
  const hookCount = runtimeHooks.reduce((n, h) => n + (config.hooks?.[h]?.length ?? 0), 0);
  if (hookCount > 0) {
    child({ stage: 'child', op: 'hooks', name: 'createRuntime', count: hookCount });
    runtimeHookPhases.push('createRuntime');
  }
  // createContainer hooks run in the container's namespaces, in its root (the spec's cwd)
  steps.push(...hookRunSteps(config, 'createContainer', rootfsDir));
  // a missing cwd is made (as runc and crun do), resolved inside the root, before it may
  // become read-only; it never resolves through a /proc magic link
  if (hasMountNs && process.cwd !== '/') child({ stage: 'child', op: 'mkdir', path: process.cwd, mode: 0o755 });

  if (!hasMountNs) child({ stage: 'child', op: 'chroot', move: false });
  else if (opts.noPivot || opts.isRootRamfs) {
    for (const path of opts.hostProcSysMounts ?? hostProcSysMounts(rootfsDir)) child({ stage: 'child', op: 'detach', path });
    child({ stage: 'child', op: 'chroot', move: true });
  } else child({ stage: 'child', op: 'pivot-root' });
  if (asked !== undefined && !isolating) {
    child({ stage: 'child', op: 'propagation', path: '/', flags: asked, flagNames: mountFlagNames(asked), why: `linux.rootfsPropagation "${linux.rootfsPropagation}"` });
  }

  // as runc: hostname and sysctls while /proc/sys is still writable, then readonly and masked
  // paths, then the read-only mounts and root
  if (config.hostname !== undefined && created.has('uts')) child({ stage: 'child', op: 'hostname', name: config.hostname });
  if (config.domainname !== undefined && created.has('uts')) child({ stage: 'child', op: 'domainname', name: config.domainname });
  for (const [key, value] of Object.entries(linux.sysctl ?? {})) child({ stage: 'child', op: 'sysctl', key, value });
  for (const path of linux.readonlyPaths ?? []) child({ stage: 'child', op: 'readonly', path });
  for (const path of linux.maskedPaths ?? []) child({ stage: 'child', op: 'mask', path });
  steps.push(...finalRemounts);
  if (config.root.readonly) child({ stage: 'child', op: 'remount-root-ro' });
  const processPlan = processSteps(config, process, {
    seccompCache: opts.seccompCache,
    oomFromParent: true,
    hasConsole,
    preserveFds: opts.preserveFds,
    waitForStart: true,
    startHooks: hookRunSteps(config, 'startContainer', ''),
    isRootless: opts.isRootless,
    seccompState: { id: opts.containerId, status: 'creating', bundle: opts.bundleDir, annotations: config.annotations },
    security: opts.security,
    userSpec: userSpecOf(config.annotations),
  });
  steps.push(...processPlan.steps);
  warnings.push(...processPlan.warnings);
  return { steps, runtimeHookPhases, warnings, mountsInCaller: !hasMountNs && mounts.length > 0 };
}
