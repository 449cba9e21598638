import type { Mount, Namespace, RuntimeConfig } from './types.ts';

/** runtime-spec version berth writes and supports at most (what runc 1.2/1.3 write). */
export const OCI_VERSION = '1.2.1';

/** Lowest runtime-spec version berth reads. */
export const OCI_VERSION_MIN = '1.0.0';

export interface DefaultSpecOptions {
  /** The `runc spec --rootless` variant: a user namespace mapping root to the caller, no network namespace. */
  rootless?: boolean;
  /** Host uid/gid that container root maps to when rootless (default: this process's effective ids). */
  uid?: number;
  gid?: number;
  /**
   * Add a cgroup namespace. runc adds one when the host runs cgroup v2 (unified mode);
   * the caller knows the host, so it says.
   */
  cgroupNamespace?: boolean;
}

const DEFAULT_CAPABILITIES = ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'];

/**
 * The config.json that `runc spec` (or `runc spec --rootless`) writes, as of runc's
 * libcontainer/specconv Example() and ToRootless(): same fields, same order.
 */
export function defaultSpec(options: DefaultSpecOptions = {}): RuntimeConfig {
  const namespaces: Namespace[] = [{ type: 'pid' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }];
  if (options.cgroupNamespace === true) namespaces.push({ type: 'cgroup' });

  const spec: RuntimeConfig = {
    ociVersion: OCI_VERSION,
    process: {
      terminal: true,
      user: { uid: 0, gid: 0 },
      args: ['sh'],
      env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'TERM=xterm'],
      cwd: '/',
      capabilities: {
        bounding: [...DEFAULT_CAPABILITIES],
        effective: [...DEFAULT_CAPABILITIES],
        permitted: [...DEFAULT_CAPABILITIES],
      },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: 'rootfs', readonly: true },
    hostname: 'runc',
    mounts: defaultMounts(),
    linux: {
      resources: { devices: [{ allow: false, access: 'rwm' }] },
      namespaces,
      maskedPaths: [
        '/proc/acpi',
        '/proc/asound',
        '/proc/kcore',
        '/proc/keys',
        '/proc/latency_stats',
        '/proc/timer_list',
        '/proc/timer_stats',
        '/proc/sched_debug',
        '/sys/firmware',
        '/proc/scsi',
        '/sys/devices/virtual/tpm',
      ],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  };
  return options.rootless === true ? toRootless(spec, options) : spec;
}

function defaultMounts(): Mount[] {
  return [
    { destination: '/proc', type: 'proc', source: 'proc' },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
    },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] },
  ];
}

/**
 * runc's ToRootless: drop the network namespace, add a user namespace mapping container
 * root to the caller, bind /sys instead of mounting sysfs (a rootless user may not), drop
 * uid=/gid= mount options (ids that are not mapped) and all cgroup resources.
 * Like runc it keeps the /sys/fs/cgroup mount.
 */
function toRootless(spec: RuntimeConfig, options: DefaultSpecOptions): RuntimeConfig {
  const { resources: _dropped, namespaces = [], ...rest } = spec.linux ?? {};
  const uid = options.uid ?? process.geteuid?.() ?? 0;
  const gid = options.gid ?? process.getegid?.() ?? 0;
  // Key order as runc's JSON: uidMappings and gidMappings come first.
  spec.linux = {
    uidMappings: [{ containerID: 0, hostID: uid, size: 1 }],
    gidMappings: [{ containerID: 0, hostID: gid, size: 1 }],
    namespaces: [...namespaces.filter((ns) => ns.type !== 'network' && ns.type !== 'user'), { type: 'user' }],
    ...rest,
  };

  spec.mounts = (spec.mounts ?? []).map((m): Mount => {
    if (m.destination === '/sys') {
      return { destination: '/sys', type: 'none', source: '/sys', options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'] };
    }
    if (m.options === undefined) return m;
    return { ...m, options: m.options.filter((o) => !o.startsWith('uid=') && !o.startsWith('gid=')) };
  });
  return spec;
}
