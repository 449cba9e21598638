/**
 * compile: a validated OCI config becomes the plan berth-init carries out. Every decision
 * about how a container is made is taken here, in order; berth-init only executes.
 */
import { statSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { BerthError } from '../common/index.ts';
import type { PlanStep } from '../native/protocol.ts';
import {
  parseMountOptions,
  MS_BIND,
  MS_REC,
  MS_RDONLY,
  MS_NOSUID,
  MS_NODEV,
  MS_NOEXEC,
  MS_SLAVE,
  parseRootfsPropagation,
  type RuntimeConfig,
  type Mount,
  type NamespaceType,
  type IdMapping,
} from '../oci/index.ts';
import { mountFlagNames } from './flag-names.ts';
import { processSteps, seccompListenerPath } from './compile-process.ts';
import { checkLabels, hostSecurity, type HostSecurity } from './host-security.ts';

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


/** The devices every container gets unless the config brings its own /dev (OCI "default devices"). */
export const DEFAULT_DEVICES = [
  { path: '/dev/null', type: 'c', major: 1, minor: 3 },
  { path: '/dev/zero', type: 'c', major: 1, minor: 5 },
  { path: '/dev/full', type: 'c', major: 1, minor: 7 },
  { path: '/dev/random', type: 'c', major: 1, minor: 8 },
  { path: '/dev/urandom', type: 'c', major: 1, minor: 9 },
  { path: '/dev/tty', type: 'c', major: 5, minor: 0 },
] as const;

/** One cgroup hierarchy as the container should see it when the config mounts "cgroup". */
export interface CgroupHierarchy {
  /** Directory name under the cgroup mount ("memory", "cpu,cpuacct", "systemd"; "" for v2). */
  name: string;
  /** Mount data for a fresh mount in a cgroup namespace ("memory", "none,name=systemd"). */
  data: string;
  /** The container's own cgroup directory on the host, bound when there is no cgroup namespace. */
  hostDir: string;
  isV2: boolean;
}

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
export function cgroupEntrySteps(entry: CgroupEntry, joinsCgroupNs: boolean): { steps: PlanStep[]; intoCgroup: boolean } {
  const joinFiles = [...entry.joinFiles];
  if (entry.cloneInto && joinsCgroupNs) joinFiles.push(join(entry.cloneInto, 'cgroup.procs'));
  const steps: PlanStep[] = joinFiles.map((procsPath) => ({ stage: 'parent', op: 'cgroup-join', procsPath }));
  const intoCgroup = entry.cloneInto !== undefined && !joinsCgroupNs;
  if (intoCgroup) steps.push({ stage: 'parent', op: 'cgroup-open', dir: entry.cloneInto! });
  return { steps, intoCgroup };
}

export interface CompileOptions {
  containerId: string;
  bundleDir: string;
  execFifoPath: string;
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
}

export interface CompiledPlan {
  steps: PlanStep[];
  /** Hook phases the runtime itself runs, in the order berth-init will ask for them. */
  runtimeHookPhases: string[];
}


/** Namespaces the config creates anew (no path). */
export function newNamespaces(config: RuntimeConfig): Set<NamespaceType> {
  return new Set((config.linux?.namespaces ?? []).filter((ns) => !ns.path).map((ns) => ns.type));
}

interface MountContext {
  isUserNs: boolean;
  hasCgroupNs: boolean;
  hierarchies: CgroupHierarchy[];
  idmapSlots: { next: number };
}

function mountSteps(mount: Mount, index: number, opts: CompileOptions & { userNsMappings?: { uid?: IdMapping[] | undefined; gid?: IdMapping[] | undefined } }, ctx: MountContext): PlanStep[] {
  const field = `mounts[${index}]`;
  const parsed = parseMountOptions(mount.options ?? []);
  const type = mount.type ?? (parsed.isBind ? 'bind' : '');
  const destination = mount.destination;
  const propagation = parsed.propagation.reduce((a, b) => a | b, 0);
  const base = {
    stage: 'child' as const,
    op: 'mount' as const,
    propagation,
    attrSet: parsed.recAttrSet,
    attrClr: parsed.recAttrClr,
  };

  if (parsed.isTmpCopyUp && (parsed.isBind || type !== 'tmpfs')) {
    throw new BerthError('INVALID_ARGUMENT', `${field}.options: "tmpcopyup" applies to tmpfs mounts only, not to ${parsed.isBind ? 'a bind mount' : JSON.stringify(type)}`);
  }
  if (type === 'cgroup' || type === 'cgroup2') return cgroupMountSteps(mount, parsed.flags, ctx);

  if (parsed.isBind) {
    const rawSource = mount.source ?? '';
    if (!rawSource) throw new BerthError('INVALID_ARGUMENT', `${field}.source: a bind mount needs a source`);
    const source = isAbsolute(rawSource) ? rawSource : resolve(opts.bundleDir, rawSource);
    let isFile = false;
    try {
      isFile = !statSync(source).isDirectory();
    } catch {
      // a missing source is reported by berth-init at the mount itself, with its errno
    }
    const extra = parsed.flags & ~(MS_BIND | MS_REC);
    if (parsed.idmap || mount.uidMappings) {
      // id-mapped: the parent makes the mapped copy (host paths, host user namespace); the
      // child moves it into place. Without maps of its own, the container's are used.
      const uidMappings = mount.uidMappings ?? (ctx.isUserNs ? opts.userNsMappings?.uid : undefined);
      const gidMappings = mount.gidMappings ?? (ctx.isUserNs ? opts.userNsMappings?.gid : undefined);
      if (!uidMappings?.length || !gidMappings?.length) {
        throw new BerthError('INVALID_ARGUMENT', `${field}: an id-mapped mount needs uidMappings and gidMappings, or a user namespace with mappings`);
      }
      const slot = ctx.idmapSlots.next++;
      return [
        { stage: 'parent', op: 'idmap-tree', slot, source, recursiveTree: (parsed.flags & MS_REC) !== 0, recursiveIdmap: parsed.idmap?.recursive === true, uidMap: idMapText(uidMappings), gidMap: idMapText(gidMappings) },
        { ...base, source, destination, fstype: '', flags: parsed.flags & (MS_BIND | MS_REC), flagNames: mountFlagNames(parsed.flags), data: '', isFile, remountFlags: extra, idmapSlot: slot },
      ];
    }
    return [
      {
        ...base,
        source,
        destination,
        fstype: '',
        flags: parsed.flags & (MS_BIND | MS_REC),
        flagNames: mountFlagNames(parsed.flags),
        data: '',
        isFile,
        remountFlags: extra,
      },
    ];
  }
  return [
    {
      ...base,
      source: mount.source ?? type,
      destination,
      fstype: type,
      // tmpcopyup into a read-only tmpfs: written first, made read-only after
      flags: parsed.isTmpCopyUp ? parsed.flags & ~MS_RDONLY : parsed.flags,
      flagNames: mountFlagNames(parsed.isTmpCopyUp ? parsed.flags & ~MS_RDONLY : parsed.flags),
      data: parsed.data,
      isFile: false,
      remountFlags: parsed.isTmpCopyUp && parsed.flags & MS_RDONLY ? parsed.flags & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC) : 0,
      ...(parsed.isTmpCopyUp ? { copyUp: true } : {}),
    },
  ];
}

