/**
 * What `berth run` / `create` were asked (RunSpec), and the OCI config that makes of it and of
 * the image's config, with Docker's defaults: the capabilities, seccomp profile, masked and
 * read-only paths, mounts, /dev/shm, /etc/hosts, /etc/hostname, /etc/resolv.conf.
 */
import { BerthError } from '../common/index.ts';
import { defaultSpec, type IdMapping, type Mount, type RuntimeConfig, type Seccomp, type Rlimit, type Resources } from '../oci/index.ts';
import type { ContainerConfig } from '../image/index.ts';
import { DOCKER_DEFAULT_CAPABILITIES, DOCKER_DEFAULT_PATH_ENV, DOCKER_DEFAULT_READONLY_PATHS, dockerDefaultMounts, dockerMaskedPaths } from './defaults/docker-defaults.ts';
import { dockerSeccompProfile } from './defaults/seccomp-default.ts';
import { LIMITS_VIEW_ANNOTATION, ROOTFS_MOUNT_ANNOTATION, USER_ANNOTATION } from '../runtime/index.ts';
import type { ContainerPaths } from './container-paths.ts';
import type { PortBinding } from '../network/index.ts';
import type { VolumeSpec } from './volume-store.ts';

export interface BindSpec {
  source: string;
  target: string;
  readOnly: boolean;
  /** -v makes a missing host path; --mount refuses it. */
  createSource: boolean;
  propagation?: string;
}

export interface TmpfsSpec {
  target: string;
  /** tmpfs options: size=64m, mode=1777, … */
  options: string[];
  readOnly?: boolean;
}

export interface DeviceSpec {
  host: string;
  container: string;
  permissions: string;
}

export type RestartPolicy = { name: 'no' | 'always' | 'unless-stopped' } | { name: 'on-failure'; maxRetries: number };

/** What a container was asked to be (docker's Config + HostConfig, in berth's words). */
export interface RunSpec {
  /** The image as the user named it. */
  image: string;
  name?: string;
  /** The arguments after the image (docker's Cmd). */
  command?: string[];
  /** --entrypoint: replaces the image's ENTRYPOINT ([] clears it) and drops its CMD. */
  entrypoint?: string[];
  env?: string[];
  workdir?: string;
  user?: string;
  groupAdd?: string[];
  hostname?: string;
  domainname?: string;
  tty?: boolean;
  interactive?: boolean;
  autoRemove?: boolean;
  labels?: Record<string, string>;
  memory?: number;
  memorySwap?: number;
  memoryReservation?: number;
  /** --cpus as a number of CPUs (quota over period). */
  cpus?: number;
  cpuShares?: number;
  cpuQuota?: number;
  cpuPeriod?: number;
  cpusetCpus?: string;
  cpusetMems?: string;
  pidsLimit?: number;
  blkioWeight?: number;
  devices?: DeviceSpec[];
  readOnly?: boolean;
  tmpfs?: TmpfsSpec[];
  binds?: BindSpec[];
  /** -v NAME:/path, -v /path, --mount type=volume. */
  volumes?: VolumeSpec[];
  /** --volumes-from CONTAINER[:ro|rw]. */
  volumesFrom?: string[];
  capAdd?: string[];
  capDrop?: string[];
  privileged?: boolean;
  /** 'default' (docker's profile), 'unconfined', or a profile read from a file. */
  seccomp?: 'default' | 'unconfined' | { file: string; profile: Seccomp };
  noNewPrivileges?: boolean;
  init?: boolean;
  /** Whether the container sees its own limits in /proc and sysinfo(2) (default true). */
  limitsView?: boolean;
  ulimits?: { name: string; soft: number; hard: number }[];
  logDriver?: 'json-file' | 'none';
  logMaxSize?: number;
  logMaxFiles?: number;
  shmSize?: number;
  stopSignal?: string;
  stopTimeout?: number;
  restart?: RestartPolicy;
  network?: string;
  /** -p: ports published while the container runs. */
  publish?: PortBinding[];
  /** --expose: ports added to the image's EXPOSE (`80/tcp`). */
  expose?: string[];
  /** -P: every port the image exposes, on a free host port. */
  publishAll?: boolean;
  /** --ip, --mac-address, --network-alias: what the container asks of its network. */
  ip?: string;
  macAddress?: string;
  networkAliases?: string[];
  pid?: string;
  ipc?: string;
  uts?: string;
  userns?: string;
  uidMaps?: IdMapping[];
  gidMaps?: IdMapping[];
  addHosts?: string[];
  dns?: string[];
  dnsSearch?: string[];
  dnsOptions?: string[];
  platform?: string;
}

