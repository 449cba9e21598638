/**
 * `berth run` / `berth create` flags, as docker has them, turned into the engine's RunSpec.
 * Values are parsed with docker's rules (units.RAMInBytes sizes, "on-failure:3", "-v src:dst:ro",
 * "--mount type=…", "--ulimit nofile=1024:2048") and refused with docker's words.
 */
import { readFileSync } from 'node:fs';
import { BerthError } from '../common/index.ts';
import { parseExposed, parsePublish } from '../network/index.ts';
import type { BindSpec, DeviceSpec, RestartPolicy, RunSpec, TmpfsSpec, VolumeSpec } from '../engine/index.ts';
import type { FlagSpec, ParsedArgs } from './args.ts';
import { boolFlag, listFlag, stringFlag } from './berth-command.ts';

export const RUN_FLAGS: FlagSpec[] = [
  { name: 'detach', short: 'd', type: 'boolean', description: 'run the container in the background and print its ID' },
  { name: 'interactive', short: 'i', type: 'boolean', description: 'keep STDIN open even if not attached' },
  { name: 'tty', short: 't', type: 'boolean', description: 'allocate a pseudo-TTY' },
  { name: 'rm', type: 'boolean', description: 'automatically remove the container when it exits' },
  { name: 'name', type: 'string', value: 'string', description: 'assign a name to the container' },
  { name: 'env', short: 'e', type: 'string', value: 'list', repeatable: true, description: 'set environment variables (KEY=VALUE, or KEY to take it from here)' },
  { name: 'env-file', type: 'string', value: 'list', repeatable: true, description: 'read in a file of environment variables' },
  { name: 'hostname', short: 'h', type: 'string', value: 'string', description: 'container host name' },
  { name: 'domainname', type: 'string', value: 'string', description: 'container NIS domain name' },
  { name: 'workdir', short: 'w', type: 'string', value: 'string', description: 'working directory inside the container' },
  { name: 'user', short: 'u', type: 'string', value: 'string', description: 'username or UID (format: <name|uid>[:<group|gid>]), looked up in the image' },
  { name: 'group-add', type: 'string', value: 'list', repeatable: true, description: 'add additional groups to join' },
  { name: 'entrypoint', type: 'string', value: 'string', description: 'overwrite the default ENTRYPOINT of the image ("" clears it)' },
  { name: 'label', short: 'l', type: 'string', value: 'list', repeatable: true, description: 'set meta data on a container (KEY=VALUE)' },
  { name: 'memory', short: 'm', type: 'string', value: 'bytes', description: 'memory limit (e.g. 256m)' },
  { name: 'memory-swap', type: 'string', value: 'bytes', description: "swap limit equal to memory plus swap: '-1' to enable unlimited swap" },
  { name: 'memory-reservation', type: 'string', value: 'bytes', description: 'memory soft limit' },
  { name: 'cpus', type: 'string', value: 'decimal', description: 'number of CPUs' },
  { name: 'cpu-shares', short: 'c', type: 'number', value: 'int', description: 'CPU shares (relative weight)' },
  { name: 'cpu-quota', type: 'number', value: 'int', description: 'limit CPU CFS (Completely Fair Scheduler) quota' },
  { name: 'cpu-period', type: 'number', value: 'int', description: 'limit CPU CFS (Completely Fair Scheduler) period' },
  { name: 'cpuset-cpus', type: 'string', value: 'string', description: 'CPUs in which to allow execution (0-3, 0,1)' },
  { name: 'cpuset-mems', type: 'string', value: 'string', description: 'MEMs in which to allow execution (0-3, 0,1)' },
  { name: 'pids-limit', type: 'number', value: 'int', description: 'tune container pids limit (set -1 for unlimited)' },
  { name: 'blkio-weight', type: 'number', value: 'uint16', description: 'block IO (relative weight), between 10 and 1000, or 0 to disable' },
  { name: 'device', type: 'string', value: 'list', repeatable: true, description: 'add a host device to the container (HOST[:CONTAINER][:rwm])' },
  { name: 'read-only', type: 'boolean', description: "mount the container's root filesystem as read only" },
  { name: 'tmpfs', type: 'string', value: 'list', repeatable: true, description: 'mount a tmpfs directory (PATH[:OPTIONS])' },
  { name: 'volume', short: 'v', type: 'string', value: 'list', repeatable: true, description: 'bind mount a host path or a volume (HOST|NAME:CONTAINER[:ro|rw|nocopy], or CONTAINER for an anonymous volume)' },
  { name: 'mount', type: 'string', value: 'mount', repeatable: true, description: 'attach a filesystem mount (type=bind|volume|tmpfs,source=…,target=…,readonly,volume-nocopy,volume-opt=K=V)' },
  { name: 'volumes-from', type: 'string', value: 'list', repeatable: true, description: "mount the volumes of a container (CONTAINER[:ro|rw])" },
  { name: 'cap-add', type: 'string', value: 'list', repeatable: true, description: 'add Linux capabilities' },
  { name: 'cap-drop', type: 'string', value: 'list', repeatable: true, description: 'drop Linux capabilities' },
  { name: 'privileged', type: 'boolean', description: 'give extended privileges to this container' },
  { name: 'security-opt', type: 'string', value: 'list', repeatable: true, description: 'security options (seccomp=FILE|unconfined, no-new-privileges)' },
  { name: 'init', type: 'boolean', description: 'run an init inside the container that forwards signals and reaps processes' },
  { name: 'limits-view', type: 'boolean', description: "show the container its own limits in /proc (free, top, nproc, uptime) and sysinfo(2) (default true; --limits-view=false shows the host's)" },
  { name: 'ulimit', type: 'string', value: 'ulimit', repeatable: true, description: 'ulimit options (NAME=SOFT[:HARD])' },
  { name: 'log-driver', type: 'string', value: 'string', description: 'logging driver for the container (json-file or none)' },
  { name: 'log-opt', type: 'string', value: 'list', repeatable: true, description: 'log driver options (max-size=10m, max-file=3)' },
  { name: 'shm-size', type: 'string', value: 'bytes', description: 'size of /dev/shm' },
  { name: 'stop-signal', type: 'string', value: 'string', description: 'signal to stop the container' },
  { name: 'stop-timeout', type: 'number', value: 'int', description: 'timeout (in seconds) to stop a container' },
  { name: 'restart', type: 'string', value: 'string', description: 'restart policy to apply when a container exits (no, on-failure[:N], always, unless-stopped)' },
  { name: 'network', type: 'string', value: 'network', aliases: ['net'], description: 'connect a container to a network (bridge, the default; none; host; container:NAME; or a network of `berth network create`)' },
  { name: 'publish', short: 'p', type: 'string', value: 'list', repeatable: true, description: "publish a container's port(s) to the host ([IP:][HOST_PORT:]CONTAINER_PORT[/tcp|udp], ranges too)" },
  { name: 'expose', type: 'string', value: 'list', repeatable: true, description: 'expose a port or a range of ports (PORT[/PROTO], for -P)' },
  { name: 'publish-all', short: 'P', type: 'boolean', description: 'publish all exposed ports to random ports' },
  { name: 'ip', type: 'string', value: 'string', description: 'IPv4 address (e.g., 10.100.0.20), on a user-defined network' },
  { name: 'mac-address', type: 'string', value: 'string', description: 'container MAC address (e.g., 92:d0:c6:0a:29:33)' },
  { name: 'network-alias', type: 'string', value: 'list', aliases: ['net-alias'], repeatable: true, description: 'add network-scoped alias for the container' },
  { name: 'pid', type: 'string', value: 'string', description: 'PID namespace to use (host, container:NAME)' },
  { name: 'ipc', type: 'string', value: 'string', description: 'IPC mode to use (private, shareable, host, container:NAME)' },
  { name: 'uts', type: 'string', value: 'string', description: 'UTS namespace to use (host)' },
  { name: 'userns', type: 'string', value: 'string', description: 'user namespace to use (host, or auto: a private range of host ids)' },
  { name: 'uidmap', type: 'string', value: 'CONTAINER:HOST:SIZE', repeatable: true, description: 'run in a user namespace with this uid mapping' },
  { name: 'gidmap', type: 'string', value: 'CONTAINER:HOST:SIZE', repeatable: true, description: 'its gid mapping (default: the uid mapping)' },
  { name: 'add-host', type: 'string', value: 'list', repeatable: true, description: 'add a custom host-to-IP mapping (host:ip)' },
  { name: 'dns', type: 'string', value: 'list', repeatable: true, description: 'set custom DNS servers' },
  { name: 'dns-search', type: 'string', value: 'list', repeatable: true, description: 'set custom DNS search domains' },
  { name: 'dns-option', type: 'string', value: 'list', repeatable: true, description: 'set DNS options' },
  { name: 'platform', type: 'string', value: 'string', description: 'set platform if server is multi-platform capable' },
  { name: 'pull', type: 'string', value: 'string', description: 'pull image before running ("always", "missing", "never")' },
  { name: 'explain', type: 'boolean', description: 'print the whole plan (image, storage, every syscall) and run nothing' },
  { name: 'detach-keys', type: 'string', value: 'string', description: 'override the key sequence for detaching a container' },
  { name: 'quiet', short: 'q', type: 'boolean', description: 'suppress the pull output' },
  { name: 'sig-proxy', type: 'boolean', description: 'proxy received signals to the process (default true)' },
  { name: 'cidfile', type: 'string', value: 'string', description: 'write the container ID to the file' },
];

