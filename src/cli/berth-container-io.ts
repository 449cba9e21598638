/**
 * `berth logs`, `exec`, `attach`: a container's output and processes, from the outside.
 */
import { BerthError } from '../common/index.ts';
import { parseDetachKeys } from '../engine/index.ts';
import type { CommandSpec } from './args.ts';
import { boolFlag, listFlag, stringFlag, type BerthCommand } from './berth-command.ts';
import { parseTimeFilter } from './berth-container-verbs.ts';
import { readEnvFile } from './run-flags.ts';

export const logsCommand: BerthCommand = {
  spec: {
    name: 'logs',
    usage: 'logs [OPTIONS] CONTAINER',
    summary: 'Fetch the logs of a container',
    positionals: [1, 1],
    flags: [
      { name: 'follow', short: 'f', type: 'boolean', description: 'follow log output' },
      { name: 'since', type: 'string', value: 'string', description: 'show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)' },
      { name: 'until', type: 'string', value: 'string', description: 'show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)' },
      { name: 'tail', short: 'n', type: 'string', value: 'string', description: 'number of lines to show from the end of the logs (default "all")' },
      { name: 'timestamps', short: 't', type: 'boolean', description: 'show timestamps' },
      { name: 'details', type: 'boolean', description: 'show extra details provided to logs' },
    ],
  },
  async run(args, env) {
    const tailText = stringFlag(args, 'tail') ?? 'all';
    if (tailText !== 'all' && !/^-?\d+$/.test(tailText)) throw new BerthError('INVALID_ARGUMENT', `invalid value for "tail": ${JSON.stringify(tailText)}`, { hint: 'a number of lines, or all' });
    const since = stringFlag(args, 'since');
    const until = stringFlag(args, 'until');
    const timestamps = boolFlag(args, 'timestamps');
    const abort = new AbortController();
    const stop = () => abort.abort();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    env.io.closed?.addEventListener('abort', stop, { once: true });
    try {
      for await (const e of env.engine().containers.logs(args.positionals[0]!, {
        follow: boolFlag(args, 'follow'),
        ...(since ? { since: parseTimeFilter(since) } : {}),
        ...(until ? { until: parseTimeFilter(until) } : {}),
        ...(tailText !== 'all' && Number(tailText) >= 0 ? { tail: Number(tailText) } : {}),
        signal: abort.signal,
      })) {
        if (abort.signal.aborted) break;
        const text = timestamps ? `${e.time} ${e.log}` : e.log;
        (e.stream === 'stderr' ? env.io.stderr : env.io.stdout).write(text);
      }
    } catch (err) {
      if (!abort.signal.aborted) throw err;
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    }
    return 0;
  },
};

function execSpec(name: string): CommandSpec {
  return {
    name,
    usage: `${name} [OPTIONS] CONTAINER COMMAND [ARG...]`,
    summary: 'Execute a command in a running container',
    positionals: [2, Infinity],
    restAfter: 1,
    flags: [
      { name: 'detach', short: 'd', type: 'boolean', description: 'detached mode: run command in the background' },
      { name: 'interactive', short: 'i', type: 'boolean', description: 'keep STDIN open even if not attached' },
      { name: 'tty', short: 't', type: 'boolean', description: 'allocate a pseudo-TTY' },
      { name: 'env', short: 'e', type: 'string', value: 'list', repeatable: true, description: 'set environment variables' },
      { name: 'env-file', type: 'string', value: 'list', repeatable: true, description: 'read in a file of environment variables' },
      { name: 'user', short: 'u', type: 'string', value: 'string', description: 'username or UID (format: "<name|uid>[:<group|gid>]")' },
      { name: 'workdir', short: 'w', type: 'string', value: 'string', description: 'working directory inside the container' },
      { name: 'privileged', type: 'boolean', description: 'give extended privileges to the command' },
      { name: 'detach-keys', type: 'string', value: 'string', description: 'override the key sequence for detaching a container', hidden: true },
    ],
  };
}

