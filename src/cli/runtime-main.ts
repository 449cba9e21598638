/**
 * berth-runtime: runc's command line over src/runtime. Handlers return data; this file
 * prints it, and prints errors once, here at the boundary.
 */
import { appendFileSync, existsSync, writeFileSync } from 'node:fs';
import { resolve, join } from 'node:path';
import { BerthError, SyscallError } from '../common/index.ts';
import { parseCommandArgs, formatHelp, type CommandSpec, type ParsedArgs } from './args.ts';

const PROG = 'berth-runtime';
export const VERSION = '0.1.0';

const bundleFlag = { name: 'bundle', short: 'b', type: 'string', value: 'DIR', description: 'bundle directory (config.json and rootfs), default .' } as const;
const pidFileFlag = { name: 'pid-file', type: 'string', value: 'FILE', description: 'write the container process id to FILE' } as const;
const consoleFlag = { name: 'console-socket', type: 'string', value: 'SOCK', description: 'unix socket that receives the pty master (process.terminal)' } as const;
const noPivotFlag = { name: 'no-pivot', type: 'boolean', description: 'use MS_MOVE + chroot instead of pivot_root' } as const;
const explainFlag = { name: 'explain', type: 'boolean', description: 'print the plan of syscalls that makes the container, and run nothing' } as const;
const preserveFlag = { name: 'preserve-fds', type: 'number', value: 'N', description: 'pass N extra fds (from 3) to the container' } as const;
const keyringFlag = { name: 'no-new-keyring', type: 'boolean', description: 'keep the caller\'s session keyring (berth never makes a new one)' } as const;

const COMMANDS: CommandSpec[] = [
  { name: 'create', usage: 'create [OPTIONS] ID', summary: 'Create a container from a bundle; its process waits until `start`.', positionals: [1, 1], flags: [bundleFlag, pidFileFlag, consoleFlag, noPivotFlag, keyringFlag, preserveFlag, explainFlag] },
  { name: 'start', usage: 'start ID', summary: 'Start the process of a created container.', positionals: [1, 1], flags: [] },
  { name: 'run', usage: 'run [OPTIONS] ID', summary: 'Create and start a container, wait for it and pass its exit status through.', positionals: [1, 1], flags: [bundleFlag, pidFileFlag, consoleFlag, noPivotFlag, keyringFlag, preserveFlag, explainFlag, { name: 'detach', short: 'd', type: 'boolean', description: 'do not wait for the container' }, { name: 'keep', type: 'boolean', description: 'keep the stopped container (do not delete it)' }] },
  { name: 'state', usage: 'state ID', summary: 'Print the OCI state of a container as JSON.', positionals: [1, 1], flags: [] },
  { name: 'kill', usage: 'kill [OPTIONS] ID [SIGNAL]', summary: 'Send a signal (default TERM; names or numbers) to the container\'s init.', positionals: [1, 2], flags: [{ name: 'all', short: 'a', type: 'boolean', description: 'send it to every process of the container' }] },
  { name: 'delete', usage: 'delete [OPTIONS] ID', summary: 'Delete a stopped or created container (and its cgroup and state).', positionals: [1, 1], flags: [{ name: 'force', short: 'f', type: 'boolean', description: 'kill it first if it is running' }] },
  { name: 'list', usage: 'list [OPTIONS]', summary: 'List the containers of this runtime root.', positionals: [0, 0], flags: [{ name: 'format', short: 'f', type: 'string', value: 'table|json', description: 'output format' }, { name: 'quiet', short: 'q', type: 'boolean', description: 'print only ids' }] },
  { name: 'ps', usage: 'ps [OPTIONS] ID', summary: 'List the processes of a container.', positionals: [1, 1], flags: [{ name: 'format', short: 'f', type: 'string', value: 'table|json', description: 'output format' }] },
  { name: 'pause', usage: 'pause ID', summary: 'Freeze every process of a container.', positionals: [1, 1], flags: [] },
  { name: 'resume', usage: 'resume ID', summary: 'Thaw a paused container.', positionals: [1, 1], flags: [] },
  { name: 'spec', usage: 'spec [OPTIONS]', summary: 'Write a default config.json into the bundle.', positionals: [0, 0], flags: [bundleFlag, { name: 'rootless', type: 'boolean', description: 'a config for a rootless container' }] },
  { name: 'features', usage: 'features', summary: 'Print what this runtime supports, as JSON (like runc features).', positionals: [0, 0], flags: [] },
];

const GLOBAL_FLAGS = [
  { name: 'root', type: 'string', value: 'DIR', description: 'state directory (default /run/berth-runtime)' },
  { name: 'log', type: 'string', value: 'FILE', description: 'also write errors to FILE' },
  { name: 'log-format', type: 'string', value: 'text|json', description: 'format of --log' },
  { name: 'debug', type: 'boolean', description: 'print error causes' },
  { name: 'systemd-cgroup', type: 'boolean', description: 'use systemd for cgroups (not supported yet)' },
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
  lines.push('', 'Global options:');
  for (const f of GLOBAL_FLAGS) lines.push(`  --${(f.name + ('value' in f ? ' ' + f.value : '')).padEnd(22)} ${f.description}`);
  lines.push('', `Run '${PROG} COMMAND --help' for a command's options.`);
  return lines.join('\n') + '\n';
}