const SIZE_RE = /^(\d+(?:\.\d+)?) ?([kKmMgGtTpP])?[iI]?[bB]?$/;
const UNIT: Record<string, number> = { k: 1 << 10, m: 1 << 20, g: 1 << 30, t: 2 ** 40, p: 2 ** 50 };

/** docker's units.RAMInBytes: "256m", "1g", "512k", "1024" (binary units). */
export function parseBytes(text: string, flag: string): number {
  const m = SIZE_RE.exec(text.trim());
  if (!m) throw new BerthError('INVALID_ARGUMENT', `invalid argument "${text}" for "${flag}" flag: invalid size: '${text}'`);
  return Math.floor(Number(m[1]) * (m[2] ? UNIT[m[2].toLowerCase()]! : 1));
}

function parseMemorySwap(text: string): number {
  return text.trim() === '-1' ? -1 : parseBytes(text, '--memory-swap');
}

export function parseRestart(text: string): RestartPolicy {
  const [name, count, ...rest] = text.split(':');
  if (rest.length) throw new BerthError('INVALID_ARGUMENT', `invalid restart policy format: ${text}`);
  switch (name) {
    case 'no':
    case 'always':
    case 'unless-stopped':
      if (count !== undefined) throw new BerthError('INVALID_ARGUMENT', `invalid restart policy format: maximum retry count can only be used with 'on-failure'`);
      return { name };
    case 'on-failure': {
      if (count !== undefined && !/^\d+$/.test(count)) throw new BerthError('INVALID_ARGUMENT', `invalid restart policy format: maximum retry count must be an integer`);
      return { name, maxRetries: count === undefined ? 0 : Number(count) };
    }
    default:
      throw new BerthError('INVALID_ARGUMENT', `invalid restart policy format: no such policy: ${name}`);
  }
}

