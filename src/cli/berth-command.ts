/**
 * What every `berth` command module has: a spec (name, usage, flags: see args.ts) and a
 * handler that gets parsed arguments and the environment, does its work through the
 * engine and returns an exit code. Output goes only through `env.io`.
 */
import { BerthError } from '../common/index.ts';
import type { Engine, Images } from '../engine/index.ts';
import type { CommandSpec, ParsedArgs } from './args.ts';

export const PROG = 'berth';

export interface Io {
  out(text: string): void;
  err(text: string): void;
  /** Standard input (for `load`, `import -`, `login --password-stdin`). */
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  /** Standard output as a byte stream (for `save` without -o, a container's output). */
  stdout: NodeJS.WritableStream;
  /** Standard error as a byte stream (a container's stderr). */
  stderr: NodeJS.WritableStream;
  /** True when stdout is a terminal (progress bars, refusing to write archives to it). */
  isTty: boolean;
  columns: number;
  /** Aborted when stdout is gone (EPIPE: `berth logs -f | head`): streaming commands end. */
  closed?: AbortSignal;
}

export interface Globals {
  root?: string;
  debug: boolean;
  insecureRegistries: string[];
}

export interface CommandEnv {
  io: Io;
  globals: Globals;
  /** The engine's images (opened on first use, closed when the command ends). */
  images(): Images;
  /** The whole engine: images and containers (the same database as images()). */
  engine(): Engine;
}

export interface BerthCommand {
  spec: CommandSpec;
  run(args: ParsedArgs, env: CommandEnv): Promise<number>;
  /** The exit code of an error of this command (docker's run and create: 125, whatever it is). */
  errorExitCode?: number;
}

/**
 * Runs `fn` for each object named (containers, networks, volumes), printing each name as docker
 * does when it worked and each error when it did not; 1 when any failed. `missingOk` (rm -f of
 * networks and volumes): a name that does not exist is no error.
 */
export async function forEachContainer(args: ParsedArgs, env: CommandEnv, fn: (ref: string) => Promise<string | undefined>, opts: { missingOk?: boolean } = {}): Promise<number> {
  let status = 0;
  for (const ref of args.positionals) {
    try {
      const shown = await fn(ref);
      if (shown !== undefined) env.io.out(`${shown}\n`);
    } catch (err) {
      if (!(err instanceof BerthError) || err.code === 'INTERNAL') throw err;
      if (opts.missingOk && err.code === 'NOT_FOUND') continue;
      renderError(err, env.io, env.globals.debug);
      status = 1;
    }
  }
  return status;
}

export function stringFlag(args: ParsedArgs, name: string): string | undefined {
  const value = args.flags[name];
  return typeof value === 'string' ? value : undefined;
}

export function listFlag(args: ParsedArgs, name: string): string[] {
  const value = args.flags[name];
  return Array.isArray(value) ? value : typeof value === 'string' ? [value] : [];
}

export function boolFlag(args: ParsedArgs, name: string): boolean {
  return args.flags[name] === true;
}

export const formatFlag = { name: 'format', type: 'string', value: 'FORMAT', description: "'json', or a Go template such as '{{.ID}}' ('table …' for a table)" } as const;
export const quietFlag = { name: 'quiet', short: 'q', type: 'boolean', description: 'print only image IDs' } as const;
export const forceFlag = { name: 'force', short: 'f', type: 'boolean', description: 'do not ask; remove even when several names point at the image' } as const;

/** How an error is printed, once: `Error: <message>` and its hint. */
export function renderError(err: unknown, io: Io, debug = false): void {
  const message = err instanceof Error ? err.message : String(err);
  io.err(`Error: ${message}\n`);
  if (err instanceof BerthError && err.hint) io.err(`hint: ${err.hint}\n`);
  if (debug && err instanceof Error && err.stack) io.err(err.stack + '\n');
}

/** Docker's exit codes: 1 when the image or what was asked is the problem, 125 for the engine. */
export function exitCodeFor(err: unknown): number {
  if (err instanceof BerthError && ['NOT_FOUND', 'CONFLICT', 'CANCELED', 'PERMISSION_DENIED', 'FAILED_PRECONDITION', 'NOT_IMPLEMENTED'].includes(err.code)) return 1;
  return 125;
}

/** One line of standard input (without its newline); undefined at end of input. */
export async function readLine(stdin: NodeJS.ReadableStream): Promise<string | undefined> {
  let text = '';
  for await (const chunk of stdin as AsyncIterable<Buffer | string>) {
    text += chunk.toString();
    const newline = text.indexOf('\n');
    if (newline >= 0) return text.slice(0, newline).replace(/\r$/, '');
  }
  return text === '' ? undefined : text;
}
