/**
 * `create`: a container record, its directory and its bundle, from an image and a RunSpec.
 *
 * Everything that can be refused (flags, the image, binds, devices, the name) is refused
 * before anything is made. The record is written first (name taken, image pinned, layers kept)
 * and then the directory: a command killed in between leaves a record that `rm -f` and
 * `system check` remove whole. A failure after the record removes what it made.
 */
import { chmod, chown, mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { readFileSync, statSync } from 'node:fs';
import { isAbsolute, join, normalize } from 'node:path';
import { BerthError, isErrno } from '../common/index.ts';
import { CAPABILITIES, type IdMapping, type RuntimeConfig } from '../oci/index.ts';
import { formatPlatform, hostPlatform, parsePlatform, type ContainerConfig, type Platform } from '../image/index.ts';
import { overlayMount, type MountSpec } from '../storage/index.ts';
import type { EngineContext } from './container-context.ts';
import { containerPaths, type ContainerPaths } from './container-paths.ts';
import { containerArgs, containerConfig, type HostView, type RunSpec } from './container-spec.ts';
import { checkHostname, hostsFile, resolvConf } from './container-etc.ts';
import { newContainerId, validateName, type ContainerRecord } from './container-store.ts';
import { imageContainerConfig, noSuchImage, type ImageRecord } from './image-store.ts';
import { pull, type PullEvent } from './image-pull.ts';
import { ensureLayersUnpacked } from './image-commit.ts';
import { checkRunNetwork, networkMode, recordEndpoint } from './networks.ts';
import { planVolumes, prepareVolumes, recordVolumes, removeVolume, volumeData, type PlannedVolume } from './volumes.ts';
import { fuseAvailable } from '../runtime/index.ts';
import type { NetworkRecord } from './network-store.ts';

export type PullPolicy = 'missing' | 'always' | 'never';

export type CreateEvent = { type: 'image-missing'; imageRef: string } | { type: 'pull'; event: PullEvent };

export interface CreateOptions {
  /** When to pull the image (docker's --pull; default missing). */
  pull?: PullPolicy;
  /** The container stays locked by this process after create (a run starts it next; it must
   * release it with `ctx.containers.release`). */
  keepLock?: boolean;
  onEvent?: (event: CreateEvent) => void;
}

export interface CreateResult {
  record: ContainerRecord;
  /** What the container gets differently from what was asked (said to the user, as docker does). */
  warnings: string[];
}

/** The image a run names, pulled per the policy. */
export async function imageForRun(ctx: EngineContext, spec: RunSpec, opts: CreateOptions): Promise<ImageRecord> {
  const policy = opts.pull ?? 'missing';
  const platform = spec.platform ? parsePlatform(spec.platform) : undefined;
  let image = policy === 'always' ? undefined : ctx.store.find(spec.image);
  if (image && platform && !samePlatform(image, platform)) {
    if (policy === 'never') throw wrongPlatform(spec.image, platform, image);
    image = undefined;
  }
  if (!image) {
    if (policy === 'never') throw noSuchImage(spec.image);
    if (policy === 'missing') opts.onEvent?.({ type: 'image-missing', imageRef: spec.image });
    const pulled = await pull(ctx, spec.image, {
      insecureRegistries: ctx.insecureRegistries,
      ...(platform ? { platform } : {}),
      ...(opts.onEvent ? { onProgress: (event: PullEvent) => opts.onEvent!({ type: 'pull', event }) } : {}),
    });
    image = ctx.store.resolve(pulled.id);
  }
  if (platform && !samePlatform(image, platform)) throw wrongPlatform(spec.image, platform, image);
  return image;
}

function samePlatform(image: ImageRecord, p: Platform): boolean {
  return image.os === p.os && image.architecture === p.architecture && (!p.variant || image.variant === p.variant);
}

function wrongPlatform(imageRef: string, wanted: Platform, image: ImageRecord): BerthError {
  const actual = formatPlatform({ os: image.os, architecture: image.architecture, ...(image.variant ? { variant: image.variant } : {}) });
  return new BerthError('CONFLICT', `image with reference ${imageRef} was found but does not match the specified platform: wanted ${formatPlatform(wanted)}, actual: ${actual}`);
}

/**
 * The capabilities a container can be given (docker's ALL): those of this kernel that this
 * process's bounding set still holds (a host whose root lacks one cannot pass it on).
 */
export function kernelCapabilities(): string[] {
  let bounding = (1n << 64n) - 1n;
  let last = 40;
  try {
    last = Number(readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8').trim());
    const line = readFileSync('/proc/self/status', 'utf8').split('\n').find((l) => l.startsWith('CapBnd:'));
    if (line) bounding = BigInt(`0x${line.split(/\s+/)[1]}`);
  } catch {
    // no procfs: berth's own table
  }
  return Object.entries(CAPABILITIES)
    .filter(([, n]) => n <= last && (bounding >> BigInt(n)) & 1n)
    .map(([name]) => name);
}

function hostDevice(path: string): ReturnType<HostView['device']> {
  let st;
  try {
    st = statSync(path);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) throw new BerthError('NOT_FOUND', `error gathering device information while adding custom device "${path}": no such file or directory`);
    throw err;
  }
  if (!st.isCharacterDevice() && !st.isBlockDevice()) throw new BerthError('INVALID_ARGUMENT', `error gathering device information while adding custom device "${path}": not a device node`);
  const rdev = st.rdev;
  // glibc's major/minor of a 64-bit dev_t
  const major = Number((BigInt(rdev) >> 8n) & 0xfffn) | Number((BigInt(rdev) >> 32n) & ~0xfffn);
  const minor = Number(BigInt(rdev) & 0xffn) | Number((BigInt(rdev) >> 12n) & ~0xffn);
  return { type: st.isCharacterDevice() ? 'c' : 'b', major, minor, fileMode: st.mode & 0o7777 };
}

/** Refuses what docker refuses in a spec, with its words, before anything is made. */
export function checkRunSpec(spec: RunSpec, allCaps: readonly string[]): void {
  // every string of a spec ends up a C string of berth-init's: none may hold a NUL
  const hasNul = (v: unknown): boolean =>
    typeof v === 'string' ? v.includes('\0') : Array.isArray(v) ? v.some(hasNul) : v !== null && typeof v === 'object' ? Object.entries(v).some(([k, x]) => k.includes('\0') || hasNul(x)) : false;
  if (hasNul(spec)) throw new BerthError('INVALID_ARGUMENT', 'a NUL character in an argument, variable, name or path cannot be passed to a container');
  if (spec.name !== undefined && spec.name !== '') validateName(spec.name);
  if (spec.hostname) checkHostname(spec.hostname);
  for (const cap of [...(spec.capAdd ?? []), ...(spec.capDrop ?? [])]) {
    const name = cap.toUpperCase().startsWith('CAP_') ? cap.toUpperCase() : `CAP_${cap.toUpperCase()}`;
    if (name !== 'CAP_ALL' && !Object.hasOwn(CAPABILITIES, name)) throw new BerthError('INVALID_ARGUMENT', `invalid capability: unknown capability: "${name}"`);
  }
  for (const cap of spec.capAdd ?? []) {
    const name = cap.toUpperCase().startsWith('CAP_') ? cap.toUpperCase() : `CAP_${cap.toUpperCase()}`;
    if (name !== 'CAP_ALL' && !allCaps.includes(name)) {
      throw new BerthError('PERMISSION_DENIED', `cannot add capability ${name}: berth does not hold it (this host's bounding set lacks it)`);
    }
  }
  if (spec.memory !== undefined && spec.memory !== 0 && spec.memory < 6 * 1024 * 1024) {
    throw new BerthError('INVALID_ARGUMENT', 'Minimum memory limit allowed is 6MB');
  }
  if (spec.memorySwap !== undefined && spec.memorySwap > 0 && spec.memory !== undefined && spec.memorySwap < spec.memory) {
    throw new BerthError('INVALID_ARGUMENT', 'Minimum memoryswap limit should be larger than memory limit, see usage');
  }
  if (spec.memorySwap !== undefined && spec.memorySwap > 0 && !spec.memory) {
    throw new BerthError('INVALID_ARGUMENT', 'You should always set the Memory limit when using Memoryswap limit, see usage');
  }
  if (spec.cpus !== undefined && (spec.cpuQuota !== undefined || spec.cpuPeriod !== undefined)) {
    throw new BerthError('INVALID_ARGUMENT', 'Conflicting options: Nano CPUs and CPU Period cannot both be set');
  }
  if (spec.autoRemove && spec.restart && spec.restart.name !== 'no') {
    throw new BerthError('INVALID_ARGUMENT', 'Conflicting options: --restart and --rm');
  }
  if (spec.workdir !== undefined && spec.workdir !== '' && !spec.workdir.startsWith('/')) {
    throw new BerthError('INVALID_ARGUMENT', `the working directory '${spec.workdir}' is invalid, it needs to be an absolute path`);
  }
  const targets = new Set<string>();
  const target = (t: string, flag: string) => {
    if (!isAbsolute(t)) throw new BerthError('INVALID_ARGUMENT', `invalid mount config for ${flag}: mount path must be absolute: ${t}`);
    const n = normalize(t).replace(/\/+$/, '') || '/';
    if (n === '/') throw new BerthError('INVALID_ARGUMENT', `invalid mount config for ${flag}: invalid specification: destination can't be '/'`);
    if (targets.has(n)) throw new BerthError('INVALID_ARGUMENT', `Duplicate mount point: ${n}`);
    targets.add(n);
  };
  for (const b of spec.binds ?? []) {
    target(b.target, 'bind');
    if (!isAbsolute(b.source)) throw new BerthError('INVALID_ARGUMENT', `invalid mount config for type "bind": invalid mount path: '${b.source}' mount path must be absolute`);
  }
  for (const v of spec.volumes ?? []) target(v.target, 'volume');
  for (const t of spec.tmpfs ?? []) target(t.target, 'tmpfs');
  if (spec.userns === 'auto' && (spec.uidMaps?.length || spec.gidMaps?.length)) {
    throw new BerthError('INVALID_ARGUMENT', '--userns auto cannot be combined with --uidmap or --gidmap');
  }
  if (spec.userns === 'host' && (spec.uidMaps?.length || spec.gidMaps?.length)) {
    throw new BerthError('INVALID_ARGUMENT', '--userns host cannot be combined with --uidmap or --gidmap');
  }
  if (spec.gidMaps?.length && !spec.uidMaps?.length) throw new BerthError('INVALID_ARGUMENT', '--gidmap needs --uidmap too');
  for (const [flag, maps] of [['--uidmap', spec.uidMaps], ['--gidmap', spec.gidMaps]] as const) {
    if (!maps?.length) continue;
    for (const m of maps) {
      if (m.size < 1 || m.hostID + m.size - 1 > 0x7fffffff || m.containerID + m.size - 1 > 0x7fffffff) {
        throw new BerthError('INVALID_ARGUMENT', `${flag} ${m.containerID}:${m.hostID}:${m.size}: ids must be from 0 to 2147483647 and the size at least 1`);
      }
    }
    // the container's root must be someone: berth sets up the container as its uid 0
    if (!maps.some((m) => m.containerID === 0)) throw new BerthError('INVALID_ARGUMENT', `${flag}: the mapping must include container id 0 (the container's root)`);
  }
  if ((spec.userns === 'auto' || spec.uidMaps?.length) && spec.network === 'host') {
    throw new BerthError('INVALID_ARGUMENT', 'a user-namespaced container cannot use --network host', { hint: 'use --network none, or --userns host' });
  }
}

/** The merged Config docker's inspect shows. */
function dockerConfig(imageConfig: ContainerConfig, spec: RunSpec, hostname: string, env: string[], args: string[]): Record<string, unknown> {
  const entrypoint = spec.entrypoint ?? imageConfig.Entrypoint ?? null;
  const cmd = args.slice(entrypoint?.length ?? 0);
  return {
    Hostname: hostname,
    Domainname: spec.domainname ?? '',
    User: spec.user ?? imageConfig.User ?? '',
    AttachStdin: spec.interactive === true,
    AttachStdout: true,
    AttachStderr: true,
    Tty: spec.tty === true,
    OpenStdin: spec.interactive === true,
    StdinOnce: false,
    Env: env,
    Cmd: cmd.length ? cmd : null,
    Image: spec.image,
    Volumes: imageConfig.Volumes ?? null,
    WorkingDir: spec.workdir || imageConfig.WorkingDir || '',
    Entrypoint: entrypoint?.length ? entrypoint : null,
    OnBuild: imageConfig.OnBuild ?? null,
    Labels: { ...(imageConfig.Labels ?? {}), ...(spec.labels ?? {}) },
    ...(imageConfig.ExposedPorts || spec.expose?.length ? { ExposedPorts: { ...(imageConfig.ExposedPorts ?? {}), ...Object.fromEntries((spec.expose ?? []).map((p) => [p, {}])) } } : {}),
    ...(spec.stopSignal ?? imageConfig.StopSignal ? { StopSignal: spec.stopSignal ?? imageConfig.StopSignal } : {}),
    ...(spec.stopTimeout !== undefined ? { StopTimeout: spec.stopTimeout } : {}),
  };
}

/** What a container will be made of: checked and computed, nothing written. */
export interface ContainerPlan {
  /** The spec as the container gets it (--userns auto's ids chosen). */
  spec: RunSpec;
  id: string;
  name: string;
  image: ImageRecord;
  paths: ContainerPaths;
  rootMount: MountSpec;
  config: RuntimeConfig;
  dockerConfig: Record<string, unknown>;
  hostname: string;
  files: { path: string; content: string }[];
  /** The network of berth's the container joins at start (none for none, host, container:X). */
  network: NetworkRecord | undefined;
  /** Its volumes (made when missing, filled from the image when new and empty). */
  volumes: PlannedVolume[];
  /** The image's layer dirs, top-most first (for copy-up). */
  lowerDirs: string[];
  warnings: string[];
}

function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return false;
    throw err;
  }
}

