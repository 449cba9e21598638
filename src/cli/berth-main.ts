/**
 * berth: docker's command line over the engine. Command modules (berth-*.ts) do the work
 * and write their output; this file parses global flags, dispatches, and prints errors once,
 * here at the boundary, with docker's exit codes.
 */
import { Engine } from '../engine/index.ts';
import { parseCommandArgs, parseGlobalArgs, formatFlags, formatHelp, type CommandSpec, type FlagSpec } from './args.ts';
import { PROG, exitCodeFor, renderError, type BerthCommand, type CommandEnv, type Globals, type Io } from './berth-command.ts';
import { importTopCommand, imageImportCommand, imageLoadCommand, imageSaveCommand, loadTopCommand, saveTopCommand } from './berth-image-archive.ts';
import { historyTopCommand, imageHistoryCommand, imageInspectCommand } from './berth-image-info.ts';
import { imageLsCommand, imagesCommand } from './berth-image-list.ts';
import { imagePruneCommand, imageRmCommand, imageTagCommand, rmiTopCommand, tagTopCommand } from './berth-image-remove.ts';
import { imagePullCommand, loginCommand, logoutCommand, pullTopCommand } from './berth-registry.ts';
import { BerthError } from '../common/index.ts';
import { volumeCreateCommand, volumeInspectCommand, volumeLsCommand, volumePruneCommand, volumeRmCommand } from './berth-volume.ts';
import { networkConnectCommand, networkCreateCommand, networkDisconnectCommand, networkInspectCommand, networkLsCommand, networkPruneCommand, networkRmCommand, portCommand } from './berth-network.ts';
import { createCommand, runCommand, startCommand } from './berth-container-run.ts';
import {
  containerCleanupCommand, containerPruneCommand, killCommand, pauseCommand, renameCommand, restartCommand, rmCommand, stopCommand,
  unpauseCommand, updateCommand, waitCommand,
} from './berth-container-verbs.ts';
import { containerLsCommand, psTopCommand } from './berth-container-ps.ts';
import { commitCommand, diffCommand, exportCommand } from './berth-container-fs.ts';
import { cpCommand } from './berth-container-cp.ts';
import { attachCommand, execTopCommand, logsCommand } from './berth-container-io.ts';
import { containerInspectCommand, inspectTopCommand, statsCommand, topCommand } from './berth-container-info.ts';
import { serveCommand } from './berth-serve.ts';
import { eventsCommand, infoCommand, systemBootCommand, systemCheckCommand, systemDfCommand, systemPruneCommand, VERSION, versionCommand } from './berth-system.ts';

export { VERSION };

/** The top-level commands, in the order --help lists them. */
const TOP_COMMANDS: BerthCommand[] = [
  runCommand, execTopCommand, psTopCommand, pullTopCommand, imagesCommand, loginCommand, logoutCommand, infoCommand, versionCommand,
  attachCommand, createCommand, eventsCommand, historyTopCommand, importTopCommand, inspectTopCommand, killCommand, loadTopCommand,
  logsCommand, pauseCommand, renameCommand, restartCommand, rmCommand, rmiTopCommand, saveTopCommand, startCommand, statsCommand,
  stopCommand, tagTopCommand, topCommand, unpauseCommand, updateCommand, waitCommand, portCommand, commitCommand, diffCommand,
  exportCommand, cpCommand, serveCommand,
];

/** `berth container <sub>`: the container verbs under docker's management command. */
const CONTAINER_COMMANDS: Array<[string[], BerthCommand]> = [
  [['ls', 'ps', 'list'], containerLsCommand],
  [['run'], runCommand],
  [['create'], createCommand],
  [['start'], startCommand],
  [['stop'], stopCommand],
  [['restart'], restartCommand],
  [['kill'], killCommand],
  [['rm', 'remove'], rmCommand],
  [['pause'], pauseCommand],
  [['unpause'], unpauseCommand],
  [['rename'], renameCommand],
  [['update'], updateCommand],
  [['wait'], waitCommand],
  [['logs'], logsCommand],
  [['exec'], execTopCommand],
  [['attach'], attachCommand],
  [['inspect'], containerInspectCommand],
  [['top'], topCommand],
  [['stats'], statsCommand],
  [['port'], portCommand],
  [['diff'], diffCommand],
  [['export'], exportCommand],
  [['commit'], commitCommand],
  [['cp'], cpCommand],
  [['prune'], containerPruneCommand],
  [['cleanup'], containerCleanupCommand],
];

