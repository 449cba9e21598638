/**
 * berth-runtime: runc's command line over src/runtime. Handlers return data; this file
 * prints it, and prints errors once, here at the boundary.
 */
import { appendFileSync, existsSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve, join } from 'node:path';
import { BerthError, SyscallError } from '../common/index.ts';
import { parseCommandArgs, parseGlobalArgs, formatHelp, formatFlags, type CommandSpec, type ParsedArgs } from './args.ts';

const PROG = 'berth-runtime';
export const VERSION = '0.1.0';

const bundleFlag = { name: 'bundle', short: 'b', type: 'string', value: 'DIR', description: 'bundle directory (config.json and rootfs), default .' } as const;
const pidFileFlag = { name: 'pid-file', type: 'string', value: 'FILE', description: 'write the container process id to FILE' } as const;
const consoleFlag = { name: 'console-socket', type: 'string', value: 'SOCK', description: 'unix socket that receives the pty master (process.terminal)' } as const;
const noPivotFlag = { name: 'no-pivot', type: 'boolean', description: 'use MS_MOVE + chroot instead of pivot_root' } as const;
const explainFlag = { name: 'explain', type: 'boolean', description: 'print the plan of syscalls that makes the container, and run nothing' } as const;
const preserveFlag = { name: 'preserve-fds', type: 'number', value: 'N', description: 'pass N extra fds (from 3) to the container' } as const;
const keyringFlag = { name: 'no-new-keyring', type: 'boolean', description: 'keep the caller\'s session keyring (berth never makes a new one)' } as const;
const configFlag = { name: 'config', type: 'string', value: 'FILE', description: 'the container\'s config (default: BUNDLE/config.json), as crun takes it' } as const;
const ignorePausedFlag = { name: 'ignore-paused', type: 'boolean', description: 'allow it even when the container is paused' } as const;

