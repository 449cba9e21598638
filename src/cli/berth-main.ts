/**
 * berth: docker's command line over the engine. Command modules (berth-*.ts) do the work
 * and write their output; this file parses global flags, dispatches, and prints errors once,
 * here at the boundary, with docker's exit codes.
 */
import { Images } from '../engine/index.ts';
import { parseCommandArgs, parseGlobalArgs, formatFlags, formatHelp, type CommandSpec, type FlagSpec } from './args.ts';
import { PROG, exitCodeFor, renderError, type BerthCommand, type CommandEnv, type Globals, type Io } from './berth-command.ts';
import { importTopCommand, imageImportCommand, imageLoadCommand, imageSaveCommand, loadTopCommand, saveTopCommand } from './berth-image-archive.ts';
import { historyTopCommand, imageHistoryCommand, imageInspectCommand } from './berth-image-info.ts';
import { imageLsCommand, imagesCommand } from './berth-image-list.ts';
import { imagePruneCommand, imageRmCommand, imageTagCommand, rmiTopCommand, tagTopCommand } from './berth-image-remove.ts';
import { imagePullCommand, loginCommand, logoutCommand, pullTopCommand } from './berth-registry.ts';
import { BerthError } from '../common/index.ts';

export const VERSION = '0.1.0';

const TOP_COMMANDS: BerthCommand[] = [
  imagesCommand, pullTopCommand, rmiTopCommand, tagTopCommand, historyTopCommand,
  saveTopCommand, loadTopCommand, importTopCommand, loginCommand, logoutCommand,
];

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
  const lines = [`Usage: ${PROG} [OPTIONS] COMMAND`, '', 'A daemonless, Docker-compatible container engine.', '', 'Commands:'];
  for (const c of TOP_COMMANDS) lines.push(`  ${c.spec.name.padEnd(10)} ${summaryOf(c.spec)}`);
  lines.push('', 'Management Commands:', `  ${'image'.padEnd(10)} Manage images`, '', 'Global Options:', ...formatFlags(GLOBAL_FLAGS));
  lines.push('', `Run '${PROG} COMMAND --help' for more information on a command.`);
  return lines.join('\n') + '\n';
}

function imageHelp(): string {
  const lines = [`Usage: ${PROG} image COMMAND`, '', 'Manage images', '', 'Commands:'];
  for (const [names, c] of IMAGE_COMMANDS) lines.push(`  ${names[0]!.padEnd(10)} ${summaryOf(c.spec)}${names.length > 1 ? ` (alias: ${names.slice(1).join(', ')})` : ''}`);
  lines.push('', `Run '${PROG} image COMMAND --help' for more information on a command.`);
  return lines.join('\n') + '\n';
}

function defaultIo(): Io {
  return {
    out: (t) => process.stdout.write(t),
    err: (t) => process.stderr.write(t),
    stdin: process.stdin,
    stdout: process.stdout,
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
  if (first === 'image') {
    if (second === undefined || second === '--help' || second === '-h') return { args: [], helpText: imageHelp() };
    const found = IMAGE_COMMANDS.find(([names]) => names.includes(second));
    if (!found) throw new BerthError('INVALID_ARGUMENT', `unknown command "${second}" for "${PROG} image"`, { hint: `see '${PROG} image --help'` });
    return { command: found[1], args: rest.slice(2) };
  }
  if (first === 'help') return { args: [], helpText: mainHelp() };
  const command = TOP_COMMANDS.find((c) => c.spec.name === first);
  if (!command) throw new BerthError('INVALID_ARGUMENT', `unknown command "${first}" for "${PROG}"`, { hint: `see '${PROG} --help'` });
  return { command, args: rest.slice(1) };
}

export async function berthMain(argv: readonly string[], io: Io = defaultIo()): Promise<number> {
  let images: Images | undefined;
  let globals: Globals = { debug: false, insecureRegistries: [] };
  try {
    const parsed = parseGlobals(argv);
    globals = parsed.globals;
    if (parsed.early === 'version') return io.out(`${PROG} version ${VERSION}\n`), 0;
    if (parsed.early === 'help') return io.out(mainHelp()), 0;
    const { command, args, helpText } = findCommand(parsed.rest);
    if (!command) return io.out(helpText ?? mainHelp()), 0;
    const commandArgs = parseCommandArgs(command.spec, args, PROG);
    if (commandArgs.help) return io.out(formatHelp(command.spec, PROG)), 0;
    const root = globals.root;
    const env: CommandEnv = {
      io,
      globals,
      images: () => (images ??= new Images(root ? { root } : {})),
    };
    return await command.run(commandArgs, env);
  } catch (err) {
    renderError(err, io, globals.debug);
    return exitCodeFor(err);
  } finally {
    images?.close();
  }
}