/** A "cgroup" mount shows the container its own cgroups: a fresh cgroup mount inside a cgroup
 * namespace, otherwise its own directories bound from the host. */
function cgroupMountSteps(mount: Mount, flags: number, ctx: { hasCgroupNs: boolean; hierarchies: CgroupHierarchy[] }): PlanStep[] {
  const roFlags = flags & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC);
  const names = mountFlagNames(roFlags);
  const common = { stage: 'child' as const, op: 'mount' as const, propagation: 0, attrSet: 0, attrClr: 0, isFile: false };
  const v2 = ctx.hierarchies.find((h) => h.isV2);
  if (v2) {
    return [
      ctx.hasCgroupNs
        ? { ...common, source: 'cgroup2', destination: mount.destination, fstype: 'cgroup2', flags: roFlags, flagNames: names, data: '', remountFlags: 0 }
        : { ...common, source: v2.hostDir, destination: mount.destination, fstype: '', flags: MS_BIND | MS_REC, flagNames: ['MS_BIND', 'MS_REC'], data: '', remountFlags: roFlags },
    ];
  }
  const steps: PlanStep[] = [
    { ...common, source: 'tmpfs', destination: mount.destination, fstype: 'tmpfs', flags: MS_NOSUID | MS_NODEV | MS_NOEXEC, flagNames: mountFlagNames(MS_NOSUID | MS_NODEV | MS_NOEXEC), data: 'mode=755', remountFlags: 0 },
  ];
  for (const h of ctx.hierarchies) {
    const destination = join(mount.destination, h.name);
    steps.push(
      ctx.hasCgroupNs
        ? { ...common, source: 'cgroup', destination, fstype: 'cgroup', flags: roFlags, flagNames: names, data: h.data, remountFlags: 0 }
        : { ...common, source: h.hostDir, destination, fstype: '', flags: MS_BIND | MS_REC, flagNames: ['MS_BIND', 'MS_REC'], data: '', remountFlags: roFlags },
    );
  }
  if (roFlags & MS_RDONLY) steps.push({ stage: 'child', op: 'readonly', path: mount.destination });
  return steps;
}