const COMMANDS: CommandSpec[] = [
  { name: 'create', usage: 'create [OPTIONS] ID', summary: 'Create a container from a bundle; its process waits until `start`.', positionals: [1, 1], flags: [bundleFlag, configFlag, pidFileFlag, consoleFlag, noPivotFlag, keyringFlag, preserveFlag, explainFlag] },
  { name: 'start', usage: 'start ID', summary: 'Start the process of a created container.', positionals: [1, 1], flags: [] },
  { name: 'run', usage: 'run [OPTIONS] ID', summary: 'Create and start a container, wait for it and pass its exit status through.', positionals: [1, 1], flags: [bundleFlag, configFlag, pidFileFlag, consoleFlag, noPivotFlag, keyringFlag, preserveFlag, explainFlag, { name: 'detach', short: 'd', type: 'boolean', description: 'do not wait for the container' }, { name: 'keep', type: 'boolean', description: 'keep the stopped container (do not delete it)' }] },
  {
    name: 'exec',
    usage: 'exec [OPTIONS] ID [COMMAND [ARG...]]',
    summary: 'Run another process in a running container (its namespaces, cgroups and seccomp filter).',
    positionals: [1, Number.MAX_SAFE_INTEGER],
    restAfter: 1,
    flags: [
      { name: 'process', short: 'p', type: 'string', value: 'FILE', description: 'the process as OCI process JSON (instead of COMMAND)' },
      { name: 'tty', short: 't', type: 'boolean', description: 'give the process a pseudo-terminal' },
      consoleFlag,
      { name: 'detach', short: 'd', type: 'boolean', description: 'do not wait for the process' },
      pidFileFlag,
      { name: 'cwd', type: 'string', value: 'DIR', description: 'working directory in the container' },
      { name: 'env', short: 'e', type: 'string', value: 'KEY=VALUE', description: 'set an environment variable (repeatable)', repeatable: true },
      { name: 'user', short: 'u', type: 'string', value: 'UID[:GID]', description: 'user (and group) to run as' },
      { name: 'additional-gids', short: 'g', type: 'string', value: 'GID', description: 'an additional group (repeatable)', repeatable: true },
      { name: 'cap', short: 'c', type: 'string', value: 'CAP', description: 'an extra capability (repeatable)', repeatable: true },
      { name: 'no-new-privs', type: 'boolean', description: 'set no_new_privs for the process' },
      { name: 'cgroup', type: 'string', value: '[CONTROLLER:]PATH', description: 'run in this existing sub-cgroup of the container\'s (repeatable, one per controller on cgroup v1)', repeatable: true },
      ignorePausedFlag,
      preserveFlag,
      explainFlag,
    ],
  },
  { name: 'state', usage: 'state ID', summary: 'Print the OCI state of a container as JSON.', positionals: [1, 1], flags: [] },
  { name: 'kill', usage: 'kill [OPTIONS] ID [SIGNAL]', summary: 'Send a signal (default TERM; names or numbers) to the container\'s init.', positionals: [1, 2], flags: [{ name: 'all', short: 'a', type: 'boolean', description: 'send it to every process of the container' }] },
  { name: 'delete', usage: 'delete [OPTIONS] ID', summary: 'Delete a stopped or created container (and its cgroup and state).', positionals: [1, 1], flags: [{ name: 'force', short: 'f', type: 'boolean', description: 'kill it first if it is running' }, { name: 'regex', short: 'r', type: 'boolean', description: "ID is a regular expression: delete every container whose id it matches (crun's --regex)" }] },
  { name: 'list', usage: 'list [OPTIONS]', summary: 'List the containers of this runtime root.', positionals: [0, 0], flags: [{ name: 'format', short: 'f', type: 'string', value: 'table|json', description: 'output format' }, { name: 'quiet', short: 'q', type: 'boolean', description: 'print only ids' }] },
  { name: 'ps', usage: 'ps [OPTIONS] ID [PS OPTIONS...]', summary: 'List the processes of a container (ps(1) output, default -ef; or pids as JSON).', positionals: [1, Number.MAX_SAFE_INTEGER], restAfter: 1, flags: [{ name: 'format', short: 'f', type: 'string', value: 'table|json', description: 'output format' }, ignorePausedFlag] },
  { name: 'pause', usage: 'pause ID', summary: 'Freeze every process of a container.', positionals: [1, 1], flags: [] },
  { name: 'resume', usage: 'resume ID', summary: 'Thaw a paused container.', positionals: [1, 1], flags: [] },
  {
    name: 'update',
    usage: 'update [OPTIONS] ID',
    summary: 'Change the resource limits of a running container.',
    positionals: [1, 1],
    flags: [
      { name: 'resources', short: 'r', type: 'string', value: 'FILE', description: 'linux.resources JSON from FILE ("-" for stdin)' },
      { name: 'memory', type: 'string', value: 'BYTES', description: 'memory limit (e.g. 256m; -1 for none)' },
      { name: 'memory-reservation', type: 'string', value: 'BYTES', description: 'memory soft limit' },
      { name: 'memory-swap', type: 'string', value: 'BYTES', description: 'memory plus swap limit (-1 for none)' },
      { name: 'cpu-share', type: 'number', value: 'N', description: 'relative CPU weight (runc\'s name)' },
      { name: 'cpu-shares', type: 'number', value: 'N', description: 'relative CPU weight' },
      { name: 'cpu-quota', type: 'number', value: 'US', description: 'CPU time per period in microseconds (-1 for none)' },
      { name: 'cpu-period', type: 'number', value: 'US', description: 'CPU period in microseconds' },
      { name: 'cpu-rt-runtime', type: 'number', value: 'US', description: 'realtime runtime per period (cgroup v1)' },
      { name: 'cpu-rt-period', type: 'number', value: 'US', description: 'realtime period (cgroup v1)' },
      { name: 'cpuset-cpus', type: 'string', value: 'LIST', description: 'CPUs the container may use (e.g. 0-1)' },
      { name: 'cpuset-mems', type: 'string', value: 'LIST', description: 'memory nodes the container may use' },
      { name: 'pids-limit', type: 'number', value: 'N', description: 'maximum number of processes (-1 for none)' },
      { name: 'blkio-weight', type: 'number', value: 'N', description: 'block I/O weight (10-1000)' },
    ],
  },
  {
    name: 'events',
    usage: 'events [OPTIONS] ID',
    summary: 'Print stats (and OOM kills) of a container as JSON lines, like runc events.',
    positionals: [1, 1],
    flags: [
      { name: 'stats', type: 'boolean', description: 'print the stats once and exit' },
      { name: 'interval', type: 'string', value: 'DURATION', description: 'time between stats (e.g. 5s, 500ms; default 5s)' },
    ],
  },
  { name: 'spec', usage: 'spec [OPTIONS]', summary: 'Write a default config.json into the bundle.', positionals: [0, 0], flags: [bundleFlag, { name: 'rootless', type: 'boolean', description: 'a config for a rootless container' }] },
  { name: 'features', usage: 'features', summary: 'Print what this runtime supports, as JSON (like runc features).', positionals: [0, 0], flags: [] },
];

