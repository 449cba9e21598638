/**
 * The mount steps of a plan: the config's mounts, the container's cgroups, its device nodes,
 * and what --no-pivot must take away. Every target is resolved inside the root by berth-init.
 */
import { readFileSync, statSync } from 'node:fs';
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
  MS_NOATIME,
  MS_NODIRATIME,
  MS_RELATIME,
  MS_STRICTATIME,
  type RuntimeConfig,
  type Mount,
  type IdMapping,
} from '../oci/index.ts';
import { mountFlagNames } from './flag-names.ts';

/** Per-mount flags a remount keeps (MS_BIND|MS_REMOUNT sets exactly these). */
const PER_MOUNT_FLAGS = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME | MS_RELATIME | MS_STRICTATIME;

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

export interface MountContext {
  bundleDir: string;
  isUserNs: boolean;
  /** The runtime is not root: it cannot clone trees from the host (and needs not: the
   * container's root is this user). */
  isRootless: boolean;
  hasCgroupNs: boolean;
  hierarchies: CgroupHierarchy[];
  userNsMappings: { uid?: IdMapping[] | undefined; gid?: IdMapping[] | undefined };
  treeSlots: { next: number };
  /** Mounts made writable first and given their read-only flags once everything under them is
   * made (a read-only /dev after its device nodes, a read-only tmpfs after nested mounts). */
  finalRemounts: PlanStep[];
}

export function idMapText(maps: { containerID: number; hostID: number; size: number }[]): string {
  return maps.map((m) => `${m.containerID} ${m.hostID} ${m.size}`).join('\n');
}

