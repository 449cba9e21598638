/**
 * Dockerfile instructions applied to an image config, as `docker import --change` and
 * `docker commit --change` take them: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME,
 * WORKDIR, STOPSIGNAL.
 */
import { posix } from 'node:path';
import { BerthError } from '../../common/index.ts';
import type { ContainerConfig } from '../manifest.ts';

const SUPPORTED = ['CMD', 'ENTRYPOINT', 'ENV', 'EXPOSE', 'LABEL', 'USER', 'VOLUME', 'WORKDIR', 'STOPSIGNAL'];

function invalid(change: string, reason: string): BerthError {
  return new BerthError('INVALID_ARGUMENT', `invalid --change ${JSON.stringify(change)}: ${reason}`, {
    hint: `supported instructions: ${SUPPORTED.join(', ')}`,
  });
}

/** Split words the way the Dockerfile parser does for ENV/LABEL: quotes group, backslash escapes. */
export function splitWords(text: string): string[] {
  const words: string[] = [];
  let current = '';
  let hasWord = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quote) {
      if (ch === quote) quote = undefined;
      else if (ch === '\\' && quote === '"' && i + 1 < text.length) current += text[++i];
      else current += ch;
      continue;
    }
    if (ch === '"' || ch === "'") {
      quote = ch;
      hasWord = true;
    } else if (ch === '\\' && i + 1 < text.length) {
      current += text[++i];
      hasWord = true;
    } else if (/\s/.test(ch)) {
      if (hasWord) words.push(current);
      current = '';
      hasWord = false;
    } else {
      current += ch;
      hasWord = true;
    }
  }
  if (quote) throw new BerthError('INVALID_ARGUMENT', `unterminated quote in ${JSON.stringify(text)}`);
  if (hasWord) words.push(current);
  return words;
}

/** `["a", "b"]` (exec form) as a list, or undefined when `text` is not a JSON string array. */
function execForm(text: string): string[] | undefined {
  if (!text.startsWith('[')) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value as string[];
  } catch {
    // shell form after all
  }
  return undefined;
}

function commandOf(text: string): string[] {
  return execForm(text) ?? ['/bin/sh', '-c', text];
}

/** `k=v k2="v 2"`, or the legacy single pair `k v w` (value: the rest). */
function keyValues(change: string, args: string): Array<[string, string]> {
  const words = splitWords(args);
  if (words.length === 0) throw invalid(change, 'needs at least one key=value');
  if (!words[0]!.includes('=')) {
    const space = args.search(/\s/);
    if (space < 0) throw invalid(change, 'needs a value');
    return [[args.slice(0, space), args.slice(space).trim()]];
  }
  return words.map((w) => {
    const eq = w.indexOf('=');
    if (eq <= 0) throw invalid(change, `${JSON.stringify(w)} is not key=value`);
    return [w.slice(0, eq), w.slice(eq + 1)];
  });
}

function setEnv(env: string[], key: string, value: string): string[] {
  const out = env.filter((e) => e.slice(0, e.indexOf('=') < 0 ? e.length : e.indexOf('=')) !== key);
  out.push(`${key}=${value}`);
  return out;
}

function exposedPort(change: string, word: string): string {
  const m = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(word);
  if (!m) throw invalid(change, `invalid port ${JSON.stringify(word)} (use PORT[/tcp|udp|sctp])`);
  if (m[2]) throw invalid(change, 'port ranges are not supported here');
  return `${Number(m[1])}/${(m[3] ?? 'tcp').toLowerCase()}`;
}

/** Apply one instruction to `config` (returned as a new object). */
export function applyChange(config: ContainerConfig, change: string, state: { isCmdSet: boolean } = { isCmdSet: false }): ContainerConfig {
  const trimmed = change.trim();
  const m = /^([A-Za-z]+)(?:\s+([\s\S]*))?$/.exec(trimmed);
  if (!m) throw invalid(change, 'expected INSTRUCTION ARGUMENTS');
  const instruction = m[1]!.toUpperCase();
  const args = (m[2] ?? '').trim();
  const next: ContainerConfig = { ...config };
  if (args === '' && instruction !== 'CMD' && instruction !== 'ENTRYPOINT') throw invalid(change, `${instruction} needs an argument`);
  switch (instruction) {
    case 'CMD':
      next.Cmd = args === '' ? null : commandOf(args);
      state.isCmdSet = true;
      return next;
    case 'ENTRYPOINT':
      next.Entrypoint = args === '' ? null : commandOf(args);
      // as in a Dockerfile, a new ENTRYPOINT resets a CMD not set by these changes
      if (!state.isCmdSet) next.Cmd = null;
      return next;
    case 'ENV': {
      let env = [...(config.Env ?? [])];
      for (const [key, value] of keyValues(change, args)) env = setEnv(env, key, value);
      next.Env = env;
      return next;
    }
    case 'LABEL':
      next.Labels = { ...(config.Labels ?? {}) };
      for (const [key, value] of keyValues(change, args)) next.Labels[key] = value;
      return next;
    case 'EXPOSE':
      next.ExposedPorts = { ...(config.ExposedPorts ?? {}) };
      for (const word of splitWords(args)) next.ExposedPorts[exposedPort(change, word)] = {};
      return next;
    case 'VOLUME':
      next.Volumes = { ...(config.Volumes ?? {}) };
      for (const path of execForm(args) ?? splitWords(args)) {
        if (!path.startsWith('/')) throw invalid(change, `volume ${JSON.stringify(path)} is not an absolute path`);
        next.Volumes[path] = {};
      }
      return next;
    case 'USER':
      next.User = args;
      return next;
    case 'WORKDIR':
      next.WorkingDir = posix.resolve(config.WorkingDir || '/', splitWords(args).join(' ') || args);
      return next;
    case 'STOPSIGNAL':
      if (!/^(SIG)?[A-Z0-9+-]+$/i.test(args)) throw invalid(change, `invalid signal ${JSON.stringify(args)}`);
      next.StopSignal = args;
      return next;
    default:
      throw invalid(change, `${instruction} cannot be applied here`);
  }
}

/** Apply every instruction in order. */
export function applyChanges(config: ContainerConfig, changes: readonly string[]): ContainerConfig {
  const state = { isCmdSet: false };
  return changes.reduce((c, change) => applyChange(c, change, state), config);
}