const GLOBAL_FLAGS = [
  { name: 'root', type: 'string', value: 'DIR', description: 'state directory (default /run/berth-runtime)' },
  { name: 'log', type: 'string', value: 'FILE', description: 'also write errors to FILE' },
  { name: 'log-format', type: 'string', value: 'text|json', description: 'format of --log' },
  { name: 'debug', type: 'boolean', description: 'print error causes' },
  { name: 'systemd-cgroup', type: 'boolean', description: 'use systemd for cgroups (not supported yet)' },
  { name: 'cgroup-manager', type: 'string', value: 'cgroupfs|systemd', description: 'how cgroups are managed (crun\'s flag): cgroupfs; systemd is not supported yet' },
  { name: 'version', short: 'v', type: 'boolean', description: 'print the version and supported features' },
] as const;

interface Globals {
  root?: string;
  log?: string;
  logFormat: 'text' | 'json';
  debug: boolean;
}

export interface Io {
  out(text: string): void;
  err(text: string): void;
}

const stdio: Io = { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) };

function mainHelp(): string {
  const lines = [`Usage: ${PROG} [GLOBAL OPTIONS] COMMAND [OPTIONS]`, '', 'berth\'s OCI runtime: makes a container from a bundle with namespaces, cgroups and pivot_root.', '', 'Commands:'];
  for (const c of COMMANDS) lines.push(`  ${c.name.padEnd(9)} ${c.summary}`);
  lines.push('', 'Global options:', ...formatFlags([...GLOBAL_FLAGS]));
  lines.push('', `Run '${PROG} COMMAND --help' for a command's options.`);
  return lines.join('\n') + '\n';
}

/** runc's shape, which tools parse line by line: "<name> version X", "spec: Y", "libseccomp: Z". */
function versionText(): string {
  let libseccomp = '';
  try {
    const so = readdirSync('/usr/lib/x86_64-linux-gnu').concat(readdirSync('/usr/lib')).find((f) => /^libseccomp\.so\.\d+\.\d+\.\d+$/.test(f));
    if (so) libseccomp = `libseccomp: ${so.replace('libseccomp.so.', '')}\n`;
  } catch {
    // no such directory
  }
  return `${PROG} version ${VERSION}\nspec: 1.2.0\n${libseccomp}`;
}

async function runtimeFor(globals: Globals) {
  const { Runtime } = await import('../runtime/index.ts');
  // a one-shot process: forking this small Node costs less than loading koffi for posix_spawn
  return new Runtime({ ...(globals.root ? { root: globals.root } : {}), launcher: 'node' });
}

function exitCodeForError(err: unknown, command: string): number {
  if (command === 'run' && err instanceof SyscallError && err.op === 'exec') {
    if (err.errnoName === 'ENOENT') return 127;
    if (err.errnoName === 'EACCES') return 126;
  }
  // exec's own status is the process's: an error of the exec itself is 255, as runc's
  if (command === 'exec') return 255;
  return 1;
}

