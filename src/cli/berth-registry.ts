/**
 * `berth pull` (docker's progress and summary), `berth login`, `berth logout`.
 */
import { BerthError } from '../common/index.ts';
import { familiarReference, login, logout, parsePlatform, parseReference, type RegistryOptions } from '../engine/index.ts';
import type { CommandSpec } from './args.ts';
import { boolFlag, readLine, stringFlag, type BerthCommand, type CommandEnv, type Io } from './berth-command.ts';
import { LayerProgress } from './render/progress.ts';

function registryOptions(env: CommandEnv): RegistryOptions {
  return env.globals.insecureRegistries.length ? { insecureRegistries: env.globals.insecureRegistries } : {};
}

function pullCommand(name: string): BerthCommand {
  const spec: CommandSpec = {
    name,
    usage: `${name} [OPTIONS] NAME[:TAG|@DIGEST]`,
    summary: 'Download an image from a registry.',
    positionals: [1, 1],
    flags: [
      { name: 'platform', type: 'string', value: 'OS/ARCH[/VARIANT]', description: 'the platform to pull from a multi-platform image (default this machine\'s)' },
      { name: 'quiet', short: 'q', type: 'boolean', description: 'suppress verbose output' },
    ],
  };
  return {
    spec,
    async run(args, env) {
      const imageRef = args.positionals[0]!;
      const ref = parseReference(imageRef);
      const platform = stringFlag(args, 'platform');
      const isQuiet = boolFlag(args, 'quiet');
      const write = (text: string) => (isQuiet ? undefined : env.io.out(text));
      if (!parseReference(imageRef, { defaultTag: false }).tag && !ref.digest) write('Using default tag: latest\n');
      write(`${ref.digest ?? ref.tag}: Pulling from ${ref.path}\n`);
      const progress = new LayerProgress({ write: (t) => write(t), isTty: env.io.isTty, columns: env.io.columns });
      const outcome = await env.images().pull(imageRef, {
        ...registryOptions(env),
        ...(platform ? { platform: parsePlatform(platform) } : {}),
        onProgress: (event) => progress.onEvent(event),
      });
      const shown = familiarReference(ref.digest ? `${ref.name}@${ref.digest}` : `${ref.name}:${ref.tag}`);
      write(`Digest: ${outcome.digest}\n`);
      write(outcome.isNew ? `Status: Downloaded newer image for ${shown}\n` : `Status: Image is up to date for ${shown}\n`);
      env.io.out(`${outcome.reference}\n`);
      return 0;
    },
  };
}

export const pullTopCommand = pullCommand('pull');
export const imagePullCommand = pullCommand('image pull');

/** Read a password from a terminal without echoing it. */
async function readSecret(io: Io, prompt: string): Promise<string> {
  const stdin = io.stdin as NodeJS.ReadStream;
  io.err(prompt);
  if (!stdin.isTTY || typeof stdin.setRawMode !== 'function') return (await readLine(stdin)) ?? '';
  stdin.setRawMode(true);
  try {
    let text = '';
    for await (const chunk of stdin as AsyncIterable<Buffer>) {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return text;
        if (ch === '\u0003') throw new BerthError('CANCELED', 'login cancelled');
        if (ch === '\u007f') text = text.slice(0, -1);
        else text += ch;
      }
    }
    return text;
  } finally {
    stdin.setRawMode(false);
    io.err('\n');
  }
}

export const loginCommand: BerthCommand = {
  spec: {
    name: 'login',
    usage: 'login [OPTIONS] [SERVER]',
    summary: 'Log in to a registry (default Docker Hub); the credentials go to the docker-style auth file ($REGISTRY_AUTH_FILE, $DOCKER_CONFIG/config.json or ~/.docker/config.json).',
    positionals: [0, 1],
    flags: [
      { name: 'username', short: 'u', type: 'string', value: 'USER', description: 'user name' },
      { name: 'password', short: 'p', type: 'string', value: 'PASSWORD', description: 'password (insecure: prefer --password-stdin)' },
      { name: 'password-stdin', type: 'boolean', description: 'read the password from stdin' },
    ],
  },
  async run(args, env) {
    const server = args.positionals[0] ?? 'docker.io';
    let username = stringFlag(args, 'username');
    let password = stringFlag(args, 'password');
    const fromStdin = boolFlag(args, 'password-stdin');
    if (password !== undefined && fromStdin) throw new BerthError('INVALID_ARGUMENT', '--password and --password-stdin are mutually exclusive');
    if (password !== undefined) env.io.err('WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n');
    if (fromStdin) {
      if (username === undefined) throw new BerthError('INVALID_ARGUMENT', 'must provide --username with --password-stdin');
      password = ((await readLine(env.io.stdin)) ?? '').replace(/[\r\n]+$/, '');
    }
    if (username === undefined || password === undefined) {
      if (!env.io.stdin.isTTY) {
        throw new BerthError('INVALID_ARGUMENT', 'cannot perform an interactive login from a non TTY device', { hint: 'use -u USER and --password-stdin' });
      }
      if (username === undefined) {
        env.io.err('Username: ');
        username = ((await readLine(env.io.stdin)) ?? '').trim();
      }
      password ??= await readSecret(env.io, 'Password: ');
    }
    if (!username) throw new BerthError('INVALID_ARGUMENT', 'username is empty');
    if (!password) throw new BerthError('INVALID_ARGUMENT', 'password is empty');
    await login(server, username, password, registryOptions(env));
    env.io.out('Login Succeeded\n');
    return 0;
  },
};

export const logoutCommand: BerthCommand = {
  spec: { name: 'logout', usage: 'logout [SERVER]', summary: 'Log out from a registry (default Docker Hub): remove its credentials from the auth file.', positionals: [0, 1], flags: [] },
  async run(args, env) {
    const server = args.positionals[0] ?? 'docker.io';
    const isRemoved = await logout(server, registryOptions(env));
    env.io.out(isRemoved ? `Removing login credentials for ${server}\n` : `Not logged in to ${server}\n`);
    return 0;
  },
};
