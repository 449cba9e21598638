/**
 * `berth run`, `berth create`, `berth start`: containers from images, docker's flags and exit
 * codes (125 berth's own error, 126 cannot execute, 127 not found, else the container's).
 */
import { writeFileSync } from 'node:fs';
import { BerthError } from '../common/index.ts';
import { explainRun, openAttach, parseReference, parseDetachKeys, pumpAttach, startErrorExitCode, type AttachSession, type CreateEvent, type PullPolicy, type RunSpec } from '../engine/index.ts';
import type { ParsedArgs } from './args.ts';
import { boolFlag, renderError, stringFlag, type BerthCommand, type CommandEnv } from './berth-command.ts';
import { RUN_FLAGS, runSpecFromArgs } from './run-flags.ts';
import { LayerProgress } from './render/progress.ts';

const PROXIED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'];

function pullPolicy(args: ParsedArgs): PullPolicy {
  const value = stringFlag(args, 'pull') ?? 'missing';
  if (value !== 'missing' && value !== 'always' && value !== 'never') {
    throw new BerthError('INVALID_ARGUMENT', `invalid pull option: '${value}': must be one of "always", "missing" or "never"`);
  }
  return value;
}

/** Pull progress on stderr, as docker run shows it. */
function onCreateEvent(env: CommandEnv, quiet: boolean): (e: CreateEvent) => void {
  let progress: LayerProgress | undefined;
  return (e) => {
    if (e.type === 'image-missing') {
      const ref = parseReference(e.imageRef);
      env.io.err(`Unable to find image '${ref.familiar}${ref.digest ? `@${ref.digest}` : `:${ref.tag}`}' locally\n`);
      return;
    }
    if (quiet) return;
    progress ??= new LayerProgress({ write: (t) => env.io.err(t), isTty: process.stderr.isTTY === true, columns: env.io.columns });
    progress.onEvent(e.event);
  };
}

function checkTerminal(spec: RunSpec, env: CommandEnv): void {
  if (spec.tty && spec.interactive && !(env.io.stdin as { isTTY?: boolean }).isTTY) {
    throw new BerthError('INVALID_ARGUMENT', 'the input device is not a TTY', { hint: 'run without -t, or from a terminal' });
  }
}

const runSpec = {
  name: 'run',
  usage: 'run [OPTIONS] IMAGE [COMMAND] [ARG...]',
  summary: 'Create and run a new container from an image',
  positionals: [1, Infinity] as [number, number],
  restAfter: 1,
  flags: RUN_FLAGS,
};

export const runCommand: BerthCommand = {
  spec: runSpec,
  errorExitCode: 125,
  async run(args, env) {
    const spec = runSpecFromArgs(args);
    const detach = boolFlag(args, 'detach');
    const pull = pullPolicy(args);
    if (boolFlag(args, 'explain')) return env.io.out(await explainRun(env.engine().ctx, spec, { pull, detach })), 0;
    const detachKeys = stringFlag(args, 'detach-keys');
    const keys = detachKeys !== undefined ? parseDetachKeys(detachKeys) : undefined;
    if (!detach) checkTerminal(spec, env);
    const containers = env.engine().containers;
    const stdin = env.io.stdin as NodeJS.ReadStream;
    const isRaw = !detach && spec.tty === true && spec.interactive === true && stdin.isTTY === true && typeof stdin.setRawMode === 'function';
    const stdout = env.io.stdout as NodeJS.WriteStream;
    let id: string | undefined;
    const handlers = new Map<NodeJS.Signals, () => void>();
    try {
      const result = await containers.run(spec, {
        pull,
        detach,
        onEvent: onCreateEvent(env, boolFlag(args, 'quiet')),
        streams: { stdin, stdout: env.io.stdout, stderr: env.io.stderr, tty: spec.tty === true, detachKeys: keys },
        ...(spec.tty && stdout.isTTY ? { consoleSize: { rows: stdout.rows, cols: stdout.columns } } : {}),
        onResize: (resize) => {
          if (!spec.tty || !stdout.isTTY) return () => undefined;
          const onResize = () => resize(stdout.rows, stdout.columns);
          stdout.on('resize', onResize);
          return () => stdout.off('resize', onResize);
        },
        beforeStart: () => {
          if (isRaw) stdin.setRawMode(true);
        },
        onStarted: (rec) => {
          id = rec.id;
          const cidfile = stringFlag(args, 'cidfile');
          if (cidfile) writeFileSync(cidfile, rec.id, { flag: 'wx' });
          if (detach) return;
          // docker's --sig-proxy (default on): signals to the CLI go to the container
          if (args.flags['sig-proxy'] === false) return;
          for (const sig of PROXIED) {
            if (sig === 'SIGWINCH') continue;
            const h = () => void containers.signal(rec.id, sig).catch(() => undefined);
            handlers.set(sig, h);
            process.on(sig, h);
          }
        },
      });
      if (detach) return env.io.out(`${result.record.id}\n`), 0;
      return result.detached ? 0 : (result.exitCode ?? 0);
    } catch (err) {
      // docker: a program that cannot be started exits 127 (not found) or 126 (not executable)
      const code = id === undefined ? startErrorExitCode(err) : 128;
      if (code === 126 || code === 127) {
        renderError(err, env.io, env.globals.debug);
        return code;
      }
      throw err;
    } finally {
      if (isRaw) stdin.setRawMode(false);
      for (const [sig, h] of handlers) process.off(sig, h);
    }
  },
};

