import {
  absolutePath,
  arrayOf,
  boolean,
  child,
  entry,
  fail,
  int64,
  integer,
  item,
  object,
  oneOf,
  optional,
  required,
  string,
  stringArray,
  stringMap,
  uint32,
  userId,
  type Json,
} from './field-checks.ts';
import { ROOTFS_PROPAGATIONS } from './mount-options.ts';
import { NAMESPACE_TYPES } from './namespaces.ts';
import type { Device, Linux, Namespace, NamespaceType } from './types.ts';
import { idMappings } from './validate-idmap.ts';
import { checkResources } from './validate-resources.ts';
import { checkSeccomp } from './validate-seccomp.ts';

/** Where each namespace type appears in `linux.namespaces`. */
export type NamespaceIndex = Map<NamespaceType, { index: number; path: string | undefined }>;

const DEVICE_TYPES = ['c', 'b', 'u', 'p'] as const;

/** Check `linux` and the rules that tie its parts to its namespaces. */
export function checkLinux(value: unknown, path: string): { linux: Linux; namespaces: NamespaceIndex } {
  const linux = object(value, path);
  const namespaces = namespaceIndex(optional(linux, 'namespaces', path, arrayOf(namespace)) ?? [], child(path, 'namespaces'));

  const uidMappings = optional(linux, 'uidMappings', path, idMappings);
  const gidMappings = optional(linux, 'gidMappings', path, idMappings);
  checkUserNamespace(namespaces, path, { uidMappings, gidMappings });

  const timeOffsets = optional(linux, 'timeOffsets', path, timeOffsetMap);
  if (timeOffsets !== undefined && !namespaces.has('time')) {
    fail(child(path, 'timeOffsets'), 'set, but there is no time namespace in linux.namespaces', 'add {"type": "time"} to linux.namespaces');
  }

  optional(linux, 'devices', path, arrayOf(device));
  optional(linux, 'cgroupsPath', path, string);
  optional(linux, 'resources', path, checkResources);
  const sysctl = optional(linux, 'sysctl', path, stringMap);
  if (sysctl !== undefined) checkSysctl(sysctl, child(path, 'sysctl'), namespaces);
  optional(linux, 'seccomp', path, checkSeccomp);
  optional(linux, 'rootfsPropagation', path, oneOf(ROOTFS_PROPAGATIONS, 'propagation'));

  for (const key of ['maskedPaths', 'readonlyPaths']) {
    const paths = optional(linux, key, path, arrayOf(absolutePath('path')));
    if (paths !== undefined && paths.length > 0 && !namespaces.has('mount')) {
      fail(child(path, key), 'needs a mount namespace of the container\'s own', 'add {"type": "mount"} to linux.namespaces');
    }
  }
  optional(linux, 'mountLabel', path, string);
  optional(linux, 'personality', path, personality);
  optional(linux, 'intelRdt', path, intelRdt);
  return { linux: linux as Linux, namespaces };
}

function namespace(value: unknown, path: string): Namespace {
  const ns = object(value, path);
  required(ns, 'type', path, oneOf(NAMESPACE_TYPES, 'namespace type'));
  optional(ns, 'path', path, absolutePath('namespace file'));
  return ns as unknown as Namespace;
}

function namespaceIndex(list: Namespace[], path: string): NamespaceIndex {
  const index: NamespaceIndex = new Map();
  list.forEach((ns, i) => {
    const first = index.get(ns.type);
    if (first !== undefined) {
      fail(`${item(path, i)}.type`, `duplicate namespace ${JSON.stringify(ns.type)} (already at ${item(path, first.index)})`);
    }
    index.set(ns.type, { index: i, path: ns.path });
  });
  return index;
}

/**
 * Mappings go with a new user namespace: none to map without one, a joined one has its
 * own, and a new one without them would leave every id unmapped (runc refuses that too).
 */
function checkUserNamespace(namespaces: NamespaceIndex, path: string, mappings: Record<'uidMappings' | 'gidMappings', unknown>): void {
  const userns = namespaces.get('user');
  for (const key of ['uidMappings', 'gidMappings'] as const) {
    const isSet = mappings[key] !== undefined;
    if (isSet && userns === undefined) {
      fail(child(path, key), 'set, but there is no user namespace in linux.namespaces', 'add {"type": "user"} to linux.namespaces');
    }
    if (isSet && userns?.path !== undefined) {
      fail(
        child(path, key),
        `cannot be combined with joining the user namespace at linux.namespaces[${userns.index}].path`,
        'a joined user namespace already has its mappings: drop one of the two',
      );
    }
    if (!isSet && userns !== undefined && userns.path === undefined) {
      fail(
        child(path, key),
        `is required when linux.namespaces[${userns.index}] creates a user namespace`,
        `e.g. "${key}": [{"containerID": 0, "hostID": 100000, "size": 65536}]`,
      );
    }
  }
}