/** What the host offers that the config refers to. */
export interface HostView {
  /** Namespace paths of other containers for --pid/--ipc/--network container:X. */
  namespaceOf(container: string, type: 'pid' | 'ipc' | 'network' | 'uts'): string;
  /** The static berth-init bound in as /dev/init for --init. */
  initBinary: string;
  /** A device node of the host (--device): its type and numbers. */
  device(path: string): { type: 'c' | 'b'; major: number; minor: number; fileMode: number };
  arch: string;
}

export interface ImageInfo {
  config: ContainerConfig;
}

/** docker's rules: --entrypoint replaces ENTRYPOINT and drops the image's CMD; arguments replace CMD. */
export function containerArgs(image: ContainerConfig, spec: RunSpec): string[] {
  const entrypoint = spec.entrypoint ?? image.Entrypoint ?? [];
  const cmd = spec.command?.length ? spec.command : spec.entrypoint !== undefined ? [] : (image.Cmd ?? []);
  const args = [...entrypoint, ...cmd];
  if (args.length === 0) throw new BerthError('INVALID_ARGUMENT', 'No command specified', { hint: 'give a command after the image, or use an image with CMD or ENTRYPOINT' });
  return args;
}

/** The container's environment: the image's, then -e / --env-file (later wins), PATH and
 * HOSTNAME as docker sets them, TERM for a terminal. */
export function containerEnv(image: ContainerConfig, spec: RunSpec, hostname: string): string[] {
  const env = new Map<string, string>();
  const put = (entry: string) => {
    const eq = entry.indexOf('=');
    if (eq <= 0) return;
    env.set(entry.slice(0, eq), entry);
  };
  put(`PATH=${DOCKER_DEFAULT_PATH_ENV}`);
  put(`HOSTNAME=${hostname}`);
  for (const e of image.Env ?? []) put(e);
  if (spec.tty) put('TERM=xterm');
  for (const e of spec.env ?? []) put(e);
  return [...env.values()];
}

const CAP_PREFIX = (c: string) => (c.toUpperCase().startsWith('CAP_') ? c.toUpperCase() : `CAP_${c.toUpperCase()}`);

/** docker's capability set: the default 14, --cap-add (ALL: every one), --cap-drop (ALL: none). */
export function containerCapabilities(spec: RunSpec, all: readonly string[]): string[] {
  if (spec.privileged) return [...all];
  let caps = new Set<string>(DOCKER_DEFAULT_CAPABILITIES);
  const drop = (spec.capDrop ?? []).map(CAP_PREFIX);
  const add = (spec.capAdd ?? []).map(CAP_PREFIX);
  if (drop.includes('CAP_ALL')) caps = new Set();
  for (const c of drop) caps.delete(c);
  if (add.includes('CAP_ALL')) caps = new Set(all);
  for (const c of add) if (c !== 'CAP_ALL') caps.add(c);
  // none the host cannot give (a default it lacks is left out, as the runtime would refuse it)
  return [...caps].filter((c) => all.includes(c));
}

/** The network namespace a spec asks for: the host's, another container's, or (undefined) one of
 * its own (none, or a network of berth's, which the engine makes at start). */
function networkNamespaceOf(spec: RunSpec): string | undefined {
  const n = spec.network;
  return n === 'host' || n?.startsWith('container:') ? n : undefined;
}

function namespaceMode(value: string | undefined, flag: string): { kind: 'private' | 'host' | 'container' | 'shareable'; target?: string } {
  if (value === undefined || value === '' || value === 'private') return { kind: 'private' };
  if (value === 'host') return { kind: 'host' };
  if (value === 'shareable') return { kind: 'shareable' };
  if (value.startsWith('container:') && value.length > 'container:'.length) return { kind: 'container', target: value.slice('container:'.length) };
  throw new BerthError('INVALID_ARGUMENT', `invalid ${flag} value ${JSON.stringify(value)}: use host${flag === '--ipc' ? ', shareable, private' : ''} or container:<name|id>`);
}