async function dispatch(command: string, args: ParsedArgs, globals: Globals, io: Io): Promise<number> {
  const id = args.positionals[0]!;
  const bundleDir = resolve((args.flags.bundle as string | undefined) ?? '.');
  // systemd socket activation (LISTEN_FDS fds from 3, for this process): passed on first, as
  // runc passes them, the container told of them with LISTEN_FDS and LISTEN_PID=1
  const listenFds = Number(process.env.LISTEN_FDS ?? 0);
  const isListening = Number.isInteger(listenFds) && listenFds > 0 && (process.env.LISTEN_PID === undefined || Number(process.env.LISTEN_PID) === process.pid);
  const createOpts = {
    extraEnv: isListening ? [`LISTEN_FDS=${listenFds}`, 'LISTEN_PID=1'] : undefined,
    bundleDir,
    consoleSocket: args.flags['console-socket'] as string | undefined,
    pidFile: args.flags['pid-file'] as string | undefined,
    noPivot: args.flags['no-pivot'] === true,
    preserveFds: ((args.flags['preserve-fds'] as number | undefined) ?? 0) + (isListening ? listenFds : 0),
    configPath: args.flags.config as string | undefined,
  };
  const warn = (warnings: string[]) => warnings.forEach((w) => io.err(`${PROG}: warning: ${w}\n`));
  switch (command) {
    case 'create': {
      const runtime = await runtimeFor(globals);
      checkPidFileDir(createOpts.pidFile);
      await debugPlan(globals, io, () => runtime.explain(id, createOpts));
      if (args.flags.explain) return io.out(await runtime.explain(id, createOpts)), 0;
      warn((await runtime.create(id, createOpts)).warnings);
      return 0;
    }
    case 'run': {
      const runtime = await runtimeFor(globals);
      checkPidFileDir(createOpts.pidFile);
      await debugPlan(globals, io, () => runtime.explain(id, { ...createOpts, foreground: args.flags.detach !== true }));
      if (args.flags.explain) return io.out(await runtime.explain(id, { ...createOpts, foreground: args.flags.detach !== true })), 0;
      // the container gets the terminal's signals from berth-init; this process must outlive it
      const ignore = () => {};
      for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'] as const) process.on(sig, ignore);
      const result = await runtime.run(id, { ...createOpts, detach: args.flags.detach === true, keep: args.flags.keep === true });
      warn(result.warnings);
      return result.exitCode ?? 0;
    }
    case 'start': {
      const runtime = await runtimeFor(globals);
      warn((await runtime.start(id)).warnings);
      return 0;
    }
    case 'exec': {
      const runtime = await runtimeFor(globals);
      checkPidFileDir(args.flags['pid-file'] as string | undefined);
      const execOpts = {
        process: await execProcessFromFlags(args),
        addCapabilities: ((args.flags.cap as string[] | undefined) ?? []).map((c) => (c.toUpperCase().startsWith('CAP_') ? c.toUpperCase() : `CAP_${c.toUpperCase()}`)),
        consoleSocket: args.flags['console-socket'] as string | undefined,
        pidFile: args.flags['pid-file'] as string | undefined,
        detach: args.flags.detach === true,
        preserveFds: (args.flags['preserve-fds'] as number | undefined) ?? 0,
        appendEnv: args.flags.env as string[] | undefined,
        ignorePaused: args.flags['ignore-paused'] === true,
        subCgroups: args.flags.cgroup as string[] | undefined,
      };
      if (args.flags.explain) return io.out(await runtime.explainExec(id, execOpts)), 0;
      await debugPlan(globals, io, () => runtime.explainExec(id, execOpts));
      const ignore = () => {};
      if (!execOpts.detach) for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'] as const) process.on(sig, ignore);
      const result = await runtime.exec(id, execOpts);
      warn(result.warnings);
      return result.exitCode ?? 0;
    }
    case 'state': {
      const runtime = await runtimeFor(globals);
      io.out(JSON.stringify(await runtime.state(id), null, 2) + '\n');
      return 0;
    }
    case 'kill': {
      const runtime = await runtimeFor(globals);
      await runtime.kill(id, args.positionals[1] ?? 'TERM', { all: args.flags.all === true });
      return 0;
    }
    case 'delete': {
      const runtime = await runtimeFor(globals);
      if (args.flags.regex !== true) {
        warn((await runtime.delete(id, { force: args.flags.force === true })).warnings);
        return 0;
      }
      // as crun: the expression matches anywhere in the id (POSIX regexec, unanchored)
      let re: RegExp;
      try {
        re = new RegExp(id);
      } catch (err) {
        throw new BerthError('INVALID_ARGUMENT', `delete --regex: invalid regular expression ${JSON.stringify(id)}: ${(err as Error).message}`);
      }
      let failed = 0;
      for (const entry of await runtime.list()) {
        if (!re.test(entry.id)) continue;
        try {
          warn((await runtime.delete(entry.id, { force: args.flags.force === true })).warnings);
        } catch (err) {
          failed++;
          io.err(`${PROG}: delete ${entry.id}: ${(err as Error).message}\n`);
        }
      }
      return failed ? 1 : 0;
    }
    case 'list': {
      const runtime = await runtimeFor(globals);
      const entries = await runtime.list();
      const format = (args.flags.format as string | undefined) ?? 'table';
      if (format !== 'table' && format !== 'json') throw new BerthError('INVALID_ARGUMENT', `unknown format "${format}" (use table or json)`);
      if (args.flags.quiet) io.out(entries.map((e) => e.id + '\n').join(''));
      else if (format === 'json') io.out(JSON.stringify(entries) + '\n');
      else io.out(table(['ID', 'PID', 'STATUS', 'BUNDLE', 'CREATED', 'OWNER'], entries.map((e) => [e.id, String(e.pid), e.status, e.bundle, e.created, e.owner])));
      return 0;
    }
    case 'ps': {
      const runtime = await runtimeFor(globals);
      const pids = await runtime.ps(id);
      if (args.flags.format === 'json') return io.out(JSON.stringify(pids) + '\n'), 0;
      // as runc: ps(1) with the given options (-ef by default), keeping the container's lines
      const { execFileSync } = await import('node:child_process');
      const psArgs = args.positionals.length > 1 ? args.positionals.slice(1) : ['-ef'];
      const lines = execFileSync('ps', psArgs, { encoding: 'utf8' }).split('\n');
      const pidColumn = lines[0]!.trim().split(/\s+/).indexOf('PID');
      if (pidColumn < 0) throw new BerthError('INVALID_ARGUMENT', `ps ${psArgs.join(' ')}: its output has no PID column`);
      const wanted = new Set(pids.map(String));
      io.out([lines[0], ...lines.slice(1).filter((l) => wanted.has(l.trim().split(/\s+/)[pidColumn] ?? ''))].join('\n') + '\n');
      return 0;
    }
    case 'update': {
      const runtime = await runtimeFor(globals);
      warn((await runtime.update(id, await resourcesFromFlags(args))).warnings);
      return 0;
    }
    case 'events': {
      const runtime = await runtimeFor(globals);
      const intervalMs = parseDuration((args.flags.interval as string | undefined) ?? '5s');
      for await (const event of runtime.events(id, { intervalMs, statsOnly: args.flags.stats === true })) io.out(JSON.stringify(event) + '\n');
      return 0;
    }
    case 'pause':
      await (await runtimeFor(globals)).pause(id);
      return 0;
    case 'resume':
      await (await runtimeFor(globals)).resume(id);
      return 0;
    case 'spec': {
      const { defaultSpec } = await import('../oci/index.ts');
      const path = join(bundleDir, 'config.json');
      if (existsSync(path)) throw new BerthError('ALREADY_EXISTS', `${path} already exists`, { hint: 'remove it first' });
      writeFileSync(path, JSON.stringify(defaultSpec({ rootless: args.flags.rootless === true }), null, '\t') + '\n');
      return 0;
    }
    case 'features': {
      const { featuresDocument } = await import('../oci/index.ts');
      const doc = featuresDocument({
        cgroup: { v1: true, v2: true, systemd: false, systemdUser: false, rdma: false },
        seccomp: { supportedFlags: ['SECCOMP_FILTER_FLAG_TSYNC', 'SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_SPEC_ALLOW'] },
        // profiles are applied on hosts that run AppArmor (and refused where it does not)
        apparmor: true,
        selinux: false,
        intelRdt: false,
        idmap: true,
        annotations: { 'io.github.berth.version': VERSION },
      });
      io.out(JSON.stringify(doc, null, 2) + '\n');
      return 0;
    }
  }
  throw new BerthError('INTERNAL', `command ${command} has no handler`);
}