/** -v HOST:CONTAINER[:OPTIONS] (ro, rw, z, Z, nocopy, a propagation mode), -v NAME:CONTAINER[:OPTIONS], -v CONTAINER. */
export function parseVolume(text: string): { bind?: BindSpec; volume?: VolumeSpec } {
  const parts = text.split(':');
  if (parts.length === 1 && parts[0]!.startsWith('/')) return { volume: { target: parts[0]!, readOnly: false } };
  if (parts.length < 2 || parts.length > 3 || parts.some((p, i) => p === '' && i < 2)) {
    throw new BerthError('INVALID_ARGUMENT', `invalid volume specification: '${text}'`);
  }
  const [source, target, opts = ''] = parts as [string, string, string?];
  let readOnly = false;
  let propagation: string | undefined;
  let noCopy = false;
  for (const o of opts.split(',').filter(Boolean)) {
    if (o === 'ro') readOnly = true;
    else if (o === 'rw') readOnly = false;
    else if (o === 'z' || o === 'Z') continue; // SELinux relabelling: nothing to do without SELinux
    else if (o === 'nocopy') noCopy = true;
    else if (['shared', 'rshared', 'slave', 'rslave', 'private', 'rprivate'].includes(o)) propagation = o;
    else throw new BerthError('INVALID_ARGUMENT', `invalid mode: ${o}`);
  }
  if (!source.startsWith('/')) {
    if (propagation) throw new BerthError('INVALID_ARGUMENT', `invalid volume specification: '${text}': propagation is for bind mounts`);
    return { volume: { name: source, target, readOnly, ...(noCopy ? { noCopy } : {}) } };
  }
  return { bind: { source, target, readOnly, createSource: true, ...(propagation ? { propagation } : {}) } };
}