function versionText(): string {
  return `${PROG} version ${VERSION}\nspec: 1.2.0\n+SECCOMP +CGROUPV1 +CGROUPV2 +USERNS +TIMENS +PIVOT_ROOT +EXPLAIN -SYSTEMD\n`;
}

async function runtimeFor(globals: Globals) {
  const { Runtime } = await import('../runtime/index.ts');
  return new Runtime(globals.root ? { root: globals.root } : {});
}

function exitCodeForError(err: unknown, command: string): number {
  if (command === 'run' && err instanceof SyscallError && err.op === 'exec') {
    if (err.errnoName === 'ENOENT') return 127;
    if (err.errnoName === 'EACCES') return 126;
  }
  return 1;
}

async function dispatch(command: string, args: ParsedArgs, globals: Globals, io: Io): Promise<number> {
  const id = args.positionals[0]!;
  const bundleDir = resolve((args.flags.bundle as string | undefined) ?? '.');
  const createOpts = {
    bundleDir,
    consoleSocket: args.flags['console-socket'] as string | undefined,
    pidFile: args.flags['pid-file'] as string | undefined,
    noPivot: args.flags['no-pivot'] === true,
    preserveFds: (args.flags['preserve-fds'] as number | undefined) ?? 0,
  };
  const warn = (warnings: string[]) => warnings.forEach((w) => io.err(`${PROG}: warning: ${w}\n`));
  switch (command) {
    case 'create': {
      const runtime = await runtimeFor(globals);
      if (args.flags.explain) return io.out(await runtime.explain(id, createOpts)), 0;
      warn((await runtime.create(id, createOpts)).warnings);
      return 0;
    }
    case 'run': {
      const runtime = await runtimeFor(globals);
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
      warn((await runtime.delete(id, { force: args.flags.force === true })).warnings);
      return 0;
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
      if (args.flags.format === 'json') io.out(JSON.stringify(pids) + '\n');
      else io.out(table(['PID'], pids.map((p) => [String(p)])));
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
      io.out(JSON.stringify(featuresDocument({
        cgroup: { v1: true, v2: true, systemd: false, systemdUser: false, rdma: false },
        seccomp: { supportedFlags: ['SECCOMP_FILTER_FLAG_TSYNC', 'SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_SPEC_ALLOW'] },
        apparmor: false,
        selinux: false,
        intelRdt: false,
        idmap: false,
        annotations: { 'io.github.berth.version': VERSION },
      }), null, 2) + '\n');
      return 0;
    }
  }
  throw new BerthError('INTERNAL', `command ${command} has no handler`);
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]! + 3))).join('') + '\n';
  return line(header) + rows.map(line).join('');
}

function logError(globals: Globals, message: string): void {
  if (!globals.log) return;
  const time = new Date().toISOString();
  const line = globals.logFormat === 'json' ? JSON.stringify({ level: 'error', msg: message, time }) : `time="${time}" level=error msg=${JSON.stringify(message)}`;
  try {
    appendFileSync(globals.log, line + '\n');
  } catch {
    // the log is a copy; stderr still has the error
  }
}

export async function runtimeMain(argv: readonly string[], io: Io = stdio): Promise<number> {
  const globals: Globals = { logFormat: 'text', debug: false };
  let i = 0;
  let command = '';
  try {
    for (; i < argv.length; i++) {
      const arg = argv[i]!;
      if (!arg.startsWith('-')) break;
      const [key, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
      const value = () => inline ?? argv[++i] ?? '';
      if (key === '--root') globals.root = value();
      else if (key === '--log') globals.log = value();
      else if (key === '--log-format') {
        const f = value();
        if (f !== 'text' && f !== 'json') throw new BerthError('INVALID_ARGUMENT', `unknown --log-format "${f}" (use text or json)`);
        globals.logFormat = f;
      } else if (key === '--debug') globals.debug = true;
      else if (key === '--systemd-cgroup') {
        throw new BerthError('NOT_IMPLEMENTED', '--systemd-cgroup is not supported yet: berth-runtime manages cgroupfs directly', { hint: 'drop --systemd-cgroup (containerd: SystemdCgroup = false)' });
      } else if (key === '--version' || key === '-v') return io.out(versionText()), 0;
      else if (key === '--help' || key === '-h') return io.out(mainHelp()), 0;
      else throw new BerthError('INVALID_ARGUMENT', `unknown global flag ${key}`, { hint: `see: ${PROG} --help` });
    }
    command = argv[i] ?? '';
    if (!command) return io.err(mainHelp()), 2;
    const spec = COMMANDS.find((c) => c.name === command);
    if (!spec) throw new BerthError('INVALID_ARGUMENT', `unknown command "${command}"`, { hint: `see: ${PROG} --help` });
    const args = parseCommandArgs(spec, argv.slice(i + 1), PROG);
    if (args.help) return io.out(formatHelp(spec, PROG)), 0;
    return await dispatch(command, args, globals, io);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    io.err(`${PROG}: ${message}\n`);
    if (err instanceof BerthError && err.hint) io.err(`hint: ${err.hint}\n`);
    if (globals.debug && err instanceof Error && err.stack) io.err(err.stack + '\n');
    logError(globals, message);
    return exitCodeForError(err, command);
  }
}
