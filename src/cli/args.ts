/**
 * The one command-line parser of both CLIs (berth, berth-runtime): every command, and the
 * global flags, declare their flags; the grammar is docker's (pflag's):
 *   --flag value, --flag=value, --bool, --bool=false
 *   -f value, -fvalue, grouped short flags (-it, -qa, -itd), a value flag last in a group
 *     taking the rest of it or the next argument (-dp 80:80, -ePATH=/bin)
 *   repeated flags (-e A=1 -e B=2), -- ends the flags, - is an argument,
 *   and options end at the Nth argument where a command says so (the image in `run`).
 * Unknown flags are errors that name the flag; every command has --help.
 */
import { BerthError } from '../common/index.ts';

export interface FlagSpec {
  name: string;
  short?: string;
  type: 'boolean' | 'string' | 'number';
  description: string;
  /** placeholder shown in help, e.g. DIR */
  value?: string;
  repeatable?: boolean;
  /** other long names (docker's aliases, e.g. --memory-swap's --memory_swap: none needed yet) */
  aliases?: readonly string[];
  /** not shown in --help */
  hidden?: boolean;
}

export interface CommandSpec {
  name: string;
  usage: string;
  summary: string;
  flags: FlagSpec[];
  /** [min, max] positional arguments */
  positionals: [number, number];
  /** After this many positionals, the rest of the line is taken as is (a command and its flags). */
  restAfter?: number;
}

export interface ParsedArgs {
  flags: Record<string, string | boolean | number | string[] | undefined>;
  positionals: string[];
  help: boolean;
}

const NUMBER_RE = /^-?\d+$/;

/** Parses `argv` by `spec`; with `stopAtPositional` (global flags) it ends at the first
 * argument and returns the rest untouched in `positionals`. */
function parse(spec: CommandSpec, argv: readonly string[], prog: string, stopAtPositional: boolean): ParsedArgs {
  const flags: ParsedArgs['flags'] = {};
  const positionals: string[] = [];
  let help = false;
  const byName = new Map<string, FlagSpec>();
  for (const f of spec.flags) for (const n of [f.name, ...(f.aliases ?? [])]) byName.set(n, f);
  const byShort = new Map(spec.flags.filter((f) => f.short).map((f) => [f.short!, f]));
  const where = spec.name ? `"${prog} ${spec.name}"` : `"${prog}"`;
  const unknown = (flag: string) =>
    new BerthError('INVALID_ARGUMENT', `unknown flag ${flag} for ${where}`, { hint: `see: ${prog}${spec.name ? ' ' + spec.name : ''} --help` });

  const set = (flag: FlagSpec, raw: string | undefined, shown: string) => {
    if (flag.type === 'boolean') {
      if (raw === undefined || raw === 'true') flags[flag.name] = true;
      else if (raw === 'false') flags[flag.name] = false;
      else throw new BerthError('INVALID_ARGUMENT', `flag ${shown} takes true or false, got ${JSON.stringify(raw)}`);
      return;
    }
    const value = raw!;
    if (flag.type === 'number') {
      if (!NUMBER_RE.test(value)) throw new BerthError('INVALID_ARGUMENT', `flag --${flag.name} needs a whole number, got ${JSON.stringify(value)}`);
      flags[flag.name] = Number(value);
    } else if (flag.repeatable) {
      flags[flag.name] = [...((flags[flag.name] as string[] | undefined) ?? []), value];
    } else {
      flags[flag.name] = value;
    }
  };

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (spec.restAfter !== undefined && positionals.length >= spec.restAfter) {
      positionals.push(...argv.slice(i));
      break;
    }
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      if (stopAtPositional) {
        positionals.push(...argv.slice(i));
        break;
      }
      positionals.push(arg);
      continue;
    }
    const next = () => {
      if (i + 1 >= argv.length) return undefined;
      return argv[++i]!;
    };
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = arg.slice(2, eq > 0 ? eq : undefined);
      if (name === 'help') {
        help = true;
        continue;
      }
      const flag = byName.get(name);
      if (!flag) throw unknown(`--${name}`);
      let value = eq > 0 ? arg.slice(eq + 1) : undefined;
      if (flag.type !== 'boolean' && value === undefined) {
        value = next();
        if (value === undefined) throw new BerthError('INVALID_ARGUMENT', `flag --${flag.name} needs a value`, { hint: `see: ${prog}${spec.name ? ' ' + spec.name : ''} --help` });
      }
      set(flag, value, `--${name}`);
      continue;
    }
    // one or more short flags: -i, -it, -p80, -dp 80:80, -ePATH=/bin
    for (let j = 1; j < arg.length; j++) {
      const letter = arg[j]!;
      const flag = byShort.get(letter);
      if (!flag) {
        if (letter === 'h') {
          help = true;
          continue;
        }
        throw unknown(`-${letter}${j > 1 ? ` (in ${arg})` : ''}`);
      }
      if (flag.type === 'boolean') {
        set(flag, undefined, `-${letter}`);
        continue;
      }
      // a value flag takes the rest of the group, or the next argument
      let value: string | undefined = arg.slice(j + 1);
      if (value.startsWith('=')) value = value.slice(1);
      if (value === '') {
        value = next();
        if (value === undefined) throw new BerthError('INVALID_ARGUMENT', `flag -${letter} (--${flag.name}) needs a value`, { hint: `see: ${prog}${spec.name ? ' ' + spec.name : ''} --help` });
      }
      set(flag, value, `-${letter}`);
      break;
    }
  }
  return { flags, positionals, help };
}

