/**
 * docker's ContainerCreate body (Config, HostConfig, NetworkingConfig) as berth's RunSpec. The
 * body is translated to `berth run`'s flags and goes through the very checks `berth run` makes,
 * so the API and the CLI refuse the same things with the same words.
 */
import { BerthError } from '../../common/index.ts';
import type { RunSpec } from '../../engine/index.ts';
import type { ParsedArgs } from '../args.ts';
import { runSpecFromArgs } from '../run-flags.ts';
import { field, HttpError } from './http.ts';

/** A network a new container joins besides the first (EndpointsConfig has several). */
export interface ExtraEndpoint {
  network: string;
  aliases?: string[];
  ip?: string;
}

const C = 'container.Config';
const H = 'container.HostConfig';

/** A `Mounts` entry as `--mount`'s text. */
function mountFlag(m: Record<string, unknown>): string {
  const type = field<string>(m, 'Type', 'string', 'mount.Mount') ?? 'volume';
  const target = field<string>(m, 'Target', 'string', 'mount.Mount');
  if (!target) throw new HttpError(400, 'invalid mount config: Target is required');
  const parts = [`type=${type}`, `target=${target}`];
  const source = field<string>(m, 'Source', 'string', 'mount.Mount');
  if (source) parts.push(`source=${source}`);
  if (field<boolean>(m, 'ReadOnly', 'boolean', 'mount.Mount')) parts.push('readonly');
  const volume = field<Record<string, unknown>>(m, 'VolumeOptions', 'object', 'mount.Mount');
  if (volume && field<boolean>(volume, 'NoCopy', 'boolean', 'mount.VolumeOptions')) parts.push('volume-nocopy');
  const driver = volume && field<Record<string, unknown>>(volume, 'DriverConfig', 'object', 'mount.VolumeOptions');
  const opts = driver && field<Record<string, string>>(driver, 'Options', 'object', 'mount.Driver');
  for (const [k, v] of Object.entries(opts ?? {})) parts.push(`volume-opt=${k}=${v}`);
  const tmpfs = field<Record<string, unknown>>(m, 'TmpfsOptions', 'object', 'mount.Mount');
  const size = tmpfs && field<number>(tmpfs, 'SizeBytes', 'number', 'mount.TmpfsOptions');
  if (size) parts.push(`tmpfs-size=${size}`);
  const mode = tmpfs && field<number>(tmpfs, 'Mode', 'number', 'mount.TmpfsOptions');
  if (mode) parts.push(`tmpfs-mode=${mode.toString(8)}`);
  const bind = field<Record<string, unknown>>(m, 'BindOptions', 'object', 'mount.Mount');
  const propagation = bind && field<string>(bind, 'Propagation', 'string', 'mount.BindOptions');
  if (propagation) parts.push(`bind-propagation=${propagation}`);
  if (parts.some((p) => p.slice(p.indexOf('=') + 1).includes(','))) throw new HttpError(400, `invalid mount config: a field holds a comma (${parts.join(',')})`);
  return parts.join(',');
}