/** --userns auto: a block of 65536 host ids of its own, not used by another container. */
const AUTO_USERNS_BASE = 1_000_000;
const AUTO_USERNS_SIZE = 65536;
const AUTO_USERNS_BLOCKS = Math.floor((0x7fffffff - AUTO_USERNS_BASE) / AUTO_USERNS_SIZE);

function autoUserns(ctx: EngineContext): IdMapping[] {
  const used = new Set<number>();
  for (const rec of ctx.containers.list()) for (const m of rec.spec.uidMaps ?? []) used.add(m.hostID);
  // random, not the lowest free: two runs that plan at the same moment do not pick the same one
  for (let tries = 0; tries < 1000; tries++) {
    const hostID = AUTO_USERNS_BASE + Math.floor(Math.random() * AUTO_USERNS_BLOCKS) * AUTO_USERNS_SIZE;
    if (!used.has(hostID)) return [{ containerID: 0, hostID, size: AUTO_USERNS_SIZE }];
  }
  throw new BerthError('UNAVAILABLE', '--userns auto: no free range of host ids is left');
}

/** The host id of container id 0 under `maps`. */
function hostRootOf(maps: IdMapping[] | undefined): number | undefined {
  return maps?.find((m) => m.containerID === 0)?.hostID;
}

export async function planContainer(ctx: EngineContext, requested: RunSpec, image: ImageRecord): Promise<ContainerPlan> {
  const allCaps = kernelCapabilities();
  checkRunSpec(requested, allCaps);
  // --userns auto is resolved once, here, and kept in the record (a restart keeps its ids)
  const spec: RunSpec = requested.userns === 'auto' && !requested.uidMaps?.length ? { ...requested, uidMaps: autoUserns(ctx) } : requested;
  if (spec.uidMaps?.length && !spec.gidMaps?.length) spec.gidMaps = spec.uidMaps;
  for (const b of spec.binds ?? []) {
    if (!b.createSource && !exists(b.source)) throw new BerthError('NOT_FOUND', `invalid mount config for type "bind": bind source path does not exist: ${b.source}`);
  }
  const id = newContainerId();
  const paths = containerPaths(ctx.paths, id);
  const hostname = spec.hostname || id.slice(0, 12);
  const chainIds = image.layers.map((l) => l.chainId);
  let rootMount: MountSpec;
  let lowerDirs: string[] = [];
  if (chainIds.length) {
    // a committed image's newest layer is a blob until the image is first run
    await ensureLayersUnpacked(ctx, image);
    const lower = await ctx.layers.lowerDirs(chainIds);
    lowerDirs = lower.lowerDirs;
    rootMount = overlayMount({ ...lower, upperDir: paths.upperDir, workDir: paths.workDir });
  } else {
    // an image of no layers (an empty import): the upper dir alone, over an empty lower
    rootMount = overlayMount({ lowerDirs: [join(paths.dir, 'empty')], upperDir: paths.upperDir, workDir: paths.workDir });
  }
  const imageConfig = imageContainerConfig(image);
  const host: HostView = {
    namespaceOf: (ref, type) => namespacePath(ctx, ref, type),
    initBinary: '',
    device: hostDevice,
    arch: process.arch,
  };
  if (spec.init) {
    const { staticInitBinaryPath } = await import('../native/index.ts');
    host.initBinary = staticInitBinaryPath();
  }
  // volumes: those asked for, the image's VOLUMEs, and --volumes-from's (whose binds join ours)
  const planned = planVolumes(ctx, spec.volumes ?? [], Object.keys(imageConfig.Volumes ?? {}), [...(spec.binds ?? []).map((b) => b.target), ...(spec.tmpfs ?? []).map((t) => t.target)], spec.volumesFrom ?? []);
  if (planned.binds.length) spec.binds = [...(spec.binds ?? []), ...planned.binds.map((b) => ({ ...b, createSource: false }))];
  // the limits view needs FUSE: a host without it runs containers with the kernel's figures (said
  // as a warning) unless the view was asked for by name
  const noView = spec.limitsView === undefined && !fuseAvailable();
  if (noView) spec.limitsView = false;
  const config = containerConfig({ config: imageConfig }, { ...spec, hostname }, paths, host, rootMount, allCaps);
  for (const v of planned.volumes) {
    config.mounts!.push({ destination: v.target, type: 'bind', source: volumeData(ctx, v.name), options: ['rbind', ...(v.readOnly ? ['ro', 'rro'] : []), 'rprivate'] });
  }
  config.mounts = orderMounts(config.mounts!, new Set([...(spec.binds ?? []).map((b) => b.target), ...planned.volumes.map((v) => v.target), ...(spec.tmpfs ?? []).map((t) => t.target), '/etc/hostname', '/etc/hosts', '/etc/resolv.conf', '/dev/init']));
  config.linux!.cgroupsPath = `${ctx.paths.cgroupParent}/${id}`;
  const args = containerArgs(imageConfig, spec);
  const mode = networkMode(spec.network);
  const net = checkRunNetwork(ctx, spec.network, {
    ...(spec.ip !== undefined ? { ip: spec.ip } : {}),
    ...(spec.macAddress !== undefined ? { mac: spec.macAddress } : {}),
    ...(spec.networkAliases ? { aliases: spec.networkAliases } : {}),
  });
  const warnings: string[] = [];
  if (noView) warnings.push('The limits view is off: this host has no FUSE (/dev/fuse), so the container sees the host\'s figures in /proc');
  if ((spec.publish?.length || spec.publishAll) && !net) warnings.push(`Published ports are discarded when using ${mode.kind === 'host' ? 'host' : mode.kind === 'none' ? 'none' : 'container'} network mode`);
  const files = [{ path: paths.hostnamePath, content: `${hostname}\n` }];
  if (net) {
    files.push({ path: paths.hostsPath, content: hostsFile({ ...(spec.addHosts ? { addHosts: spec.addHosts } : {}), hostGateway: net.gateway }) });
    // a user network resolves its containers' names (its DNS server is on the gateway); docker's
    // default bridge does not, and gets the host's resolvers
    const userNetwork = net.name !== 'bridge';
    const base = resolvConf(readHostFile('/etc/resolv.conf'), spec);
    files.push({ path: paths.resolvConfPath, content: userNetwork ? withNameserverFirst(base, net.gateway, spec.dns?.length ? spec.dns : []) : base });
  } else if (mode.kind === 'host') {
    files.push({ path: paths.hostsPath, content: readHostFile('/etc/hosts') + (spec.addHosts?.length ? hostsFile({ addHosts: spec.addHosts, hostGateway: '127.0.0.1' }).split('\n').slice(6).join('\n') : '') });
    files.push({ path: paths.resolvConfPath, content: spec.dns?.length || spec.dnsSearch?.length || spec.dnsOptions?.length ? resolvConf(readHostFile('/etc/resolv.conf'), spec) : readHostFile('/etc/resolv.conf') });
  } else {
    files.push({ path: paths.hostsPath, content: hostsFile({ ...(spec.addHosts ? { addHosts: spec.addHosts } : {}) }) });
    files.push({ path: paths.resolvConfPath, content: resolvConf(readHostFile('/etc/resolv.conf'), spec) });
  }
  return {
    spec,
    id,
    name: spec.name ? validateName(spec.name) : '',
    image,
    paths,
    rootMount,
    config,
    dockerConfig: dockerConfig(imageConfig, spec, hostname, config.process!.env ?? [], args),
    hostname,
    files,
    network: net,
    warnings,
    volumes: planned.volumes,
    lowerDirs,
  };
}