function deviceSteps(config: RuntimeConfig, isUserNs: boolean): PlanStep[] {
  const steps: PlanStep[] = [];
  const devices = [...(config.linux?.devices ?? [])];
  const given = new Set(devices.map((d) => d.path));
  const all = [
    ...DEFAULT_DEVICES.filter((d) => !given.has(d.path)).map((d) => ({ ...d, fileMode: 0o666, uid: 0, gid: 0 })),
    ...devices.map((d) => ({ path: d.path, type: d.type, major: Number(d.major ?? 0), minor: Number(d.minor ?? 0), fileMode: d.fileMode ?? 0o666, uid: d.uid ?? 0, gid: d.gid ?? 0 })),
  ];
  for (const dev of all) {
    if (isUserNs) {
      // mknod is not allowed in a user namespace: bind the host's node instead, as runc does
      steps.push({ stage: 'child', op: 'bind-device', hostPath: dev.path, path: dev.path });
      continue;
    }
    const typeBits = dev.type === 'b' ? 0o060000 : dev.type === 'p' ? 0o010000 : 0o020000;
    steps.push({ stage: 'child', op: 'mknod', path: dev.path, mode: typeBits | (dev.fileMode & 0o7777), major: dev.major, minor: dev.minor, uid: dev.uid, gid: dev.gid, type: dev.type });
  }
  return steps;
}

function hookRunSteps(config: RuntimeConfig, name: 'createContainer' | 'startContainer'): PlanStep[] {
  return (config.hooks?.[name] ?? []).map((hook) => ({
    stage: 'child' as const,
    op: 'run-hook' as const,
    name,
    path: hook.path,
    timeout: hook.timeout ?? 0,
    args: hook.args ?? [hook.path],
    env: hook.env ?? [],
  }));
}