const CLOCKS = ['monotonic', 'boottime'] as const;

function timeOffsetMap(value: unknown, path: string): Json {
  const offsets = object(value, path);
  for (const [clock, offset] of Object.entries(offsets)) {
    const at = entry(path, clock);
    if (!(CLOCKS as readonly string[]).includes(clock)) fail(at, `unknown clock ${JSON.stringify(clock)} (expected one of ${CLOCKS.join(', ')})`);
    const o = object(offset, at);
    optional(o, 'secs', at, int64);
    optional(o, 'nanosecs', at, integer(0, 999_999_999, 'nanoseconds'));
  }
  return offsets;
}

function device(value: unknown, path: string): Device {
  const dev = object(value, path);
  const type = required(dev, 'type', path, oneOf(DEVICE_TYPES, 'device type'));
  required(dev, 'path', path, absolutePath('device path'));
  for (const key of ['major', 'minor']) {
    if (type === 'p') optional(dev, key, path, int64);
    else required(dev, key, path, int64, 'character and block devices need major and minor numbers');
  }
  optional(dev, 'fileMode', path, uint32);
  optional(dev, 'uid', path, userId);
  optional(dev, 'gid', path, userId);
  return dev as unknown as Device;
}

function personality(value: unknown, path: string): Json {
  const p = object(value, path);
  required(p, 'domain', path, oneOf(['LINUX', 'LINUX32'], 'personality domain'));
  optional(p, 'flags', path, stringArray);
  return p;
}

function intelRdt(value: unknown, path: string): Json {
  const rdt = object(value, path);
  const closId = optional(rdt, 'closID', path, string);
  if (closId !== undefined && (closId === '.' || closId === '..' || closId.includes('/'))) {
    fail(child(path, 'closID'), `${JSON.stringify(closId)} is not a valid resctrl group name`);
  }
  optional(rdt, 'l3CacheSchema', path, string);
  optional(rdt, 'memBwSchema', path, string);
  optional(rdt, 'enableCMT', path, boolean);
  optional(rdt, 'enableMBM', path, boolean);
  return rdt;
}

/** The sysctls that /proc/sys scopes to the ipc namespace (runc's list). */
const IPC_SYSCTLS = new Set([
  'kernel.msgmax',
  'kernel.msgmnb',
  'kernel.msgmni',
  'kernel.sem',
  'kernel.shmall',
  'kernel.shmmax',
  'kernel.shmmni',
  'kernel.shm_rmid_forced',
]);

/** "net/ipv4/conf/eth0.100/rp_filter" → "net.ipv4.conf.eth0/100.rp_filter" (sysctl.d(5)). */
export function normalizeSysctlKey(key: string): string {
  const first = key.search(/[./]/);
  if (first < 0 || key[first] === '.') return key;
  return key.replace(/[./]/g, (c) => (c === '.' ? '/' : '.'));
}

/**
 * runc's rule: a sysctl may be set only when the container has its own namespace for
 * it, since /proc/sys writes would otherwise change the host. A network namespace joined
 * by path is accepted here; whether that path is the host's own is for the runtime to check.
 */
function checkSysctl(sysctl: Record<string, string>, path: string, namespaces: NamespaceIndex): void {
  const need = (key: string, type: NamespaceType, what: string) => {
    if (!namespaces.has(type)) {
      fail(entry(path, key), `needs ${what} namespace of the container's own`, `add {"type": "${type}"} to linux.namespaces, or drop the sysctl`);
    }
  };
  for (const key of Object.keys(sysctl)) {
    const name = normalizeSysctlKey(key);
    if (IPC_SYSCTLS.has(name) || name.startsWith('fs.mqueue.')) need(key, 'ipc', 'an ipc');
    else if (name.startsWith('net.')) need(key, 'network', 'a network');
    else if (name === 'kernel.domainname') need(key, 'uts', 'a uts');
    else if (name === 'kernel.hostname') fail(entry(path, key), 'conflicts with the "hostname" field', 'set "hostname" instead');
    else fail(entry(path, key), 'is not namespaced: setting it would change the host', 'set it on the host instead, or drop it');
  }
}