export function parseCommandArgs(spec: CommandSpec, argv: readonly string[], prog: string): ParsedArgs {
  const parsed = parse(spec, argv, prog, false);
  if (!parsed.help) {
    const [min, max] = spec.positionals;
    if (parsed.positionals.length < min) {
      throw new BerthError('INVALID_ARGUMENT', `"${prog} ${spec.name}" requires ${min === max ? 'exactly' : 'at least'} ${min} argument${min === 1 ? '' : 's'}`, {
        hint: `usage: ${prog} ${spec.usage}`,
      });
    }
    if (parsed.positionals.length > max) {
      throw new BerthError('INVALID_ARGUMENT', `"${prog} ${spec.name}" takes at most ${max} argument${max === 1 ? '' : 's'}, got ${parsed.positionals.length}`, {
        hint: `usage: ${prog} ${spec.usage}`,
      });
    }
  }
  return parsed;
}

/** The global flags before the command: parsing ends at the command's name, whose arguments
 * come back untouched in `rest`. */
export function parseGlobalArgs(flags: FlagSpec[], argv: readonly string[], prog: string): { flags: ParsedArgs['flags']; rest: string[]; help: boolean } {
  const parsed = parse({ name: '', usage: '', summary: '', flags, positionals: [0, Number.MAX_SAFE_INTEGER] }, argv, prog, true);
  return { flags: parsed.flags, rest: parsed.positionals, help: parsed.help };
}

function flagColumn(f: FlagSpec): string {
  return `${f.short ? `-${f.short}, ` : '    '}--${f.name}${f.type === 'boolean' ? '' : ' ' + (f.value ?? (f.type === 'number' ? 'int' : 'string'))}`;
}

/** Flag lines as docker prints them: aligned columns. */
export function formatFlags(flags: readonly FlagSpec[]): string[] {
  const shown = flags.filter((f) => !f.hidden);
  // -h is --help unless a command gives it another meaning (run's --hostname, as docker's)
  const help = flags.some((f) => f.short === 'h') ? '    --help' : '-h, --help';
  const rows = [...shown.map((f) => [flagColumn(f), f.description + (f.repeatable ? ' (repeatable)' : '')]), [help, 'show this help']] as [string, string][];
  const width = Math.max(...rows.map((r) => r[0].length));
  return rows.map(([left, right]) => `  ${left.padEnd(width)}   ${right}`);
}

export function formatHelp(spec: CommandSpec, prog: string): string {
  const lines = [`Usage: ${prog} ${spec.usage}`, '', spec.summary, '', 'Options:', ...formatFlags(spec.flags)];
  return lines.join('\n') + '\n';
}