/** --mount type=bind|tmpfs,source=…,target=…,readonly,… */
export function parseMount(text: string): { bind?: BindSpec; tmpfs?: TmpfsSpec; volume?: VolumeSpec } {
  const fields = new Map<string, string>();
  const volumeOpts: Record<string, string> = {};
  for (const part of text.split(',')) {
    const eq = part.indexOf('=');
    const key = (eq < 0 ? part : part.slice(0, eq)).trim().toLowerCase();
    const value = eq < 0 ? 'true' : part.slice(eq + 1);
    if (key === 'volume-opt') {
      const veq = value.indexOf('=');
      if (veq <= 0) throw new BerthError('INVALID_ARGUMENT', `invalid argument "${text}" for "--mount" flag: volume-opt wants KEY=VALUE`);
      volumeOpts[value.slice(0, veq)] = value.slice(veq + 1);
    } else fields.set(key, value);
  }
  const type = fields.get('type') ?? 'volume';
  const target = fields.get('target') ?? fields.get('destination') ?? fields.get('dst');
  if (!target) throw new BerthError('INVALID_ARGUMENT', `invalid argument "${text}" for "--mount" flag: target is required`);
  const readOnly = ['readonly', 'ro'].some((k) => fields.has(k) && fields.get(k) !== 'false' && fields.get(k) !== '0');
  if (type === 'bind') {
    const source = fields.get('source') ?? fields.get('src');
    if (!source) throw new BerthError('INVALID_ARGUMENT', `invalid argument "${text}" for "--mount" flag: source is required for type=bind`);
    const propagation = fields.get('bind-propagation');
    return { bind: { source, target, readOnly, createSource: false, ...(propagation ? { propagation } : {}) } };
  }
  if (type === 'tmpfs') {
    const options: string[] = [];
    const size = fields.get('tmpfs-size');
    if (size) options.push(`size=${parseBytes(size, '--mount tmpfs-size')}`);
    const mode = fields.get('tmpfs-mode');
    if (mode) options.push(`mode=${mode}`);
    return { tmpfs: { target, options, readOnly } };
  }
  if (type === 'volume') {
    const name = fields.get('source') ?? fields.get('src');
    const noCopy = ['volume-nocopy'].some((k) => fields.has(k) && fields.get(k) !== 'false' && fields.get(k) !== '0');
    return { volume: { ...(name ? { name } : {}), target, readOnly, ...(noCopy ? { noCopy } : {}), ...(Object.keys(volumeOpts).length ? { driverOpts: volumeOpts } : {}) } };
  }
  throw new BerthError('INVALID_ARGUMENT', `invalid argument "${text}" for "--mount" flag: unknown mount type "${type}"`);
}

/** --tmpfs PATH[:OPTIONS] */
export function parseTmpfs(text: string): TmpfsSpec {
  const colon = text.indexOf(':');
  const target = colon < 0 ? text : text.slice(0, colon);
  const options = colon < 0 ? [] : text.slice(colon + 1).split(',').filter(Boolean);
  return { target, options };
}

/** --device HOST[:CONTAINER][:PERMISSIONS] */
export function parseDevice(text: string): DeviceSpec {
  const parts = text.split(':');
  const host = parts[0] ?? '';
  let container = host;
  let permissions = 'rwm';
  if (parts.length === 2) {
    if (/^[rwm]+$/.test(parts[1]!)) permissions = parts[1]!;
    else container = parts[1]!;
  } else if (parts.length === 3) {
    container = parts[1]!;
    permissions = parts[2]!;
  } else if (parts.length > 3) throw new BerthError('INVALID_ARGUMENT', `invalid device specification: ${text}`);
  if (!host.startsWith('/') || !container.startsWith('/') || !/^[rwm]+$/.test(permissions)) throw new BerthError('INVALID_ARGUMENT', `invalid device specification: ${text}`);
  return { host, container, permissions };
}

