/**
 * What `inspect`, `ps`, `top` and `stats` show of containers, in docker's shapes (the API
 * returns the same objects). Records are shown as they truly are: a container whose process is
 * gone shows as exited even before anyone finished it.
 */
import { execFile } from 'node:child_process';
import { readlinkSync, readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { BerthError } from '../common/index.ts';
import type { MountSpec } from '../storage/index.ts';
import type { CgroupStats } from '../cgroups/index.ts';
import type { EngineContext } from './container-context.ts';
import { containerPaths } from './container-paths.ts';
import { describeStatus } from './container-status.ts';
import type { ContainerRecord } from './container-store.ts';
import { effectiveRecord, isActive } from './container-lifecycle.ts';
import { volumeData } from './volumes.ts';
import { networkModeOf, networkSettingsOf, portBindingsOf, portSummaries } from './network-view.ts';

const ZERO_TIME = '0001-01-01T00:00:00Z';

function commandOf(rec: ContainerRecord): { path: string; args: string[] } {
  const c = rec.config as { Entrypoint?: string[] | null; Cmd?: string[] | null };
  const all = [...(c.Entrypoint ?? []), ...(c.Cmd ?? [])];
  const args = rec.spec.init ? ['--', ...all] : all.slice(1);
  return { path: rec.spec.init ? '/dev/init' : (all[0] ?? ''), args };
}

function mountsOf(ctx: EngineContext, rec: ContainerRecord): object[] {
  const out: object[] = [];
  for (const u of ctx.volumes.usesOf(rec.id)) {
    out.push({ Type: 'volume', Name: u.volume, Source: volumeData(ctx, u.volume), Destination: u.destination, Driver: 'local', Mode: u.readOnly ? 'ro' : 'z', RW: !u.readOnly, Propagation: '', ...(u.readOnly ? { ReadOnlyRecursive: true } : {}) });
  }
  for (const b of rec.spec.binds ?? []) {
    // berth's own field: a read-only bind is read-only recursively (its submounts too)
    out.push({ Type: 'bind', Source: b.source, Destination: b.target, Mode: b.readOnly ? 'ro' : '', RW: !b.readOnly, Propagation: b.propagation ?? 'rprivate', ...(b.readOnly ? { ReadOnlyRecursive: true } : {}) });
  }
  for (const t of rec.spec.tmpfs ?? []) out.push({ Type: 'tmpfs', Source: '', Destination: t.target, Mode: t.options.join(','), RW: !t.readOnly, Propagation: '' });
  return out;
}

function hostConfigOf(rec: ContainerRecord): Record<string, unknown> {
  const s = rec.spec;
  const restart = s.restart ?? { name: 'no' };
  return {
    Binds: s.binds?.length ? s.binds.map((b) => `${b.source}:${b.target}${b.readOnly ? ':ro' : ''}`) : null,
    ContainerIDFile: '',
    LogConfig: { Type: s.logDriver ?? 'json-file', Config: { ...(s.logMaxSize ? { 'max-size': String(s.logMaxSize) } : {}), ...(s.logMaxFiles ? { 'max-file': String(s.logMaxFiles) } : {}) } },
    NetworkMode: networkModeOf(rec),
    PortBindings: portBindingsOf(rec),
    PublishAllPorts: s.publishAll === true,
    RestartPolicy: { Name: restart.name, MaximumRetryCount: restart.name === 'on-failure' ? restart.maxRetries : 0 },
    AutoRemove: s.autoRemove === true,
    CapAdd: s.capAdd ?? null,
    CapDrop: s.capDrop ?? null,
    Dns: s.dns ?? [],
    DnsOptions: s.dnsOptions ?? [],
    DnsSearch: s.dnsSearch ?? [],
    ExtraHosts: s.addHosts ?? null,
    GroupAdd: s.groupAdd ?? null,
    IpcMode: s.ipc ?? 'private',
    PidMode: s.pid ?? '',
    Privileged: s.privileged === true,
    ReadonlyRootfs: s.readOnly === true,
    SecurityOpt: [
      ...(s.seccomp === 'unconfined' ? ['seccomp=unconfined'] : typeof s.seccomp === 'object' ? [`seccomp=${s.seccomp.file}`] : []),
      ...(s.noNewPrivileges ? ['no-new-privileges'] : []),
    ],
    Tmpfs: s.tmpfs?.length ? Object.fromEntries(s.tmpfs.map((t) => [t.target, t.options.join(',')])) : undefined,
    UTSMode: s.uts ?? '',
    UsernsMode: s.userns ?? '',
    ShmSize: s.shmSize ?? 64 * 1024 * 1024,
    Memory: s.memory ?? 0,
    MemorySwap: s.memorySwap ?? (s.memory ? s.memory * 2 : 0),
    MemoryReservation: s.memoryReservation ?? 0,
    NanoCpus: s.cpus !== undefined ? Math.round(s.cpus * 1e9) : 0,
    CpuShares: s.cpuShares ?? 0,
    CpuPeriod: s.cpuPeriod ?? 0,
    CpuQuota: s.cpuQuota ?? 0,
    CpusetCpus: s.cpusetCpus ?? '',
    CpusetMems: s.cpusetMems ?? '',
    PidsLimit: s.pidsLimit ?? null,
    BlkioWeight: s.blkioWeight ?? 0,
    Devices: (s.devices ?? []).map((d) => ({ PathOnHost: d.host, PathInContainer: d.container, CgroupPermissions: d.permissions })),
    Ulimits: s.ulimits?.map((u) => ({ Name: u.name, Soft: u.soft, Hard: u.hard })) ?? null,
    Init: s.init === true ? true : null,
  };
}

/** Namespace inodes and cgroup of a running container (the inspect's Berth section). */
function berthSection(ctx: EngineContext, rec: ContainerRecord): Record<string, unknown> {
  const namespaces: Record<string, string> = {};
  let cgroup: string[] = [];
  if (rec.pid > 0 && isActive(rec)) {
    for (const ns of ['cgroup', 'ipc', 'mnt', 'net', 'pid', 'user', 'uts']) {
      try {
        namespaces[ns] = readlinkSync(`/proc/${rec.pid}/ns/${ns}`);
      } catch {
        // gone meanwhile
      }
    }
    try {
      cgroup = readFileSync(`/proc/${rec.pid}/cgroup`, 'utf8').trim().split('\n');
    } catch {
      cgroup = [];
    }
  }
  const paths = containerPaths(ctx.paths, rec.id);
  return {
    Namespaces: namespaces,
    CgroupsPath: `${ctx.paths.cgroupParent}/${rec.id}`,
    Cgroups: cgroup,
    MonitorPid: rec.monitorPid,
    Bundle: paths.dir,
    AttachSocket: paths.attachPath,
    RuntimeRoot: ctx.paths.runtimeRoot,
    // /proc/meminfo, cpuinfo, stat, uptime, loadavg, swaps, diskstats, cpu/online and sysinfo(2)
    // show the container's own limits (--limits-view)
    LimitsView: rec.spec.limitsView !== false,
  };
}

export async function inspectContainer(ctx: EngineContext, ref: string): Promise<Record<string, unknown>> {
  const rec = effectiveRecord(ctx, ctx.containers.resolve(ref));
  const paths = containerPaths(ctx.paths, rec.id);
  const { path, args } = commandOf(rec);
  let rootMount: MountSpec | undefined;
  try {
    const config = JSON.parse(readFileSync(paths.configPath, 'utf8')) as { annotations?: Record<string, string> };
    rootMount = JSON.parse(config.annotations?.['io.berth.rootfs.mount'] ?? 'null') as MountSpec | undefined;
  } catch {
    rootMount = undefined;
  }
  const lower = rootMount?.options.find((o) => o.startsWith('lowerdir='))?.slice(9) ?? '';
  const lowerDir = lower.split(':').map((l) => (l.startsWith('/') || !rootMount?.cwd ? l : `${rootMount.cwd}/${l}`)).join(':');
  return {
    Id: rec.id,
    Created: rec.createdAt,
    Path: path,
    Args: args,
    State: {
      Status: rec.status,
      Running: rec.status === 'running' || rec.status === 'paused',
      Paused: rec.status === 'paused',
      Restarting: rec.status === 'restarting',
      OOMKilled: rec.oomKilled,
      Dead: rec.status === 'dead',
      Pid: rec.status === 'running' || rec.status === 'paused' ? rec.pid : 0,
      ExitCode: rec.exitCode,
      Error: rec.error,
      StartedAt: rec.startedAt || ZERO_TIME,
      FinishedAt: rec.finishedAt || ZERO_TIME,
    },
    Image: rec.imageId,
    ResolvConfPath: paths.resolvConfPath,
    HostnamePath: paths.hostnamePath,
    HostsPath: paths.hostsPath,
    LogPath: rec.spec.logDriver === 'none' ? '' : paths.logPath,
    Name: `/${rec.name}`,
    RestartCount: rec.restartCount,
    Driver: 'overlay',
    Platform: 'linux',
    MountLabel: '',
    ProcessLabel: '',
    AppArmorProfile: '',
    ExecIDs: null,
    HostConfig: hostConfigOf(rec),
    GraphDriver: { Name: 'overlay', Data: { LowerDir: lowerDir, MergedDir: paths.rootfsDir, UpperDir: paths.upperDir, WorkDir: paths.workDir } },
    Mounts: mountsOf(ctx, rec),
    Config: rec.config,
    NetworkSettings: networkSettingsOf(ctx, rec),
    Berth: berthSection(ctx, rec),
  };
}

/** One row of `ps` (and of the API's /containers/json), docker's fields. */
export interface ContainerSummary {
  Id: string;
  Names: string[];
  Image: string;
  ImageID: string;
  Command: string;
  Created: number;
  State: string;
  Status: string;
  Labels: Record<string, string>;
  Ports: object[];
  Mounts: object[];
  SizeRw?: number;
  SizeRootFs?: number;
  HostConfig: { NetworkMode: string };
  /** berth's, for filters: the record behind the row. */
  record: ContainerRecord;
}

export function summarize(ctx: EngineContext, raw: ContainerRecord, now = Date.now()): ContainerSummary {
  const rec = effectiveRecord(ctx, raw);
  const c = rec.config as { Entrypoint?: string[] | null; Cmd?: string[] | null; Labels?: Record<string, string> };
  return {
    Id: rec.id,
    Names: [`/${rec.name}`],
    Image: rec.imageRef,
    ImageID: rec.imageId,
    Command: [...(rec.spec.init ? ['/dev/init', '--'] : []), ...(c.Entrypoint ?? []), ...(c.Cmd ?? [])].join(' '),
    Created: Math.floor(Date.parse(rec.createdAt) / 1000),
    State: rec.status,
    Status: describeStatus(rec.status, rec.startedAt, rec.finishedAt, rec.exitCode, now),
    Labels: c.Labels ?? {},
    Ports: portSummaries(ctx, rec),
    Mounts: mountsOf(ctx, rec),
    HostConfig: { NetworkMode: networkModeOf(rec) },
    record: rec,
  };
}

export function listContainers(ctx: EngineContext, opts: { all?: boolean } = {}): ContainerSummary[] {
  const now = Date.now();
  const rows = ctx.containers.list().map((rec) => summarize(ctx, rec, now));
  return opts.all ? rows : rows.filter((r) => r.State === 'running' || r.State === 'paused' || r.State === 'restarting');
}

/** docker top: `ps` of the host (default -ef) over the container's processes. */
export async function topContainer(ctx: EngineContext, ref: string, psArgs: string[] = ['-ef']): Promise<{ Titles: string[]; Processes: string[][] }> {
  const rec = effectiveRecord(ctx, ctx.containers.resolve(ref));
  if (rec.status !== 'running' && rec.status !== 'paused') throw new BerthError('CONFLICT', `Container ${rec.id} is not running`);
  const pids = new Set((await ctx.runtime().ps(rec.id)).map(String));
  let stdout: string;
  try {
    ({ stdout } = await promisify(execFile)('ps', psArgs, { maxBuffer: 64 << 20 }));
  } catch (err) {
    throw new BerthError('INVALID_ARGUMENT', `ps: ${(err as { stderr?: string }).stderr?.trim() || (err as Error).message}`, { hint: 'top takes the options of ps(1), e.g. aux or -o pid,comm' });
  }
  const lines = stdout.split('\n').filter(Boolean);
  const header = lines[0]?.trim().split(/\s+/) ?? [];
  const pidColumn = header.indexOf('PID');
  if (pidColumn < 0) throw new BerthError('INVALID_ARGUMENT', 'Couldn\'t find PID field in ps output', { hint: 'give ps options that print a PID column' });
  const processes: string[][] = [];
  for (const line of lines.slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (!pids.has(fields[pidColumn] ?? '')) continue;
    // the last column (the command) may hold spaces
    processes.push([...fields.slice(0, header.length - 1), fields.slice(header.length - 1).join(' ')]);
  }
  return { Titles: header, Processes: processes };
}

export interface StatsSample {
  id: string;
  name: string;
  /** ns of CPU time used, and when it was read (ms). */
  cpuNs: number;
  readAt: number;
  memoryUsage: number;
  memoryLimit: number;
  pids: number;
  blockRead: number;
  blockWrite: number;
}

const HOST_MEMORY = (() => {
  let value: number | undefined;
  return () => {
    if (value === undefined) {
      const line = readFileSync('/proc/meminfo', 'utf8').split('\n').find((l) => l.startsWith('MemTotal:'));
      value = Number(line?.split(/\s+/)[1] ?? 0) * 1024;
    }
    return value;
  };
})();

/** A network interface's counters, as /proc/net/dev has them. */
export interface NetDevCounters {
  rxBytes: number;
  rxPackets: number;
  rxErrors: number;
  rxDropped: number;
  txBytes: number;
  txPackets: number;
  txErrors: number;
  txDropped: number;
}

/** Everything one reading of a running container gives (docker's stats API is made of it). */
export interface FullStats {
  readAt: Date;
  cgroup: CgroupStats;
  /** Its network namespace's interfaces, loopback left out (empty without a namespace of its own). */
  networks: Record<string, NetDevCounters>;
  /** The host's: CPU time of all CPUs (ns, from /proc/stat), CPUs online, memory. */
  systemCpuNs: number;
  onlineCpus: number;
  hostMemory: number;
}

/** /proc/net/dev as counters per interface. */
export function parseNetDev(text: string): Record<string, NetDevCounters> {
  const out: Record<string, NetDevCounters> = {};
  for (const line of text.split('\n').slice(2)) {
    const m = /^\s*([^:\s]+):\s*(.*)$/.exec(line);
    if (!m || m[1] === 'lo') continue;
    const n = m[2]!.trim().split(/\s+/).map(Number);
    out[m[1]!] = { rxBytes: n[0] ?? 0, rxPackets: n[1] ?? 0, rxErrors: n[2] ?? 0, rxDropped: n[3] ?? 0, txBytes: n[8] ?? 0, txPackets: n[9] ?? 0, txErrors: n[10] ?? 0, txDropped: n[11] ?? 0 };
  }
  return out;
}

/** The host's CPU time (all CPUs, all states) in ns, and how many CPUs it has online. */
function hostCpu(): { ns: number; online: number } {
  const text = readFileSync('/proc/stat', 'utf8');
  const first = text.slice(0, text.indexOf('\n')).trim().split(/\s+/).slice(1).map(Number);
  const ticks = first.slice(0, 8).reduce((a, b) => a + b, 0);
  const online = (text.match(/^cpu\d+ /gm) ?? []).length;
  // USER_HZ is 100 on every Linux architecture Node runs on
  return { ns: ticks * 1e7, online };
}

/** One full reading of a running container; undefined when it is not running. */
export async function readFullStats(ctx: EngineContext, rec: ContainerRecord): Promise<FullStats | undefined> {
  if (rec.status !== 'running' && rec.status !== 'paused') return undefined;
  let cgroup: CgroupStats;
  try {
    cgroup = await ctx.runtime().stats(rec.id);
  } catch (err) {
    if (err instanceof BerthError && err.code === 'NOT_FOUND') return undefined;
    throw err;
  }
  let networks: Record<string, NetDevCounters> = {};
  const ownNet = rec.spec.network !== 'host' && rec.pid > 0;
  if (ownNet) {
    try {
      networks = parseNetDev(readFileSync(`/proc/${rec.pid}/net/dev`, 'utf8'));
    } catch {
      // it ended meanwhile
    }
  }
  const cpu = hostCpu();
  return { readAt: new Date(), cgroup, networks, systemCpuNs: cpu.ns, onlineCpus: cpu.online, hostMemory: HOST_MEMORY() };
}

/** One reading of a running container's cgroup. */
export async function sampleStats(ctx: EngineContext, rec: ContainerRecord): Promise<StatsSample | undefined> {
  try {
    const s = await ctx.runtime().stats(rec.id);
    const io = s.blkio?.ioServiceBytesRecursive ?? [];
    const sum = (op: string) => io.filter((e) => e.op.toLowerCase() === op).reduce((n, e) => n + e.value, 0);
    const limit = s.memory?.usage.limit ?? 0;
    // docker shows usage without the page cache ("inactive_file" on v2, total_inactive_file on v1)
    const raw = s.memory?.raw ?? {};
    const inactive = raw.total_inactive_file ?? raw.inactive_file ?? 0;
    return {
      id: rec.id,
      name: rec.name,
      cpuNs: s.cpu?.usage.total ?? 0,
      readAt: performance.timeOrigin + performance.now(),
      memoryUsage: Math.max(0, (s.memory?.usage.usage ?? 0) - inactive),
      memoryLimit: limit > 0 && limit < HOST_MEMORY() ? limit : HOST_MEMORY(),
      pids: s.pids?.current ?? 0,
      blockRead: sum('read'),
      blockWrite: sum('write'),
    };
  } catch (err) {
    if (err instanceof BerthError && err.code === 'NOT_FOUND') return undefined;
    throw err;
  }
}