/**
 * The container's own mounts (binds, volumes, tmpfs, the /etc files) after the defaults and
 * sorted by depth, as docker sorts them: a volume on /etc never hides /etc/hosts, a bind on
 * /data/sub is not hidden by a volume on /data.
 */
function orderMounts(mounts: NonNullable<RuntimeConfig['mounts']>, own: ReadonlySet<string>): NonNullable<RuntimeConfig['mounts']> {
  const depth = (d: string) => normalize(d).replace(/\/+$/, '').split('/').length;
  const defaults = mounts.filter((m) => !own.has(m.destination));
  const user = mounts.filter((m) => own.has(m.destination)).map((m, i) => ({ m, i }));
  user.sort((a, b) => depth(a.m.destination) - depth(b.m.destination) || a.i - b.i);
  return [...defaults, ...user.map((x) => x.m)];
}

/** resolv.conf with the network's DNS server first (then --dns's servers; the host's are its upstreams). */
function withNameserverFirst(text: string, gateway: string, extra: string[]): string {
  const lines = text.split('\n').filter((l) => l && !l.startsWith('nameserver '));
  const servers = [gateway, ...extra].map((s) => `nameserver ${s}`);
  const search = lines.filter((l) => l.startsWith('search '));
  const rest = lines.filter((l) => !l.startsWith('search '));
  return [...search, ...servers, ...rest].join('\n') + '\n';
}

function readHostFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** The namespace file of another container's init (--pid/--ipc/--network container:X). */
function namespacePath(ctx: EngineContext, ref: string, type: 'pid' | 'ipc' | 'network' | 'uts'): string {
  const other = ctx.containers.resolve(ref);
  if (other.status !== 'running' && other.status !== 'paused') {
    throw new BerthError('CONFLICT', `cannot join the ${type} namespace of container ${ref}: it is not running`);
  }
  return `/proc/${other.pid}/ns/${type === 'network' ? 'net' : type}`;
}

export async function createContainer(ctx: EngineContext, spec: RunSpec, opts: CreateOptions = {}): Promise<CreateResult> {
  const image = await imageForRun(ctx, spec, opts);
  const plan = await planContainer(ctx, spec, image);
  const warnings: string[] = [...plan.warnings];
  if (image.architecture !== hostPlatform().architecture) {
    warnings.push(`The requested image's platform (${image.os}/${image.architecture}) does not match the detected host platform (${formatPlatform(hostPlatform())}) and no specific platform was requested`);
  }
  const now = new Date().toISOString();
  // the image is pinned in the same transaction as the record: a concurrent rmi sees the container
  const record = ctx.db.transaction(() => {
    if (!ctx.store.get(image.id)) throw noSuchImage(spec.image);
    const inserted = ctx.containers.insert({
      id: plan.id,
      name: plan.name,
      imageId: image.id,
      imageRef: spec.image,
      layers: image.layers.map((l) => l.chainId),
      createdAt: now,
      spec: plan.spec,
      config: plan.dockerConfig,
      status: 'created',
      pid: 0,
      pidStart: '',
      monitorPid: 0,
      monitorStart: '',
      startedAt: '',
      finishedAt: '',
      exitCode: 0,
      oomKilled: false,
      error: '',
      restartCount: 0,
      stoppedByUser: false,
    });
    recordVolumes(ctx, plan.id, plan.volumes);
    if (plan.network) {
      if (!ctx.networks.get(plan.network.id)) throw new BerthError('NOT_FOUND', `network ${plan.network.name} not found`);
      recordEndpoint(ctx, plan.id, plan.network, {
        ...(plan.spec.ip !== undefined ? { ip: plan.spec.ip } : {}),
        ...(plan.spec.macAddress !== undefined ? { mac: plan.spec.macAddress } : {}),
        ...(plan.spec.networkAliases ? { aliases: plan.spec.networkAliases } : {}),
      });
    }
    return inserted;
  });
  try {
    await writeBundle(ctx, plan);
    await prepareVolumes(ctx, plan.volumes, plan.lowerDirs, plan.spec.uidMaps?.length ? { uid: plan.spec.uidMaps, gid: plan.spec.gidMaps ?? plan.spec.uidMaps } : undefined);
  } catch (err) {
    await rm(plan.paths.dir, { recursive: true, force: true });
    ctx.containers.remove(plan.id);
    // the anonymous volumes made for it
    for (const v of plan.volumes) if (v.anonymous && ctx.volumes.get(v.name) && !ctx.volumes.usersOf(v.name).length) removeVolume(ctx, v.name, { force: true });
    throw err;
  }
  ctx.db.transaction(() => {
    if (!opts.keepLock) ctx.containers.release(plan.id);
    ctx.containers.event('container', 'create', plan.id, { name: record.name, image: spec.image });
  });
  return { record, warnings };
}