export function mountSteps(mount: Mount, index: number, ctx: MountContext): PlanStep[] {
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
    const source = isAbsolute(rawSource) ? rawSource : resolve(ctx.bundleDir, rawSource);
    let isFile = false;
    try {
      isFile = !statSync(source).isDirectory();
    } catch {
      // a missing source is reported by berth-init at the mount itself, with its errno
    }
    const extra = parsed.flags & ~(MS_BIND | MS_REC);
    const isIdmapped = parsed.idmap !== undefined || mount.uidMappings !== undefined;
    if (isIdmapped || (ctx.isUserNs && !ctx.isRootless)) {
      // made by the parent from the host's namespaces (a user-namespaced container may not
      // reach the source's path), id-mapped when asked; the child moves it into place
      let uidMap = '';
      let gidMap = '';
      if (isIdmapped) {
        // without maps of its own, the container's are used
        const uidMappings = mount.uidMappings ?? (ctx.isUserNs ? ctx.userNsMappings.uid : undefined);
        const gidMappings = mount.gidMappings ?? (ctx.isUserNs ? ctx.userNsMappings.gid : undefined);
        if (!uidMappings?.length || !gidMappings?.length) {
          throw new BerthError('INVALID_ARGUMENT', `${field}: an id-mapped mount needs uidMappings and gidMappings, or a user namespace with mappings`);
        }
        uidMap = idMapText(uidMappings);
        gidMap = idMapText(gidMappings);
      }
      const slot = ctx.treeSlots.next++;
      return [
        { stage: 'parent', op: 'bind-tree', slot, source, recursiveTree: (parsed.flags & MS_REC) !== 0, idmap: isIdmapped, recursiveIdmap: parsed.idmap?.recursive === true, uidMap, gidMap },
        { ...base, source, destination, fstype: '', flags: parsed.flags & (MS_BIND | MS_REC), flagNames: mountFlagNames(parsed.flags), data: '', isFile, remountFlags: extra, treeSlot: slot },
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
  // a read-only tmpfs (or /dev) is made writable first, as runc does: device nodes, nested
  // mount points and tmpcopyup content go in, then it becomes read-only
  const deferReadonly = (parsed.flags & MS_RDONLY) !== 0 && (type === 'tmpfs' || destination.replace(/\/+$/, '') === '/dev');
  const flags = deferReadonly ? parsed.flags & ~MS_RDONLY : parsed.flags;
  if (deferReadonly) {
    ctx.finalRemounts.push({ stage: 'child', op: 'remount', path: destination, flags: parsed.flags & PER_MOUNT_FLAGS, flagNames: mountFlagNames(parsed.flags & PER_MOUNT_FLAGS) });
  }
  return [
    {
      ...base,
      source: mount.source ?? type,
      destination,
      fstype: type,
      flags,
      flagNames: mountFlagNames(flags),
      data: parsed.data,
      isFile: false,
      remountFlags: 0,
      // procfs and sysfs only on a real directory: never through a symlink the image planted
      ...(type === 'proc' || type === 'sysfs' ? { realDir: true } : {}),
      ...(parsed.isTmpCopyUp ? { copyUp: true } : {}),
    },
  ];
}

/** A "cgroup" mount shows the container its own cgroups: a fresh cgroup mount inside a cgroup
 * namespace, otherwise its own directories bound from the host. */
function cgroupMountSteps(mount: Mount, flags: number, ctx: MountContext): PlanStep[] {
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

/** The host id of container id `id` under `maps` (undefined when it is not mapped). */
function hostIdOf(id: number, maps: IdMapping[] | undefined): number | undefined {
  for (const m of maps ?? []) if (id >= m.containerID && id - m.containerID < m.size) return m.hostID + (id - m.containerID);
  return undefined;
}

export function deviceSteps(config: RuntimeConfig, isUserNs: boolean, ctx?: MountContext): PlanStep[] {
  const steps: PlanStep[] = [];
  const devices = [...(config.linux?.devices ?? [])];
  const given = new Set(devices.map((d) => d.path));
  const all = [
    ...DEFAULT_DEVICES.filter((d) => !given.has(d.path)).map((d) => ({ ...d, fileMode: 0o666, uid: 0, gid: 0 })),
    ...devices.map((d) => ({ path: d.path, type: d.type, major: Number(d.major ?? 0), minor: Number(d.minor ?? 0), fileMode: d.fileMode ?? 0o666, uid: d.uid ?? 0, gid: d.gid ?? 0 })),
  ];
  all.forEach((dev, i) => {
    const configured = i >= all.length - devices.length;
    if (isUserNs && configured && ctx && !ctx.isRootless) {
      // the parent makes it as the host's root, owned by the host ids of the config's owner,
      // and the child moves it into place: no node of the host is needed (crun's way)
      const field = `linux.devices[${i - (all.length - devices.length)}]`;
      const uid = hostIdOf(dev.uid, ctx.userNsMappings.uid);
      const gid = hostIdOf(dev.gid, ctx.userNsMappings.gid);
      if (uid === undefined) throw new BerthError('INVALID_ARGUMENT', `${field}.uid: ${dev.uid} is not mapped in the container's user namespace (linux.uidMappings)`);
      if (gid === undefined) throw new BerthError('INVALID_ARGUMENT', `${field}.gid: ${dev.gid} is not mapped in the container's user namespace (linux.gidMappings)`);
      const typeBits = dev.type === 'b' ? 0o060000 : dev.type === 'p' ? 0o010000 : 0o020000;
      const slot = ctx.treeSlots.next++;
      steps.push(
        { stage: 'parent', op: 'device-tree', slot, path: dev.path, mode: typeBits | (dev.fileMode & 0o7777), major: dev.major, minor: dev.minor, uid, gid, type: dev.type },
        { stage: 'child', op: 'mount', source: dev.path, destination: dev.path, fstype: '', flags: MS_BIND, flagNames: ['MS_BIND'], data: '', propagation: 0, attrSet: 0, attrClr: 0, isFile: true, remountFlags: 0, treeSlot: slot },
      );
      return;
    }
    if (isUserNs) {
      // mknod is not allowed in a user namespace: bind the host's node instead, as runc does
      steps.push({ stage: 'child', op: 'bind-device', hostPath: dev.path, path: dev.path });
      return;
    }
    const typeBits = dev.type === 'b' ? 0o060000 : dev.type === 'p' ? 0o010000 : 0o020000;
    steps.push({ stage: 'child', op: 'mknod', path: dev.path, mode: typeBits | (dev.fileMode & 0o7777), major: dev.major, minor: dev.minor, uid: dev.uid, gid: dev.gid, type: dev.type });
  });
  return steps;
}

export interface MountInfoLine {
  mountPoint: string;
  root: string;
  fstype: string;
}

export function readMountInfo(text = readFileSync('/proc/self/mountinfo', 'utf8')): MountInfoLine[] {
  const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  const out: MountInfoLine[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const [before, after] = line.split(' - ');
    const fields = before?.split(' ') ?? [];
    const fstype = after?.split(' ')[0];
    if (fields.length < 5 || !fstype) continue;
    out.push({ root: unescape(fields[3]!), mountPoint: unescape(fields[4]!), fstype });
  }
  return out;
}

/** With --no-pivot the host's mounts stay in the container's mount namespace, under its root:
 * every full procfs and sysfs of the host is detached first, or the kernel would let the
 * container mount a fresh, unmasked one (runc does the same). */
export function hostProcSysMounts(rootfsDir: string, mounts = readMountInfo()): string[] {
  const inRoot = (p: string) => p === rootfsDir || p.startsWith(rootfsDir.endsWith('/') ? rootfsDir : `${rootfsDir}/`);
  return mounts.filter((m) => m.root === '/' && (m.fstype === 'proc' || m.fstype === 'sysfs') && !inRoot(m.mountPoint)).map((m) => m.mountPoint);
}
