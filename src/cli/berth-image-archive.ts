/**
 * `berth save`, `berth load`, `berth import` (and their `image …` forms).
 */
import { createReadStream } from 'node:fs';
import { access } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BerthError } from '../common/index.ts';
import { familiarReference, parsePlatform } from '../engine/index.ts';
import type { CommandSpec } from './args.ts';
import { boolFlag, listFlag, stringFlag, type BerthCommand, type CommandEnv } from './berth-command.ts';
import { writeFileAtomically } from './cli-shared.ts';

function saveCommand(name: string): BerthCommand {
  const spec: CommandSpec = {
    name,
    usage: `${name} [OPTIONS] IMAGE [IMAGE...]`,
    summary: 'Save one or more images to a tar archive (docker-archive with an OCI layout inside; to stdout by default).',
    positionals: [1, Infinity],
    flags: [{ name: 'output', short: 'o', type: 'string', value: 'FILE', description: 'write to FILE instead of stdout' }],
  };
  return {
    spec,
    async run(args, env) {
      const output = stringFlag(args, 'output');
      if (!output && env.io.isTty) {
        throw new BerthError('INVALID_ARGUMENT', 'cowardly refusing to save to a terminal', { hint: 'use the -o flag or redirect' });
      }
      const chunks = env.images().save(args.positionals);
      if (output) await writeFileAtomically(chunks, output, 'the archive');
      else await pipeline(Readable.from(chunks, { objectMode: false }), env.io.stdout, { end: false });
      return 0;
    },
  };
}

export const saveTopCommand = saveCommand('save');
export const imageSaveCommand = saveCommand('image save');

function inputStream(env: CommandEnv, path: string | undefined, what: string): NodeJS.ReadableStream {
  if (path && path !== '-') return createReadStream(path, { highWaterMark: 1 << 20 });
  if (env.io.stdin.isTTY) {
    throw new BerthError('INVALID_ARGUMENT', `requested ${what} from stdin, but stdin is a terminal`, { hint: what === 'load' ? 'use -i FILE or redirect' : 'give a file, or redirect' });
  }
  return env.io.stdin;
}

async function checkReadable(path: string | undefined): Promise<void> {
  if (!path || path === '-') return;
  await access(path).catch((err: unknown) => {
    throw new BerthError('NOT_FOUND', `cannot open ${JSON.stringify(path)}: ${(err as Error).message.replace(/^[A-Z]+: /, '')}`, { cause: err });
  });
}

function loadCommand(name: string): BerthCommand {
  return {
    spec: {
      name,
      usage: `${name} [OPTIONS]`,
      summary: 'Load images from a tar archive (docker-archive, legacy or with OCI layout, or an OCI layout tar; plain, gzip or zstd).',
      positionals: [0, 0],
      flags: [
        { name: 'input', short: 'i', type: 'string', value: 'FILE', description: 'read from FILE instead of stdin' },
        { name: 'quiet', short: 'q', type: 'boolean', description: 'suppress the load output' },
        { name: 'platform', type: 'string', value: 'OS/ARCH', description: 'for multi-platform archives: the platform to load (default this machine\'s)' },
      ],
    },
    async run(args, env) {
      const input = stringFlag(args, 'input');
      await checkReadable(input);
      const platform = stringFlag(args, 'platform');
      const loaded = await env.images().load(inputStream(env, input, 'load'), platform ? { platform: parsePlatform(platform) } : {});
      if (!boolFlag(args, 'quiet')) {
        for (const image of loaded) {
          if (image.names.length === 0) env.io.out(`Loaded image ID: ${image.id}\n`);
          for (const n of image.names) env.io.out(`Loaded image: ${familiarReference(n)}\n`);
        }
      }
      return 0;
    },
  };
}

export const loadTopCommand = loadCommand('load');
export const imageLoadCommand = loadCommand('image load');

async function urlStream(url: string): Promise<AsyncIterable<Uint8Array>> {
  const res = await fetch(url).catch((err: unknown) => {
    throw new BerthError('UNAVAILABLE', `cannot fetch ${url}: ${(err as Error).message}`, { cause: err });
  });
  if (!res.ok || !res.body) throw new BerthError('UNAVAILABLE', `cannot fetch ${url}: HTTP ${res.status}`);
  return res.body as unknown as AsyncIterable<Uint8Array>;
}

function importCommand(name: string): BerthCommand {
  return {
    spec: {
      name,
      usage: `${name} [OPTIONS] file|URL|- [REPOSITORY[:TAG]]`,
      summary: 'Import the contents of a rootfs tarball (plain, gzip or zstd) as a one-layer image.',
      positionals: [1, 2],
      flags: [
        { name: 'change', short: 'c', type: 'string', value: 'INSTRUCTION', repeatable: true, description: "apply a Dockerfile instruction: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME, WORKDIR, STOPSIGNAL" },
        { name: 'message', short: 'm', type: 'string', value: 'TEXT', description: 'commit message for the image history' },
        { name: 'platform', type: 'string', value: 'OS/ARCH[/VARIANT]', description: "the image's platform (default this machine's)" },
      ],
    },
    async run(args, env) {
      const [source, imageRef] = args.positionals as [string, string | undefined];
      const isUrl = /^https?:\/\//.test(source);
      if (!isUrl) await checkReadable(source);
      const input = isUrl ? await urlStream(source) : inputStream(env, source, 'import');
      const platform = stringFlag(args, 'platform');
      const message = stringFlag(args, 'message');
      const image = await env.images().import(input, {
        ...(imageRef ? { imageRef } : {}),
        changes: listFlag(args, 'change'),
        source: isUrl ? source : '-',
        ...(message !== undefined ? { message } : {}),
        ...(platform ? { platform: parsePlatform(platform) } : {}),
      });
      env.io.out(`${image.id}\n`);
      return 0;
    },
  };
}

export const importTopCommand = importCommand('import');
export const imageImportCommand = importCommand('image import');