/** "256m", "1g", "1024", "-1" → bytes (-1: no limit). */
export function parseBytes(text: string, flag: string): number {
  const m = /^(-1|\d+(?:\.\d+)?)([kmgt]?)b?$/i.exec(text.trim());
  if (!m) throw new BerthError('INVALID_ARGUMENT', `--${flag}: ${JSON.stringify(text)} is not a size (e.g. 512m, 1g, -1)`);
  if (m[1] === '-1') return -1;
  const unit = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  return Math.round(Number(m[1]) * unit);
}

/** "5s", "500ms", "2m" → milliseconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text.trim());
  if (!m) throw new BerthError('INVALID_ARGUMENT', `--interval: ${JSON.stringify(text)} is not a duration (e.g. 5s, 500ms)`);
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
}

async function resourcesFromFlags(args: ParsedArgs) {
  const { validateResources } = await import('../oci/index.ts');
  type Res = NonNullable<NonNullable<import('../oci/index.ts').RuntimeConfig['linux']>['resources']>;
  let resources: Res = {};
  const file = args.flags.resources as string | undefined;
  if (file !== undefined) {
    const { readFileSync } = await import('node:fs');
    const text = readFileSync(file === '-' ? 0 : file, 'utf8');
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (err) {
      throw new BerthError('INVALID_ARGUMENT', `--resources: ${file} is not JSON: ${(err as Error).message}`);
    }
    // the same validation as config.json, so errors name the field
    resources = validateResources(raw, `--resources ${file}`);
  }
  const f = args.flags;
  const num = (name: string) => f[name] as number | undefined;
  const bytes = (name: string) => (f[name] === undefined ? undefined : parseBytes(String(f[name]), name));
  const memory = { limit: bytes('memory'), reservation: bytes('memory-reservation'), swap: bytes('memory-swap') };
  if (Object.values(memory).some((v) => v !== undefined)) resources.memory = { ...resources.memory, ...Object.fromEntries(Object.entries(memory).filter(([, v]) => v !== undefined)) };
  const cpu = {
    shares: num('cpu-share') ?? num('cpu-shares'),
    quota: num('cpu-quota'),
    period: num('cpu-period'),
    realtimeRuntime: num('cpu-rt-runtime'),
    realtimePeriod: num('cpu-rt-period'),
    cpus: f['cpuset-cpus'] as string | undefined,
    mems: f['cpuset-mems'] as string | undefined,
  };
  if (Object.values(cpu).some((v) => v !== undefined)) resources.cpu = { ...resources.cpu, ...Object.fromEntries(Object.entries(cpu).filter(([, v]) => v !== undefined)) };
  if (num('pids-limit') !== undefined) resources.pids = { limit: num('pids-limit')! };
  if (num('blkio-weight') !== undefined) resources.blockIO = { ...resources.blockIO, weight: num('blkio-weight')! };
  if (Object.keys(resources).length === 0) throw new BerthError('INVALID_ARGUMENT', 'update: nothing to change', { hint: 'give --memory, --cpu-quota, … or --resources FILE' });
  return resources;
}

async function execProcessFromFlags(args: ParsedArgs) {
  const f = args.flags;
  const command = args.positionals.slice(1);
  let process: Record<string, unknown> = {};
  if (f.process !== undefined) {
    if (command.length) throw new BerthError('INVALID_ARGUMENT', 'give either --process FILE or a COMMAND, not both');
    const { readFileSync } = await import('node:fs');
    try {
      process = JSON.parse(readFileSync(f.process as string, 'utf8')) as Record<string, unknown>;
    } catch (err) {
      throw new BerthError('INVALID_ARGUMENT', `--process: cannot read ${f.process as string}: ${(err as Error).message}`);
    }
  } else if (!command.length) {
    throw new BerthError('INVALID_ARGUMENT', 'exec needs a COMMAND (or --process FILE)', { hint: 'e.g. berth-runtime exec ID sh -c "ps"' });
  } else {
    process.args = command;
  }
  if (f.tty) process.terminal = true;
  if (f.cwd !== undefined) process.cwd = f.cwd;
  if (f.user !== undefined) {
    const m = /^(\d+)(?::(\d+))?$/.exec(f.user as string);
    if (!m) throw new BerthError('INVALID_ARGUMENT', `--user: ${JSON.stringify(f.user)} is not UID[:GID] (numbers)`);
    process.user = { uid: Number(m[1]), gid: Number(m[2] ?? 0), additionalGids: ((f['additional-gids'] as string[] | undefined) ?? []).map(Number) };
  }
  if (f['no-new-privs']) process.noNewPrivileges = true;
  return process as { args: string[] };
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]! + 3))).join('') + '\n';
  return line(header) + rows.map(line).join('');
}

/** A log line as runc (logrus) writes it: text `time="…" level=… msg="…"`, or JSON. */
function logLine(globals: Globals, level: 'debug' | 'error', message: string): string {
  const time = new Date().toISOString();
  return globals.logFormat === 'json' ? JSON.stringify({ level, msg: message, time }) : `time="${time}" level=${level} msg=${JSON.stringify(message)}`;
}