function idMapText(maps: { containerID: number; hostID: number; size: number }[]): string {
  return maps.map((m) => `${m.containerID} ${m.hostID} ${m.size}`).join('\n');
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
  if (!namespaces.some((ns) => ns.type === 'mount')) {
    throw new BerthError('INVALID_ARGUMENT', 'linux.namespaces: a mount namespace is required to enter the root filesystem', {
      hint: 'add {"type": "mount"} to linux.namespaces',
    });
  }
  const isUserNs = namespaces.some((ns) => ns.type === 'user');
  const rootfsDir = isAbsolute(config.root.path) ? config.root.path : resolve(opts.bundleDir, config.root.path);
  const steps: PlanStep[] = [];
  const runtimeHookPhases: string[] = [];

  // --- parent: cgroups first, so nothing of the container ever runs outside them
  const joined = namespaces.filter((ns) => ns.path).sort((a, b) => JOIN_ORDER.indexOf(a.type) - JOIN_ORDER.indexOf(b.type));
  const entry = cgroupEntrySteps(opts.cgroupEntry, joined.some((ns) => ns.type === 'cgroup'));
  steps.push(...entry.steps);
  for (const ns of joined) steps.push({ stage: 'parent', op: 'setns', path: ns.path!, nsType: CLONE_FLAGS[ns.type], namespace: ns.type });
  if (created.has('time')) {
    const offsets = Object.entries(linux.timeOffsets ?? {})
      .map(([clock, o]) => `${clock} ${o.secs ?? 0} ${o.nanosecs ?? 0}`)
      .join('\n');
    steps.push({ stage: 'parent', op: 'timens', offsets });
  }
  steps.push({ stage: 'parent', op: 'mkfifo', path: opts.execFifoPath });
  const hasConsole = process.terminal === true && (!!opts.consoleSocket || opts.relayConsole === true);
  if (process.terminal && !opts.consoleSocket && opts.relayConsole) steps.push({ stage: 'parent', op: 'console-pair' });
  // a cgroup namespace is rooted at the cgroups of whoever creates it: when the child is cloned
  // into its v2 cgroup, berth-init is not there, so the child makes it itself (as runc does)
  const intoCgroup = entry.intoCgroup;
  const cgroupNsInChild = intoCgroup && created.has('cgroup');
  const cloneTypes = [...created].filter((t) => t !== 'time' && !(t === 'cgroup' && cgroupNsInChild));
  steps.push({ stage: 'parent', op: 'clone', flags: cloneTypes.reduce((f, t) => f | CLONE_FLAGS[t], 0), namespaces: cloneTypes, intoCgroup });
  if (created.has('user')) {
    if (opts.isRootless) steps.push({ stage: 'parent-after', op: 'setgroups-deny' });
    if (linux.uidMappings?.length) steps.push({ stage: 'parent-after', op: 'uid-map', map: idMapText(linux.uidMappings) });
    if (linux.gidMappings?.length) steps.push({ stage: 'parent-after', op: 'gid-map', map: idMapText(linux.gidMappings) });
  }

  // --- child: the container's init, in its new namespaces
  const child = (step: PlanStep) => steps.push(step);
  child({ stage: 'child', op: 'setsid' });
  if (cgroupNsInChild) child({ stage: 'child', op: 'unshare', flags: CLONE_FLAGS.cgroup, namespaces: ['cgroup'] });
  if (created.has('user')) child({ stage: 'child', op: 'become-root' });
  if (created.has('mount')) {
    const flags = linux.rootfsPropagation ? parseRootfsPropagation(linux.rootfsPropagation) : MS_SLAVE | MS_REC;
    child({ stage: 'child', op: 'propagation', path: '/', flags, flagNames: mountFlagNames(flags) });
  }
  if (process.terminal && opts.consoleSocket) child({ stage: 'child', op: 'console-connect', socketPath: opts.consoleSocket });
  const listenerPath = seccompListenerPath(config);
  if (listenerPath) child({ stage: 'child', op: 'seccomp-listener', path: listenerPath });
  child({ stage: 'child', op: 'rootfs', path: rootfsDir });

  const mounts = config.mounts ?? [];
  const ctx: MountContext = { isUserNs, hasCgroupNs: created.has('cgroup'), hierarchies: opts.cgroupHierarchies, idmapSlots: { next: 0 } };
  const mountOpts = { ...opts, userNsMappings: { uid: linux.uidMappings, gid: linux.gidMappings } };
  mounts.forEach((m, i) => steps.push(...mountSteps(m, i, mountOpts, ctx)));
  const devBound = mounts.some((m) => m.destination === '/dev' && parseMountOptions(m.options ?? []).isBind);
  if (!devBound) {
    steps.push(...deviceSteps(config, isUserNs));
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
  steps.push(...hookRunSteps(config, 'createContainer'));

  if (opts.noPivot || opts.isRootRamfs) child({ stage: 'child', op: 'chroot' });
  else child({ stage: 'child', op: 'pivot-root' });

  // as runc: hostname and sysctls while /proc/sys is still writable, then readonly and masked
  // paths, then the read-only root
  if (config.hostname !== undefined && created.has('uts')) child({ stage: 'child', op: 'hostname', name: config.hostname });
  if (config.domainname !== undefined && created.has('uts')) child({ stage: 'child', op: 'domainname', name: config.domainname });
  for (const [key, value] of Object.entries(linux.sysctl ?? {})) child({ stage: 'child', op: 'sysctl', key, value });
  for (const path of linux.readonlyPaths ?? []) child({ stage: 'child', op: 'readonly', path });
  for (const path of linux.maskedPaths ?? []) child({ stage: 'child', op: 'mask', path });
  if (config.root.readonly) child({ stage: 'child', op: 'remount-root-ro' });
  steps.push(
    ...processSteps(config, process, {
      hasConsole,
      preserveFds: opts.preserveFds,
      waitForStart: true,
      startHooks: hookRunSteps(config, 'startContainer'),
      isRootless: opts.isRootless,
      seccompState: { id: opts.containerId, status: 'creating', bundle: opts.bundleDir, annotations: config.annotations },
      security: opts.security,
    }),
  );
  // id-mapped trees are made by the parent before it clones, and before any setns: from the
  // host's mount and user namespaces
  const trees = steps.filter((s) => s.op === 'idmap-tree');
  if (trees.length) {
    const rest: PlanStep[] = steps.filter((s) => s.op !== 'idmap-tree');
    const at = rest.reduce((last, s, i) => (s.op === 'cgroup-join' || s.op === 'cgroup-open' ? i + 1 : last), 0);
    rest.splice(at, 0, ...trees);
    return { steps: rest, runtimeHookPhases };
  }
  return { steps, runtimeHookPhases };
}