const SYSTEM_COMMANDS: Array<[string[], BerthCommand]> = [
  [['df'], systemDfCommand],
  [['check'], systemCheckCommand],
  [['prune'], systemPruneCommand],
  [['boot'], systemBootCommand],
  [['info'], infoCommand],
  [['events'], eventsCommand],
];

const MANAGEMENT: Record<string, { summary: string; commands: Array<[string[], BerthCommand]>; hidden?: string[] }> = {
  container: { summary: 'Manage containers', commands: CONTAINER_COMMANDS, hidden: ['cleanup'] },
  image: { summary: 'Manage images', commands: [] },
  network: {
    summary: 'Manage networks',
    commands: [
      [['create'], networkCreateCommand],
      [['ls', 'list'], networkLsCommand],
      [['inspect'], networkInspectCommand],
      [['rm', 'remove'], networkRmCommand],
      [['connect'], networkConnectCommand],
      [['disconnect'], networkDisconnectCommand],
      [['prune'], networkPruneCommand],
    ],
  },
  volume: {
    summary: 'Manage volumes',
    commands: [
      [['create'], volumeCreateCommand],
      [['ls', 'list'], volumeLsCommand],
      [['inspect'], volumeInspectCommand],
      [['rm', 'remove'], volumeRmCommand],
      [['prune'], volumePruneCommand],
    ],
  },
  system: { summary: 'Manage berth', commands: SYSTEM_COMMANDS },
};

/** `berth image <sub>`; aliases as docker has them. */
const IMAGE_COMMANDS: Array<[string[], BerthCommand]> = [
  [['ls', 'list'], imageLsCommand],
  [['inspect'], imageInspectCommand],
  [['history'], imageHistoryCommand],
  [['pull'], imagePullCommand],
  [['rm', 'remove'], imageRmCommand],
  [['tag'], imageTagCommand],
  [['save'], imageSaveCommand],
  [['load'], imageLoadCommand],
  [['import'], imageImportCommand],
  [['prune'], imagePruneCommand],
];

MANAGEMENT.image!.commands = IMAGE_COMMANDS;

const GLOBAL_FLAGS: FlagSpec[] = [
  { name: 'root', type: 'string', value: 'DIR', description: 'engine state directory (default $BERTH_ROOT or /var/lib/berth)' },
  { name: 'insecure-registry', type: 'string', repeatable: true, value: 'HOST', description: 'reach this registry over plain HTTP (also $BERTH_INSECURE_REGISTRIES)' },
  { name: 'debug', short: 'D', type: 'boolean', description: 'print error causes and stacks' },
  { name: 'version', short: 'v', type: 'boolean', description: 'print the version' },
];

function summaryOf(spec: CommandSpec): string {
  return spec.summary.split(/\.\s|: | \(|; /)[0]!.replace(/\.$/, '');
}

function mainHelp(): string {
  const lines = [`Usage: ${PROG} [OPTIONS] COMMAND`, '', 'A daemonless, Docker-compatible container engine.', '', 'Common Commands:'];
  const common = ['run', 'exec', 'ps', 'pull', 'images', 'login', 'logout', 'info', 'version'];
  for (const c of TOP_COMMANDS.filter((c) => common.includes(c.spec.name))) lines.push(`  ${c.spec.name.padEnd(10)} ${summaryOf(c.spec)}`);
  lines.push('', 'Management Commands:');
  for (const [name, m] of Object.entries(MANAGEMENT)) lines.push(`  ${name.padEnd(10)} ${m.summary}`);
  lines.push('', 'Commands:');
  for (const c of TOP_COMMANDS.filter((c) => !common.includes(c.spec.name))) lines.push(`  ${c.spec.name.padEnd(10)} ${summaryOf(c.spec)}`);
  lines.push('', 'Global Options:', ...formatFlags(GLOBAL_FLAGS));
  lines.push('', `Run '${PROG} COMMAND --help' for more information on a command.`);
  return lines.join('\n') + '\n';
}

function managementHelp(name: string): string {
  const m = MANAGEMENT[name]!;
  const lines = [`Usage: ${PROG} ${name} COMMAND`, '', m.summary, '', 'Commands:'];
  for (const [names, c] of m.commands) {
    if (m.hidden?.includes(names[0]!)) continue;
    lines.push(`  ${names[0]!.padEnd(10)} ${summaryOf(c.spec)}${names.length > 1 ? ` (alias: ${names.slice(1).join(', ')})` : ''}`);
  }
  lines.push('', `Run '${PROG} ${name} COMMAND --help' for more information on a command.`);
  return lines.join('\n') + '\n';
}

function defaultIo(): Io {
  // a reader that went away (`berth logs | head`): output is dropped, and streams end
  const closed = new AbortController();
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err;
      stream.write = (() => true) as typeof stream.write;
      closed.abort();
    });
  }
  return {
    closed: closed.signal,
    out: (t) => process.stdout.write(t),
    err: (t) => process.stderr.write(t),
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
    isTty: process.stdout.isTTY === true,
    columns: process.stdout.columns ?? 80,
  };
}