export const createCommand: BerthCommand = {
  spec: { ...runSpec, name: 'create', usage: 'create [OPTIONS] IMAGE [COMMAND] [ARG...]', summary: 'Create a new container', flags: RUN_FLAGS.filter((f) => !['detach', 'rm', 'sig-proxy', 'detach-keys'].includes(f.name)).concat(RUN_FLAGS.filter((f) => f.name === 'rm')) },
  errorExitCode: 125,
  async run(args, env) {
    const spec = runSpecFromArgs(args);
    const pull = pullPolicy(args);
    if (boolFlag(args, 'explain')) return env.io.out(await explainRun(env.engine().ctx, spec, { pull, detach: true })), 0;
    const { record, warnings } = await env.engine().containers.create(spec, { pull, onEvent: onCreateEvent(env, boolFlag(args, 'quiet')) });
    for (const w of warnings) env.io.err(`WARNING: ${w}\n`);
    const cidfile = stringFlag(args, 'cidfile');
    if (cidfile) writeFileSync(cidfile, record.id, { flag: 'wx' });
    env.io.out(`${record.id}\n`);
    return 0;
  },
};

function startCommandNamed(name: string): BerthCommand {
  return {
    spec: {
      name,
      usage: `${name} [OPTIONS] CONTAINER [CONTAINER...]`,
      summary: 'Start one or more stopped containers',
      positionals: [1, Infinity],
      flags: [
        { name: 'attach', short: 'a', type: 'boolean', description: "attach STDOUT/STDERR and forward signals" },
        { name: 'interactive', short: 'i', type: 'boolean', description: "attach container's STDIN" },
        { name: 'detach-keys', type: 'string', value: 'string', description: 'override the key sequence for detaching a container' },
      ],
    },
    async run(args, env) {
      const containers = env.engine().containers;
      const attach = boolFlag(args, 'attach') || boolFlag(args, 'interactive');
      if (attach && args.positionals.length > 1) throw new BerthError('INVALID_ARGUMENT', 'you cannot start and attach multiple containers at once');
      if (!attach) {
        let status = 0;
        for (const ref of args.positionals) {
          try {
            await containers.start(ref);
            env.io.out(`${ref}\n`);
          } catch (err) {
            if (!(err instanceof BerthError)) throw err;
            env.io.err(`Error: ${err.message}\n`);
            status = 1;
          }
        }
        if (status) env.io.err('Error: failed to start containers: ' + args.positionals.join(', ') + '\n');
        return status;
      }
      const ref = args.positionals[0]!;
      const rec = containers.get(ref);
      const detachKeys = stringFlag(args, 'detach-keys');
      const stdin = env.io.stdin as NodeJS.ReadStream;
      const isRaw = rec.spec.tty === true && boolFlag(args, 'interactive') && stdin.isTTY === true;
      let session: AttachSession | undefined;
      await containers.start(ref, {
        beforeStart: async (paths) => {
          session = await openAttach(paths.attachPath);
        },
      });
      if (isRaw) stdin.setRawMode(true);
      try {
        const out = await pumpAttach(session!, {
          stdin: boolFlag(args, 'interactive') && rec.spec.interactive ? stdin : undefined,
          stdout: env.io.stdout,
          stderr: env.io.stderr,
          tty: rec.spec.tty === true,
          detachKeys: detachKeys ? parseDetachKeys(detachKeys) : undefined,
        });
        if (out.detached) return 0;
        const waited = await containers.wait(rec.id, rec.spec.autoRemove ? 'removed' : 'not-running');
        return out.exit?.exitCode ?? waited.StatusCode;
      } finally {
        if (isRaw) stdin.setRawMode(false);
      }
    },
  };
}

export const startCommand = startCommandNamed('start');