function execCommand(name: string): BerthCommand {
  return {
    spec: execSpec(name),
    // docker exec: its own errors are 126 (cannot run) / 127 (not found); the engine's 1
    async run(args, env) {
      const [ref, ...cmd] = args.positionals;
      const stdin = env.io.stdin as NodeJS.ReadStream;
      const tty = boolFlag(args, 'tty');
      if (tty && boolFlag(args, 'interactive') && !stdin.isTTY) throw new BerthError('INVALID_ARGUMENT', 'the input device is not a TTY');
      const env_ = [...listFlag(args, 'env-file').flatMap(readEnvFile), ...listFlag(args, 'env').map((e) => (e.includes('=') ? e : process.env[e] !== undefined ? `${e}=${process.env[e]}` : '')).filter(Boolean)];
      const user = stringFlag(args, 'user');
      const workdir = stringFlag(args, 'workdir');
      const { SyscallError } = await import('../common/index.ts');
      try {
        const result = await env.engine().containers.exec(ref!, {
          cmd,
          env: env_,
          tty,
          detach: boolFlag(args, 'detach'),
          privileged: boolFlag(args, 'privileged'),
          ...(user ? { user } : {}),
          ...(workdir ? { workdir } : {}),
          // without -i the process reads nothing
          ...(boolFlag(args, 'interactive') || tty ? {} : { stdio: { stdin: 'ignore', stdout: 1, stderr: 2 } }),
        });
        return result.exitCode ?? 0;
      } catch (err) {
        if (err instanceof SyscallError && (err.op === 'exec' || err.op === 'resolve-exec' || err.op === 'chdir')) {
          env.io.err(`Error: ${err.message}\n`);
          return err.errnoName === 'ENOENT' && err.op !== 'chdir' ? 127 : 126;
        }
        throw err;
      }
    },
  };
}

export const execTopCommand = execCommand('exec');

export const attachCommand: BerthCommand = {
  spec: {
    name: 'attach',
    usage: 'attach [OPTIONS] CONTAINER',
    summary: "Attach local standard input, output, and error streams to a running container",
    positionals: [1, 1],
    flags: [
      { name: 'detach-keys', type: 'string', value: 'string', description: 'override the key sequence for detaching a container' },
      { name: 'no-stdin', type: 'boolean', description: 'do not attach STDIN' },
      { name: 'sig-proxy', type: 'boolean', description: 'proxy all received signals to the process (default true)' },
    ],
  },
  async run(args, env) {
    const containers = env.engine().containers;
    const rec = containers.get(args.positionals[0]!);
    const stdin = env.io.stdin as NodeJS.ReadStream;
    const withStdin = !boolFlag(args, 'no-stdin') && rec.spec.interactive === true;
    if (rec.spec.tty && withStdin && !stdin.isTTY) throw new BerthError('INVALID_ARGUMENT', 'the input device is not a TTY');
    const isRaw = rec.spec.tty === true && withStdin && stdin.isTTY === true;
    const stdout = env.io.stdout as NodeJS.WriteStream;
    const keys = stringFlag(args, 'detach-keys');
    if (isRaw) stdin.setRawMode(true);
    try {
      const result = await containers.attach(rec.id, {
        stdin: withStdin ? stdin : undefined,
        stdout: env.io.stdout,
        stderr: env.io.stderr,
        tty: rec.spec.tty === true,
        detachKeys: keys ? parseDetachKeys(keys) : undefined,
      }, {
        onResize: (resize) => {
          if (!rec.spec.tty || !stdout.isTTY) return () => undefined;
          const on = () => resize(stdout.rows, stdout.columns);
          on();
          stdout.on('resize', on);
          return () => stdout.off('resize', on);
        },
      });
      if (result.detached) {
        env.io.err('read escape sequence\n');
        return 0;
      }
      if (result.exit) return result.exit.exitCode;
      return (await containers.wait(rec.id)).StatusCode;
    } finally {
      if (isRaw) stdin.setRawMode(false);
    }
  },
};
