/**
 * A small, strict command-line parser: every command declares its flags, unknown flags are
 * errors that name the flag, and every command has --help.
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

export function parseCommandArgs(spec: CommandSpec, argv: readonly string[], prog: string): ParsedArgs {
  const flags: ParsedArgs['flags'] = {};
  const positionals: string[] = [];
  let help = false;
  const byName = new Map(spec.flags.map((f) => [f.name, f]));
  const byShort = new Map(spec.flags.filter((f) => f.short).map((f) => [f.short!, f]));
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
    if (arg === '--help' || arg === '-h') {
      help = true;
      continue;
    }
    if (arg.startsWith('-') && arg !== '-') {
      const long = arg.startsWith('--');
      const eq = arg.indexOf('=');
      const key = long ? arg.slice(2, eq > 0 ? eq : undefined) : arg.slice(1, 2);
      const flag = long ? byName.get(key) : byShort.get(key);
      if (!flag) {
        throw new BerthError('INVALID_ARGUMENT', `unknown flag ${long ? '--' + key : '-' + key} for "${prog} ${spec.name}"`, {
          hint: `see: ${prog} ${spec.name} --help`,
        });
      }
      let value: string | undefined = long ? (eq > 0 ? arg.slice(eq + 1) : undefined) : arg.length > 2 ? arg.slice(2) : undefined;
      if (flag.type === 'boolean') {
        flags[flag.name] = value === undefined ? true : value !== 'false';
        continue;
      }
      if (value === undefined) {
        if (i + 1 >= argv.length) throw new BerthError('INVALID_ARGUMENT', `flag --${flag.name} needs a value`);
        value = argv[++i]!;
      }
      if (flag.type === 'number') {
        if (!/^-?\d+$/.test(value)) throw new BerthError('INVALID_ARGUMENT', `flag --${flag.name} needs a whole number, got ${JSON.stringify(value)}`);
        flags[flag.name] = Number(value);
      } else if (flag.repeatable) {
        flags[flag.name] = [...((flags[flag.name] as string[] | undefined) ?? []), value];
      } else {
        flags[flag.name] = value;
      }
      continue;
    }
    positionals.push(arg);
  }
  if (!help) {
    const [min, max] = spec.positionals;
    if (positionals.length < min) {
      throw new BerthError('INVALID_ARGUMENT', `"${prog} ${spec.name}" needs ${min === max ? 'exactly' : 'at least'} ${min} argument${min === 1 ? '' : 's'}`, {
        hint: `usage: ${prog} ${spec.usage}`,
      });
    }
    if (positionals.length > max) {
      throw new BerthError('INVALID_ARGUMENT', `"${prog} ${spec.name}" takes at most ${max} argument${max === 1 ? '' : 's'}, got ${positionals.length}`, {
        hint: `usage: ${prog} ${spec.usage}`,
      });
    }
  }
  return { flags, positionals, help };
}

export function formatHelp(spec: CommandSpec, prog: string): string {
  const lines = [`Usage: ${prog} ${spec.usage}`, '', spec.summary, ''];
  if (spec.flags.length) {
    lines.push('Options:');
    const rows = spec.flags.map((f) => [`${f.short ? `-${f.short}, ` : '    '}--${f.name}${f.type === 'boolean' ? '' : ' ' + (f.value ?? 'VALUE')}`, f.description]);
    const width = Math.max(...rows.map((r) => r[0]!.length));
    for (const [left, right] of rows) lines.push(`  ${left!.padEnd(width)}  ${right}`);
  }
  lines.push(`  ${'-h, --help'.padEnd(Math.max(10, ...spec.flags.map(() => 0)))}  show this help`);
  return lines.join('\n') + '\n';
}