function parseGlobals(argv: readonly string[]): { globals: Globals; rest: string[]; early?: 'help' | 'version' } {
  const fromEnv = process.env.BERTH_INSECURE_REGISTRIES?.split(',').map((s) => s.trim()).filter(Boolean) ?? [];
  const parsed = parseGlobalArgs(GLOBAL_FLAGS, argv, PROG);
  const g = parsed.flags;
  const globals: Globals = { debug: g.debug === true, insecureRegistries: [...fromEnv, ...((g['insecure-registry'] as string[] | undefined) ?? [])] };
  if (typeof g.root === 'string') globals.root = g.root;
  if (g.version) return { globals, rest: [], early: 'version' };
  if (parsed.help) return { globals, rest: [], early: 'help' };
  return { globals, rest: parsed.rest };
}

/** The command `argv` names, and the arguments left for it. */
function findCommand(rest: string[]): { command?: BerthCommand; args: string[]; helpText?: string } {
  const [first, second] = rest;
  if (first === undefined) return { args: [], helpText: mainHelp() };
  const management = MANAGEMENT[first];
  if (management) {
    if (second === undefined || second === '--help' || second === '-h') return { args: [], helpText: managementHelp(first) };
    const found = management.commands.find(([names]) => names.includes(second));
    if (!found) throw new BerthError('INVALID_ARGUMENT', `unknown command "${second}" for "${PROG} ${first}"`, { hint: `see '${PROG} ${first} --help'` });
    return { command: found[1], args: rest.slice(2) };
  }
  if (first === 'help') return { args: [], helpText: mainHelp() };
  const command = TOP_COMMANDS.find((c) => c.spec.name === first);
  if (!command) throw new BerthError('INVALID_ARGUMENT', `unknown command "${first}" for "${PROG}"`, { hint: `see '${PROG} --help'` });
  return { command, args: rest.slice(1) };
}

export async function berthMain(argv: readonly string[], io: Io = defaultIo()): Promise<number> {
  let engine: Engine | undefined;
  let globals: Globals = { debug: false, insecureRegistries: [] };
  let found: BerthCommand | undefined;
  try {
    const parsed = parseGlobals(argv);
    globals = parsed.globals;
    if (parsed.early === 'version') return io.out(`${PROG} version ${VERSION}\n`), 0;
    if (parsed.early === 'help') return io.out(mainHelp()), 0;
    const { command, args, helpText } = findCommand(parsed.rest);
    if (!command) return io.out(helpText ?? mainHelp()), 0;
    found = command;
    const commandArgs = parseCommandArgs(command.spec, args, PROG);
    if (commandArgs.help) return io.out(formatHelp(command.spec, PROG)), 0;
    const root = globals.root;
    const openEngine = () => (engine ??= new Engine({ ...(root ? { root } : {}), insecureRegistries: globals.insecureRegistries, launcher: 'node' }));
    const env: CommandEnv = {
      io,
      globals,
      images: () => openEngine().images,
      engine: openEngine,
    };
    return await command.run(commandArgs, env);
  } catch (err) {
    renderError(err, io, globals.debug);
    return found?.errorExitCode ?? exitCodeFor(err);
  } finally {
    // The database is left open: the process ends now, and closing the last connection
    // checkpoints the WAL into the database with an fsync (~3 ms of every command). The next
    // opener reads the WAL as it is; SQLite checkpoints it every 1000 pages anyway.
    void engine;
  }
}