function logError(globals: Globals, message: string): void {
  if (!globals.log) return;
  try {
    appendFileSync(globals.log, logLine(globals, 'error', message) + '\n');
  } catch {
    // the log is a copy; stderr still has the error
  }
}

/** --debug: to --log when given (containerd reads it), else to stderr. */
function logDebug(globals: Globals, io: Io, message: string): void {
  if (!globals.debug) return;
  const line = logLine(globals, 'debug', message) + '\n';
  if (!globals.log) return io.err(line);
  try {
    appendFileSync(globals.log, line);
  } catch {
    io.err(line);
  }
}

/** The directory of a pid file must be there: runc refuses to make it, and so does berth. */
function checkPidFileDir(path: string | undefined): void {
  if (path === undefined) return;
  const dir = dirname(resolve(path));
  if (!existsSync(dir)) throw new BerthError('NOT_FOUND', `--pid-file ${path}: directory ${dir} does not exist`);
}

/** With --debug, the plan that is about to run, one log line per step. */
async function debugPlan(globals: Globals, io: Io, text: () => Promise<string>): Promise<void> {
  if (!globals.debug) return;
  for (const line of (await text()).trimEnd().split('\n')) logDebug(globals, io, line);
}

export async function runtimeMain(argv: readonly string[], io: Io = stdio): Promise<number> {
  const globals: Globals = { logFormat: 'text', debug: false };
  let command = '';
  try {
    const parsed = parseGlobalArgs([...GLOBAL_FLAGS], argv, PROG);
    const g = parsed.flags;
    if (g.root !== undefined) globals.root = g.root as string;
    if (g.log !== undefined) globals.log = g.log as string;
    if (g['log-format'] !== undefined) {
      const f = g['log-format'];
      if (f !== 'text' && f !== 'json') throw new BerthError('INVALID_ARGUMENT', `unknown --log-format "${f as string}" (use text or json)`);
      globals.logFormat = f;
    }
    if (g.debug) globals.debug = true;
    if (g['systemd-cgroup'] || g['cgroup-manager'] !== undefined) {
      const manager = g['systemd-cgroup'] ? 'systemd' : (g['cgroup-manager'] as string);
      if (manager === 'systemd') {
        throw new BerthError('NOT_IMPLEMENTED', `${g['systemd-cgroup'] ? '--systemd-cgroup' : '--cgroup-manager systemd'} is not supported yet: berth-runtime manages cgroupfs directly`, {
          hint: 'use --cgroup-manager cgroupfs (containerd: SystemdCgroup = false)',
        });
      }
      if (manager !== 'cgroupfs') throw new BerthError('INVALID_ARGUMENT', `unknown --cgroup-manager ${JSON.stringify(manager)} (use cgroupfs or systemd)`);
    }
    if (g.version) return io.out(versionText()), 0;
    if (parsed.help) return io.out(mainHelp()), 0;
    const i = argv.length - parsed.rest.length;
    command = argv[i] ?? '';
    if (!command) return io.err(mainHelp()), 2;
    const spec = COMMANDS.find((c) => c.name === command);
    if (!spec) {
      // help asked of a command there is not: runc's (urfave/cli's) words, which scripts match
      const asksHelp = argv.slice(i + 1).some((a) => a === '-h' || a === '--help');
      throw new BerthError('INVALID_ARGUMENT', asksHelp ? `No help topic for '${command}'` : `unknown command "${command}"`, { hint: `see: ${PROG} --help` });
    }
    const args = parseCommandArgs(spec, argv.slice(i + 1), PROG);
    if (args.help) return io.out(formatHelp(spec, PROG)), 0;
    logDebug(globals, io, `${PROG} ${argv.slice(i).join(' ')}`);
    const status = await dispatch(command, args, globals, io);
    logDebug(globals, io, `${command}: done, exit status ${status}`);
    return status;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    io.err(`${PROG}: ${message}\n`);
    if (err instanceof BerthError && err.hint) io.err(`hint: ${err.hint}\n`);
    if (globals.debug && err instanceof Error && err.stack) io.err(err.stack + '\n');
    logError(globals, message);
    return exitCodeForError(err, command);
  }
}