/** --ulimit NAME=SOFT[:HARD] */
export function parseUlimit(text: string): { name: string; soft: number; hard: number } {
  const m = /^([a-z]+)=(-?\d+)(?::(-?\d+))?$/.exec(text);
  if (!m) throw new BerthError('INVALID_ARGUMENT', `invalid argument "${text}" for "--ulimit" flag: invalid ulimit argument: ${text}`);
  const soft = Number(m[2]);
  const hard = m[3] === undefined ? soft : Number(m[3]);
  if (soft > hard && hard !== -1) throw new BerthError('INVALID_ARGUMENT', `invalid argument "${text}" for "--ulimit" flag: ulimit soft limit must be less than or equal to hard limit: ${soft} > ${hard}`);
  return { name: m[1]!, soft, hard };
}

/** -e KEY=VALUE, or -e KEY: the value of this process's KEY (left out when unset). */
function envEntries(list: string[]): string[] {
  const out: string[] = [];
  for (const e of list) {
    if (e.startsWith('=')) throw new BerthError('INVALID_ARGUMENT', `invalid argument "${e}" for "-e, --env" flag: invalid environment variable: ${e}`);
    if (e.includes('=')) out.push(e);
    else if (process.env[e] !== undefined) out.push(`${e}=${process.env[e]}`);
  }
  return out;
}

/** docker's --env-file: KEY=VALUE lines, KEY alone from this environment, # comments. */
export function readEnvFile(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new BerthError('NOT_FOUND', `open ${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (err as Error).message}`);
  }
  const lines = text.split(/\r?\n/).map((l) => l.replace(/^\s+/, '')).filter((l) => l && !l.startsWith('#'));
  for (const l of lines) {
    const key = l.split('=')[0]!;
    if (!key || /\s/.test(key)) throw new BerthError('INVALID_ARGUMENT', `variable '${key}' contains whitespaces`);
  }
  return envEntries(lines);
}

function parseMap(text: string, flag: string): { containerID: number; hostID: number; size: number } {
  const m = /^(\d+):(\d+):(\d+)$/.exec(text);
  if (!m) throw new BerthError('INVALID_ARGUMENT', `invalid ${flag} "${text}": expected CONTAINER_ID:HOST_ID:SIZE`);
  return { containerID: Number(m[1]), hostID: Number(m[2]), size: Number(m[3]) };
}

function parseLabels(list: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of list) {
    const eq = l.indexOf('=');
    out[eq < 0 ? l : l.slice(0, eq)] = eq < 0 ? '' : l.slice(eq + 1);
  }
  return out;
}

/** A shell-less split of --entrypoint: docker takes it as one program name. */
function entrypointOf(text: string | undefined): string[] | undefined {
  if (text === undefined) return undefined;
  return text === '' ? [] : [text];
}