/** The cgroup limits a spec asks for (docker's flags in OCI terms). */
export function resourcesOf(spec: RunSpec): Resources {
  const r: Resources = {};
  if (spec.memory !== undefined || spec.memorySwap !== undefined || spec.memoryReservation !== undefined) {
    r.memory = {};
    if (spec.memory !== undefined) r.memory.limit = spec.memory;
    if (spec.memoryReservation !== undefined) r.memory.reservation = spec.memoryReservation;
    // docker: --memory-swap is memory + swap; unset with --memory means twice the memory; -1 unlimited
    if (spec.memorySwap !== undefined) r.memory.swap = spec.memorySwap;
    else if (spec.memory !== undefined && spec.memory > 0) r.memory.swap = spec.memory * 2;
  }
  const cpu: NonNullable<Resources['cpu']> = {};
  if (spec.cpuShares !== undefined) cpu.shares = spec.cpuShares;
  if (spec.cpus !== undefined) {
    cpu.period = 100_000;
    cpu.quota = Math.round(spec.cpus * 100_000);
  }
  if (spec.cpuQuota !== undefined) cpu.quota = spec.cpuQuota;
  if (spec.cpuPeriod !== undefined) cpu.period = spec.cpuPeriod;
  if (spec.cpusetCpus !== undefined) cpu.cpus = spec.cpusetCpus;
  if (spec.cpusetMems !== undefined) cpu.mems = spec.cpusetMems;
  if (Object.keys(cpu).length) r.cpu = cpu;
  if (spec.pidsLimit !== undefined) r.pids = { limit: spec.pidsLimit };
  if (spec.blkioWeight !== undefined) r.blockIO = { weight: spec.blkioWeight };
  return r;
}

const RLIMIT_NAMES: Record<string, string> = {
  core: 'RLIMIT_CORE', cpu: 'RLIMIT_CPU', data: 'RLIMIT_DATA', fsize: 'RLIMIT_FSIZE', locks: 'RLIMIT_LOCKS', memlock: 'RLIMIT_MEMLOCK',
  msgqueue: 'RLIMIT_MSGQUEUE', nice: 'RLIMIT_NICE', nofile: 'RLIMIT_NOFILE', nproc: 'RLIMIT_NPROC', rss: 'RLIMIT_RSS', rtprio: 'RLIMIT_RTPRIO',
  rttime: 'RLIMIT_RTTIME', sigpending: 'RLIMIT_SIGPENDING', stack: 'RLIMIT_STACK', as: 'RLIMIT_AS',
};

export function rlimitOf(name: string): string {
  const type = RLIMIT_NAMES[name.toLowerCase()];
  if (!type) throw new BerthError('INVALID_ARGUMENT', `invalid ulimit type: ${name}`, { hint: `one of ${Object.keys(RLIMIT_NAMES).join(', ')}` });
  return type;
}

/**
 * The OCI config of a container. The root is the image's overlay (an annotation the runtime
 * mounts in the container's own mount namespace), everything else Docker's defaults and the spec.
 */