/** docker's ContainerCreate body as berth's RunSpec, plus the networks to connect after create. */
export function runSpecFromCreate(body: Record<string, unknown>, name: string | undefined): { spec: RunSpec; extraEndpoints: ExtraEndpoint[]; consoleSize?: { rows: number; cols: number } } {
  const image = field<string>(body, 'Image', 'string', C);
  if (!image) throw new HttpError(400, 'No image specified: the config has no Image');
  const host = field<Record<string, unknown>>(body, 'HostConfig', 'object', C) ?? {};
  const flags: ParsedArgs['flags'] = {};
  const put = (flag: string, value: string | number | boolean | string[] | undefined) => {
    if (value !== undefined && value !== '' && !(Array.isArray(value) && value.length === 0)) flags[flag] = value;
  };
  const num = (obj: Record<string, unknown>, key: string, where: string) => {
    const v = field<number>(obj, key, 'number', where);
    return v ? v : undefined;
  };
  put('name', name);
  put('hostname', field<string>(body, 'Hostname', 'string', C));
  put('domainname', field<string>(body, 'Domainname', 'string', C));
  put('workdir', field<string>(body, 'WorkingDir', 'string', C));
  put('user', field<string>(body, 'User', 'string', C));
  put('tty', field<boolean>(body, 'Tty', 'boolean', C));
  put('interactive', field<boolean>(body, 'OpenStdin', 'boolean', C));
  put('stop-signal', field<string>(body, 'StopSignal', 'string', C));
  const stopTimeout = field<number>(body, 'StopTimeout', 'number', C);
  if (stopTimeout !== undefined) put('stop-timeout', stopTimeout);
  put('mac-address', field<string>(body, 'MacAddress', 'string', C));
  const labels = field<Record<string, string>>(body, 'Labels', 'object', C);
  put('label', labels && Object.entries(labels).map(([k, v]) => `${k}=${v}`));
  const exposed = field<Record<string, unknown>>(body, 'ExposedPorts', 'object', C);
  put('expose', exposed && Object.keys(exposed));
  const binds = field<string[]>(host, 'Binds', 'string[]', H) ?? [];
  const mounts = (field<Record<string, unknown>[]>(host, 'Mounts', 'array', H) ?? []).map(mountFlag);
  const tmpfs = Object.entries(field<Record<string, string>>(host, 'Tmpfs', 'object', H) ?? {});
  // Config.Volumes: anonymous volumes (`-v /path`), unless a bind, mount or tmpfs is there
  // (compose sends both, as dockerd takes them)
  const taken = new Set([
    ...binds.map((b) => b.split(':')[1] ?? b),
    ...mounts.map((m) => /(?:^|,)target=([^,]*)/.exec(m)![1]!),
    ...tmpfs.map(([p]) => p),
  ].map((p) => p.replace(/\/+$/, '') || '/'));
  const volumes = Object.keys(field<Record<string, unknown>>(body, 'Volumes', 'object', C) ?? {}).filter((p) => !taken.has(p.replace(/\/+$/, '') || '/'));
  put('rm', field<boolean>(host, 'AutoRemove', 'boolean', H));
  put('volume', [...binds, ...volumes]);
  put('mount', mounts);
  put('volumes-from', field<string[]>(host, 'VolumesFrom', 'string[]', H));
  put('tmpfs', tmpfs.map(([p, o]) => (o ? `${p}:${o}` : p)));
  put('device', (field<Record<string, unknown>[]>(host, 'Devices', 'array', H) ?? []).map((d) => `${d.PathOnHost}:${d.PathInContainer || d.PathOnHost}:${d.CgroupPermissions || 'rwm'}`));
  put('privileged', field<boolean>(host, 'Privileged', 'boolean', H));
  put('read-only', field<boolean>(host, 'ReadonlyRootfs', 'boolean', H));
  put('init', field<boolean>(host, 'Init', 'boolean', H));
  put('cap-add', field<string[]>(host, 'CapAdd', 'string[]', H));
  put('cap-drop', field<string[]>(host, 'CapDrop', 'string[]', H));
  put('group-add', field<string[]>(host, 'GroupAdd', 'string[]', H));
  put('add-host', field<string[]>(host, 'ExtraHosts', 'string[]', H));
  put('dns', field<string[]>(host, 'Dns', 'string[]', H));
  put('dns-search', field<string[]>(host, 'DnsSearch', 'string[]', H));
  put('dns-option', field<string[]>(host, 'DnsOptions', 'string[]', H));
  const securityOpts = field<string[]>(host, 'SecurityOpt', 'string[]', H) ?? [];
  // the docker CLI sends a seccomp profile's text, not its file name
  const inlineSeccomp = securityOpts.find((o) => /^seccomp[=:]\s*\{/.test(o));
  put('security-opt', securityOpts.filter((o) => o !== inlineSeccomp));
  put('ulimit', (field<Record<string, unknown>[]>(host, 'Ulimits', 'array', H) ?? []).map((u) => `${u.Name}=${u.Soft}:${u.Hard}`));
  const memory = num(host, 'Memory', H);
  if (memory) put('memory', String(memory));
  const swap = num(host, 'MemorySwap', H);
  if (swap) put('memory-swap', String(swap));
  const reservation = num(host, 'MemoryReservation', H);
  if (reservation) put('memory-reservation', String(reservation));
  const nanoCpus = num(host, 'NanoCpus', H);
  if (nanoCpus) put('cpus', String(nanoCpus / 1e9));
  put('cpu-shares', num(host, 'CpuShares', H));
  put('cpu-quota', num(host, 'CpuQuota', H));
  put('cpu-period', num(host, 'CpuPeriod', H));
  put('cpuset-cpus', field<string>(host, 'CpusetCpus', 'string', H));
  put('cpuset-mems', field<string>(host, 'CpusetMems', 'string', H));
  put('blkio-weight', num(host, 'BlkioWeight', H));
  const pids = num(host, 'PidsLimit', H);
  if (pids && pids > 0) put('pids-limit', pids);
  const shm = num(host, 'ShmSize', H);
  if (shm) put('shm-size', String(shm));
  put('pid', field<string>(host, 'PidMode', 'string', H));
  put('ipc', field<string>(host, 'IpcMode', 'string', H));
  put('uts', field<string>(host, 'UTSMode', 'string', H));
  put('userns', field<string>(host, 'UsernsMode', 'string', H));
  const log = field<Record<string, unknown>>(host, 'LogConfig', 'object', H);
  const logType = log && field<string>(log, 'Type', 'string', 'container.LogConfig');
  if (logType) put('log-driver', logType);
  put('log-opt', Object.entries((log && field<Record<string, string>>(log, 'Config', 'object', 'container.LogConfig')) ?? {}).map(([k, v]) => `${k}=${v}`));
  const restart = field<Record<string, unknown>>(host, 'RestartPolicy', 'object', H);
  const policy = restart && field<string>(restart, 'Name', 'string', 'container.RestartPolicy');
  if (policy && policy !== 'no') {
    const max = field<number>(restart, 'MaximumRetryCount', 'number', 'container.RestartPolicy');
    put('restart', policy === 'on-failure' && max ? `on-failure:${max}` : policy);
  }
  const ports = field<Record<string, { HostIp?: string; HostPort?: string }[] | null>>(host, 'PortBindings', 'object', H);
  if (ports) {
    const publish: string[] = [];
    for (const [port, bindings] of Object.entries(ports)) {
      for (const b of bindings?.length ? bindings : [{}]) {
        // HostPort "" or "0": a free port, as -p CTR
        const hostPort = b.HostPort && b.HostPort !== '0' ? b.HostPort : '';
        publish.push(`${b.HostIp ? `${b.HostIp}:` : ''}${hostPort ? `${hostPort}:` : b.HostIp ? ':' : ''}${port}`);
      }
    }
    put('publish', publish);
  }
  put('publish-all', field<boolean>(host, 'PublishAllPorts', 'boolean', H));

  // networks: HostConfig.NetworkMode, and NetworkingConfig.EndpointsConfig (the first joins at
  // create, with its aliases and address; the others are connected after it)
  let network = field<string>(host, 'NetworkMode', 'string', H);
  if (network === 'default') network = undefined;
  const networking = field<Record<string, unknown>>(body, 'NetworkingConfig', 'object', C);
  const endpoints = Object.entries(field<Record<string, Record<string, unknown> | null>>(networking, 'EndpointsConfig', 'object', 'network.NetworkingConfig') ?? {});
  const endpointOf = ([net, cfg]: [string, Record<string, unknown> | null]): ExtraEndpoint => {
    const aliases = field<string[]>(cfg ?? {}, 'Aliases', 'string[]', 'network.EndpointSettings');
    const ipam = field<Record<string, unknown>>(cfg ?? {}, 'IPAMConfig', 'object', 'network.EndpointSettings');
    const ip = ipam && field<string>(ipam, 'IPv4Address', 'string', 'network.EndpointIPAMConfig');
    return { network: net, ...(aliases?.length ? { aliases } : {}), ...(ip ? { ip } : {}) };
  };
  const first = endpoints.find(([net]) => net === network) ?? (network ? undefined : endpoints[0]);
  if (first) {
    const ep = endpointOf(first);
    network ??= ep.network;
    put('network-alias', ep.aliases);
    put('ip', ep.ip);
  }
  put('network', network);
  const extraEndpoints = endpoints.filter((e) => e !== first).map(endpointOf);

  const spec = runSpecFromArgs({ flags, positionals: [image], help: false });
  if (inlineSeccomp !== undefined) {
    const text = inlineSeccomp.slice(inlineSeccomp.search(/[=:]/) + 1);
    try {
      spec.seccomp = { file: '(the request\'s profile)', profile: JSON.parse(text) as never };
    } catch (err) {
      throw new BerthError('INVALID_ARGUMENT', `decoding seccomp profile failed: ${(err as Error).message}`);
    }
  }
  const env = field<string[]>(body, 'Env', 'string[]', C);
  if (env?.length) spec.env = env;
  const cmd = field<string[]>(body, 'Cmd', 'string[]', C);
  if (cmd?.length) spec.command = cmd;
  const entrypoint = field<string[]>(body, 'Entrypoint', 'string[]', C);
  if (entrypoint) spec.entrypoint = entrypoint;
  // the client's terminal size, for the pty's first size at start (API 1.42 on)
  const size = field<unknown[]>(host, 'ConsoleSize', 'array', H);
  const consoleSize = size?.length === 2 && size.every((n) => typeof n === 'number' && Number.isInteger(n) && n > 0 && n < 65536) ? { rows: size[0] as number, cols: size[1] as number } : undefined;
  return { spec, extraEndpoints, ...(consoleSize ? { consoleSize } : {}) };
}