/** The RunSpec of `run IMAGE [COMMAND…]` / `create …`. */
export function runSpecFromArgs(args: ParsedArgs): RunSpec {
  const [image, ...command] = args.positionals;
  const spec: RunSpec = { image: image! };
  if (command.length) spec.command = command;
  const str = (name: string) => stringFlag(args, name);
  const num = (name: string) => (typeof args.flags[name] === 'number' ? (args.flags[name] as number) : undefined);
  const set = <K extends keyof RunSpec>(key: K, value: RunSpec[K] | undefined) => {
    if (value !== undefined) spec[key] = value;
  };
  set('name', str('name'));
  const env = [...listFlag(args, 'env-file').flatMap(readEnvFile), ...envEntries(listFlag(args, 'env'))];
  if (env.length) spec.env = env;
  set('hostname', str('hostname'));
  set('domainname', str('domainname'));
  set('workdir', str('workdir'));
  set('user', str('user'));
  if (listFlag(args, 'group-add').length) spec.groupAdd = listFlag(args, 'group-add');
  set('entrypoint', entrypointOf(str('entrypoint')));
  if (boolFlag(args, 'tty')) spec.tty = true;
  if (boolFlag(args, 'interactive')) spec.interactive = true;
  if (boolFlag(args, 'rm')) spec.autoRemove = true;
  if (listFlag(args, 'label').length) spec.labels = parseLabels(listFlag(args, 'label'));
  if (str('memory') !== undefined) spec.memory = parseBytes(str('memory')!, '-m, --memory');
  if (str('memory-swap') !== undefined) spec.memorySwap = parseMemorySwap(str('memory-swap')!);
  if (str('memory-reservation') !== undefined) spec.memoryReservation = parseBytes(str('memory-reservation')!, '--memory-reservation');
  if (str('cpus') !== undefined) {
    const cpus = Number(str('cpus'));
    if (!Number.isFinite(cpus) || cpus < 0) throw new BerthError('INVALID_ARGUMENT', `invalid argument "${str('cpus')}" for "--cpus" flag: failed to parse ${str('cpus')} as a rational number`);
    const online = availableCpus();
    if (cpus > online) throw new BerthError('INVALID_ARGUMENT', `range of CPUs is from 0.01 to ${online}.00, as there are only ${online} CPUs available`);
    spec.cpus = cpus;
  }
  set('cpuShares', num('cpu-shares'));
  set('cpuQuota', num('cpu-quota'));
  set('cpuPeriod', num('cpu-period'));
  set('cpusetCpus', str('cpuset-cpus'));
  set('cpusetMems', str('cpuset-mems'));
  set('pidsLimit', num('pids-limit'));
  const weight = num('blkio-weight');
  if (weight !== undefined && weight !== 0 && (weight < 10 || weight > 1000)) throw new BerthError('INVALID_ARGUMENT', 'Range of blkio weight is from 10 to 1000');
  set('blkioWeight', weight);
  if (listFlag(args, 'device').length) spec.devices = listFlag(args, 'device').map(parseDevice);
  if (boolFlag(args, 'read-only')) spec.readOnly = true;
  const tmpfs = listFlag(args, 'tmpfs').map(parseTmpfs);
  const binds: BindSpec[] = [];
  const volumes: VolumeSpec[] = [];
  const mounts: { bind?: BindSpec; tmpfs?: TmpfsSpec; volume?: VolumeSpec }[] = [...listFlag(args, 'volume').map(parseVolume), ...listFlag(args, 'mount').map(parseMount)];
  for (const m of mounts) {
    if (m.bind) binds.push(m.bind);
    if (m.tmpfs) tmpfs.push(m.tmpfs);
    if (m.volume) volumes.push(m.volume);
  }
  if (tmpfs.length) spec.tmpfs = tmpfs;
  if (binds.length) spec.binds = binds;
  if (volumes.length) spec.volumes = volumes;
  if (listFlag(args, 'volumes-from').length) spec.volumesFrom = listFlag(args, 'volumes-from');
  if (listFlag(args, 'cap-add').length) spec.capAdd = listFlag(args, 'cap-add');
  if (listFlag(args, 'cap-drop').length) spec.capDrop = listFlag(args, 'cap-drop');
  if (boolFlag(args, 'privileged')) spec.privileged = true;
  for (const opt of listFlag(args, 'security-opt')) {
    const eq = opt.search(/[=:]/);
    const key = eq < 0 ? opt : opt.slice(0, eq);
    const value = eq < 0 ? '' : opt.slice(eq + 1);
    if (key === 'seccomp') {
      if (value === 'unconfined') spec.seccomp = 'unconfined';
      else {
        let text: string;
        try {
          text = readFileSync(value, 'utf8');
        } catch {
          throw new BerthError('NOT_FOUND', `opening seccomp profile (${value}) failed: open ${value}: no such file or directory`);
        }
        let profile: unknown;
        try {
          profile = JSON.parse(text);
        } catch (err) {
          throw new BerthError('INVALID_ARGUMENT', `decoding seccomp profile failed: ${(err as Error).message}`);
        }
        spec.seccomp = { file: value, profile: profile as never };
      }
    } else if (key === 'no-new-privileges') {
      if (value !== '' && value !== 'true' && value !== 'false') throw new BerthError('INVALID_ARGUMENT', `invalid --security-opt 2: "${opt}"`);
      spec.noNewPrivileges = value !== 'false';
    } else if (key === 'apparmor' || key === 'label') {
      if (value !== 'unconfined' && value !== 'disable') throw new BerthError('NOT_IMPLEMENTED', `--security-opt ${opt}: berth applies no ${key === 'label' ? 'SELinux labels' : 'AppArmor profiles'} to containers yet`);
    } else throw new BerthError('INVALID_ARGUMENT', `invalid --security-opt: "${opt}"`);
  }
  if (boolFlag(args, 'init')) spec.init = true;
  if (typeof args.flags['limits-view'] === 'boolean') spec.limitsView = args.flags['limits-view'];
  if (listFlag(args, 'ulimit').length) spec.ulimits = listFlag(args, 'ulimit').map(parseUlimit);
  const logDriver = str('log-driver');
  if (logDriver !== undefined) {
    if (logDriver !== 'json-file' && logDriver !== 'none') throw new BerthError('INVALID_ARGUMENT', `failed to create task for container: logger: no log driver named '${logDriver}' is registered`, { hint: 'berth has the json-file and none drivers' });
    spec.logDriver = logDriver;
  }
  for (const opt of listFlag(args, 'log-opt')) {
    const [key, value = ''] = opt.split('=', 2) as [string, string?];
    if (key === 'max-size') spec.logMaxSize = value === '-1' ? 0 : parseBytes(value, '--log-opt max-size');
    else if (key === 'max-file') {
      if (!/^\d+$/.test(value) || Number(value) < 1) throw new BerthError('INVALID_ARGUMENT', 'max-file cannot be less than 1');
      spec.logMaxFiles = Number(value);
    } else throw new BerthError('INVALID_ARGUMENT', `unknown log opt '${key}' for json-file log driver`);
  }
  if (spec.logMaxFiles && spec.logMaxFiles > 1 && !spec.logMaxSize) throw new BerthError('INVALID_ARGUMENT', "max-file cannot be set without max-size");
  if (str('shm-size') !== undefined) spec.shmSize = parseBytes(str('shm-size')!, '--shm-size');
  set('stopSignal', str('stop-signal'));
  set('stopTimeout', num('stop-timeout'));
  if (str('restart') !== undefined) spec.restart = parseRestart(str('restart')!);
  set('network', str('network'));
  if (listFlag(args, 'publish').length) spec.publish = listFlag(args, 'publish').flatMap(parsePublish);
  if (boolFlag(args, 'publish-all')) spec.publishAll = true;
  if (listFlag(args, 'expose').length) spec.expose = parseExposed(listFlag(args, 'expose')).map((e) => `${e.containerPort}/${e.protocol}`);
  set('ip', str('ip'));
  set('macAddress', str('mac-address'));
  if (listFlag(args, 'network-alias').length) spec.networkAliases = listFlag(args, 'network-alias');
  set('pid', str('pid'));
  set('ipc', str('ipc'));
  set('uts', str('uts'));
  const userns = str('userns');
  if (userns !== undefined && userns !== '' && userns !== 'host' && userns !== 'auto') throw new BerthError('INVALID_ARGUMENT', `invalid USER mode: ${userns}`, { hint: 'use host, auto, or --uidmap' });
  set('userns', userns);
  if (listFlag(args, 'uidmap').length) spec.uidMaps = listFlag(args, 'uidmap').map((m) => parseMap(m, '--uidmap'));
  if (listFlag(args, 'gidmap').length) spec.gidMaps = listFlag(args, 'gidmap').map((m) => parseMap(m, '--gidmap'));
  if (listFlag(args, 'add-host').length) spec.addHosts = listFlag(args, 'add-host');
  if (listFlag(args, 'dns').length) spec.dns = listFlag(args, 'dns');
  if (listFlag(args, 'dns-search').length) spec.dnsSearch = listFlag(args, 'dns-search');
  if (listFlag(args, 'dns-option').length) spec.dnsOptions = listFlag(args, 'dns-option');
  set('platform', str('platform'));
  return spec;
}

function availableCpus(): number {
  try {
    const text = readFileSync('/sys/devices/system/cpu/online', 'utf8').trim();
    let n = 0;
    for (const part of text.split(',')) {
      const [a, b] = part.split('-').map(Number);
      n += b === undefined ? 1 : b - a! + 1;
    }
    return n;
  } catch {
    return 1;
  }
}