export function containerConfig(image: ImageInfo, spec: RunSpec, paths: ContainerPaths, host: HostView, rootMount: { type: string; source: string; options: string[]; cwd?: string | undefined }, allCaps: readonly string[]): RuntimeConfig {
  const config = defaultSpec();
  const hostname = spec.hostname ?? '';
  const caps = containerCapabilities(spec, allCaps);
  config.root = { path: paths.rootfsDir, readonly: spec.readOnly === true };
  config.hostname = hostname;
  if (spec.domainname) config.domainname = spec.domainname;
  config.annotations = { [ROOTFS_MOUNT_ANNOTATION]: JSON.stringify(rootMount) };
  const args = containerArgs(image.config, spec);
  const process = config.process!;
  process.terminal = spec.tty === true;
  process.args = spec.init ? ['/dev/init', '--', ...args] : args;
  process.env = containerEnv(image.config, spec, hostname);
  process.cwd = spec.workdir || image.config.WorkingDir || '/';
  if (!process.cwd.startsWith('/')) {
    throw new BerthError('INVALID_ARGUMENT', `the working directory '${process.cwd}' is invalid, it needs to be an absolute path`, { hint: 'the image\'s WorkingDir is relative: give -w /some/dir' });
  }
  // a named user is looked up by berth-init in the container's own /etc/passwd and /etc/group
  process.user = { uid: 0, gid: 0 };
  // (no user: root, with the groups /etc/group lists root in, as docker gives it)
  config.annotations[LIMITS_VIEW_ANNOTATION] = spec.limitsView === false ? 'false' : 'true';
  config.annotations[USER_ANNOTATION] = JSON.stringify({ user: spec.user || image.config.User || '0', groups: spec.groupAdd ?? [] });
  process.capabilities = { bounding: caps, effective: caps, permitted: caps };
  process.noNewPrivileges = spec.noNewPrivileges === true;
  process.rlimits = (spec.ulimits ?? []).map((u): Rlimit => ({ type: rlimitOf(u.name), soft: u.soft, hard: u.hard }) as Rlimit);
  if (!process.rlimits.length) delete process.rlimits;
  process.oomScoreAdj = 0;

  // mounts: docker's defaults, /dev/shm sized, --tmpfs, -v binds, the per-container /etc files
  const mounts: Mount[] = dockerDefaultMounts(spec.shmSize);
  if (spec.privileged) for (const m of mounts) if (m.type === 'sysfs' || m.type === 'cgroup') m.options = (m.options ?? []).filter((o) => o !== 'ro');
  for (const t of spec.tmpfs ?? []) mounts.push({ destination: t.target, type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'noexec', ...t.options] });
  for (const b of spec.binds ?? []) {
    // read-only all the way down (mount_setattr MOUNT_ATTR_RDONLY with AT_RECURSIVE, as docker
    // 25 does): a mount under the source is no way to write
    mounts.push({ destination: b.target, type: 'bind', source: b.source, options: ['rbind', ...(b.readOnly ? ['ro', 'rro'] : []), ...(b.propagation ? [b.propagation] : [])] });
  }
  const etc = (destination: string, source: string) => ({ destination, type: 'bind', source, options: ['rbind', 'rprivate'] });
  const network = namespaceMode(networkNamespaceOf(spec), '--network');
  if (network.kind !== 'host') {
    mounts.push(etc('/etc/hostname', paths.hostnamePath));
    mounts.push(etc('/etc/hosts', paths.hostsPath));
  }
  mounts.push(etc('/etc/resolv.conf', paths.resolvConfPath));
  if (spec.init) mounts.push({ destination: '/dev/init', type: 'bind', source: host.initBinary, options: ['bind', 'ro'] });
  config.mounts = mounts;

  const linux = config.linux!;
  linux.resources = { ...resourcesOf(spec), devices: [{ allow: spec.privileged === true, access: 'rwm' }] };
  linux.devices = [];
  for (const d of spec.devices ?? []) {
    const dev = host.device(d.host);
    linux.devices.push({ path: d.container, type: dev.type, major: dev.major, minor: dev.minor, fileMode: dev.fileMode, uid: 0, gid: 0 });
    linux.resources.devices!.push({ allow: true, type: dev.type, major: dev.major, minor: dev.minor, access: d.permissions });
  }
  if (!linux.devices.length) delete linux.devices;
  linux.maskedPaths = spec.privileged ? [] : dockerMaskedPaths();
  linux.readonlyPaths = spec.privileged ? [] : [...DOCKER_DEFAULT_READONLY_PATHS];
  if (spec.seccomp === 'unconfined' || spec.privileged) delete linux.seccomp;
  else if (spec.seccomp && typeof spec.seccomp === 'object') linux.seccomp = spec.seccomp.profile;
  else linux.seccomp = dockerSeccompProfile({ capabilities: caps, arch: host.arch });

  // namespaces: mount, network, uts, pid, ipc (and cgroup), or joined / the host's
  type Ns = NonNullable<typeof linux.namespaces>[number];
  const namespaces: Ns[] = [{ type: 'mount' }, { type: 'cgroup' }];
  const joinOrNew = (type: 'pid' | 'ipc' | 'network' | 'uts', value: string | undefined, flag: string) => {
    const mode = namespaceMode(value, flag);
    if (mode.kind === 'host') return;
    if (mode.kind === 'container') namespaces.push({ type, path: host.namespaceOf(mode.target!, type) });
    else namespaces.push({ type });
  };
  joinOrNew('network', networkNamespaceOf(spec), '--network');
  joinOrNew('pid', spec.pid, '--pid');
  joinOrNew('ipc', spec.ipc, '--ipc');
  if (namespaceMode(spec.uts, '--uts').kind === 'host') {
    delete config.hostname;
  } else {
    namespaces.push({ type: 'uts' });
  }
  if (spec.uidMaps?.length) {
    namespaces.push({ type: 'user' });
    linux.uidMappings = spec.uidMaps;
    linux.gidMappings = spec.gidMaps?.length ? spec.gidMaps : spec.uidMaps;
  }
  linux.namespaces = namespaces;
  // docker's pid namespace shares /proc with the host's when --pid host: nothing to mask there
  return config;
}