async function writeBundle(ctx: EngineContext, plan: ContainerPlan): Promise<void> {
  const { paths, spec } = plan;
  await mkdir(paths.dir, { recursive: true, mode: 0o710 });
  // the upper dir's root is the container's / (its mode is what every user of the container sees)
  await mkdir(paths.upperDir, { mode: 0o755 });
  for (const dir of [paths.rootfsDir, paths.workDir]) await mkdir(dir, { mode: 0o700 });
  if (!plan.image.layers.length) await mkdir(join(paths.dir, 'empty'), { mode: 0o755 });
  for (const f of plan.files) await writeFile(f.path, f.content, { mode: 0o644 });
  const uid = hostRootOf(spec.uidMaps);
  if (uid !== undefined) {
    // a user-namespaced container: its root (a host id of no privilege) sets itself up inside
    // the container's dir, so it may pass through the state root and containers/ (search
    // only: 0711 lists nothing) and its own dir (0710, its group); it owns its / (what it
    // writes is stored with its own host ids) and its /etc files, as with docker's remapping
    const gid = hostRootOf(spec.gidMaps) ?? uid;
    for (const dir of [ctx.paths.root, ctx.paths.containersDir]) await chmod(dir, ((await stat(dir)).mode & 0o7777) | 0o711);
    await chown(paths.dir, 0, gid);
    await chown(paths.upperDir, uid, gid);
    for (const f of plan.files) await chown(f.path, uid, gid);
  }
  // -v makes a missing host directory, as docker does (--mount's were refused in planContainer)
  for (const b of spec.binds ?? []) if (b.createSource && !exists(b.source)) await mkdir(b.source, { recursive: true, mode: 0o755 });
  // a new directory: nobody reads config.json before the record says the container is ready
  await writeFile(paths.configPath, JSON.stringify(plan.config), { mode: 0o600 });
}
