/**
 * What docker gives every Linux container unless told otherwise, taken from moby:
 *  - daemon/pkg/oci/defaults.go @ 5bc86836668eea9c23291e819844a543bad4e8ae (oci/defaults.go before
 *    moby's v2 layout): DefaultLinuxSpec's mounts, namespaces, masked and read-only paths, and the PATH;
 *  - daemon/pkg/oci/caps/defaults.go (oci/caps/defaults.go before): DefaultCapabilities;
 *  - daemon/oci_linux.go (WithMounts) and daemon/config (DefaultShmSize, DefaultIpcMode): the
 *    /dev/shm size.
 * The seccomp profile lives beside this file, in seccomp-default.ts.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseCpuList, type Mount, type NamespaceType, type Rlimit } from '../../oci/index.ts';

/** moby's caps.DefaultCapabilities(): the bounding, effective and permitted set of every container. */
export const DOCKER_DEFAULT_CAPABILITIES: readonly string[] = Object.freeze([
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
]);

/** DefaultLinuxSpec's linux.maskedPaths, before the per-CPU thermal_throttle ones (see dockerMaskedPaths). */
export const DOCKER_DEFAULT_MASKED_PATHS: readonly string[] = Object.freeze([
  '/proc/acpi',
  '/proc/asound',
  '/proc/interrupts', // GHSA-6fw5-f8r9-fgfm
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/sys/devices/virtual/powercap', // GHSA-jq35-85cj-fj4p
  '/sys/firmware',
]);

/** DefaultLinuxSpec's linux.readonlyPaths. */
export const DOCKER_DEFAULT_READONLY_PATHS: readonly string[] = Object.freeze(['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger']);

const mount = (destination: string, type: string, source: string, options: string[]): Readonly<Mount> =>
  Object.freeze({ destination, type, source, options: Object.freeze(options) as string[] });

/** DefaultLinuxSpec's mounts, in its order; the daemon adds size= to /dev/shm (see dockerDefaultMounts). */
export const DOCKER_DEFAULT_MOUNTS: readonly Readonly<Mount>[] = Object.freeze([
  mount('/proc', 'proc', 'proc', ['nosuid', 'noexec', 'nodev']),
  mount('/dev', 'tmpfs', 'tmpfs', ['nosuid', 'strictatime', 'mode=755', 'size=65536k']),
  mount('/dev/pts', 'devpts', 'devpts', ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5']),
  mount('/sys', 'sysfs', 'sysfs', ['nosuid', 'noexec', 'nodev', 'ro']),
  mount('/sys/fs/cgroup', 'cgroup', 'cgroup', ['ro', 'nosuid', 'noexec', 'nodev']),
  mount('/dev/mqueue', 'mqueue', 'mqueue', ['nosuid', 'noexec', 'nodev']),
  mount('/dev/shm', 'tmpfs', 'shm', ['nosuid', 'noexec', 'nodev', 'mode=1777']),
]);

/** DefaultLinuxSpec's linux.namespaces; the daemon adds cgroup for --cgroupns=private, its default on cgroup v2. */
export const DOCKER_DEFAULT_NAMESPACES: readonly NamespaceType[] = Object.freeze(['mount', 'network', 'uts', 'pid', 'ipc']);

/** daemon/config DefaultShmSize: 64 MiB, the size of /dev/shm without --shm-size. */
export const DOCKER_DEFAULT_SHM_SIZE = 64 * 1024 * 1024;

/** daemon/config DefaultIpcMode: each container gets its own IPC namespace and /dev/shm tmpfs. */
export const DOCKER_DEFAULT_IPC_MODE = 'private';

/** No rlimits: dockerd sets none unless started with --default-ulimit; containers inherit the runtime's. */
export const DOCKER_DEFAULT_ULIMITS: readonly Readonly<Rlimit>[] = Object.freeze([]);

/** oci.DefaultPathEnv("linux"): the PATH docker puts in the environment when the image sets none. */
export const DOCKER_DEFAULT_PATH_ENV = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** DOCKER_DEFAULT_MOUNTS as new objects, with /dev/shm sized as daemon/oci_linux.go does ("size=<bytes>"). */
export function dockerDefaultMounts(shmSize: number = DOCKER_DEFAULT_SHM_SIZE): Mount[] {
  return DOCKER_DEFAULT_MOUNTS.map((m) => ({
    ...m,
    options: m.destination === '/dev/shm' ? [...(m.options ?? []), `size=${shmSize}`] : [...(m.options ?? [])],
  }));
}

/**
 * DOCKER_DEFAULT_MASKED_PATHS plus /sys/devices/system/cpu/cpuN/thermal_throttle for each possible
 * CPU whose directory exists on the host, as moby's defaultLinuxMaskedPaths adds them.
 * `sysDir` is where the host's sysfs is (tests point it at a temp dir).
 */
export function dockerMaskedPaths(sysDir = '/sys'): string[] {
  const paths = [...DOCKER_DEFAULT_MASKED_PATHS];
  let possible: string;
  try {
    possible = readFileSync(join(sysDir, 'devices/system/cpu/possible'), 'utf8').trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return paths;
    throw err;
  }
  for (const cpu of parseCpuList(possible) ?? []) {
    const path = `devices/system/cpu/cpu${cpu}/thermal_throttle`;
    if (existsSync(join(sysDir, path))) paths.push(`/sys/${path}`);
  }
  return paths;
}
