/**
 * `berth diff`, `berth export`, `berth commit` (and their `container …` forms): a container's
 * filesystem, read from its layers.
 */
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { randomBytes } from 'node:crypto';
import { BerthError, describeErrno, isErrno } from '../common/index.ts';
import { boolFlag, listFlag, stringFlag, type BerthCommand } from './berth-command.ts';

/** Write the tar to `path` atomically (temp file in the same directory, then rename). */
async function writeTarFile(chunks: AsyncIterable<Uint8Array>, path: string): Promise<void> {
  const target = resolve(path);
  const temp = join(dirname(target), `.${basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await pipeline(Readable.from(chunks, { objectMode: false }), createWriteStream(temp, { flags: 'wx', mode: 0o644 }));
    await rename(temp, target);
  } catch (err) {
    await rm(temp, { force: true });
    if (isErrno(err, 'ENOENT', 'ENOTDIR')) throw new BerthError('NOT_FOUND', `cannot write ${JSON.stringify(path)}: its directory does not exist`, { cause: err });
    if (isErrno(err, 'EACCES', 'EPERM', 'EROFS')) throw new BerthError('PERMISSION_DENIED', `cannot write ${JSON.stringify(path)}: ${describeErrno((err as NodeJS.ErrnoException).code ?? '')}`, { cause: err });
    if (isErrno(err, 'EISDIR')) throw new BerthError('INVALID_ARGUMENT', `cannot write ${JSON.stringify(path)}: it is a directory`, { cause: err, hint: 'give a file name' });
    if (isErrno(err, 'ENOSPC')) throw new BerthError('UNAVAILABLE', `cannot write ${JSON.stringify(path)}: no space left on device`, { cause: err });
    throw err;
  }
}

function diffCommandNamed(name: string): BerthCommand {
  return {
    spec: { name, usage: `${name} CONTAINER`, summary: "Inspect changes to files or directories on a container's filesystem", positionals: [1, 1], flags: [] },
    async run(args, env) {
      const changes = await env.engine().containers.diff(args.positionals[0]!);
      env.io.out(changes.map((c) => `${c.kind} ${c.path}\n`).join(''));
      return 0;
    },
  };
}

export const diffCommand = diffCommandNamed('diff');

function exportCommandNamed(name: string): BerthCommand {
  return {
    spec: {
      name,
      usage: `${name} [OPTIONS] CONTAINER`,
      summary: "Export a container's filesystem as a tar archive",
      positionals: [1, 1],
      flags: [{ name: 'output', short: 'o', type: 'string', value: 'FILE', description: 'write to a file, instead of STDOUT' }],
    },
    async run(args, env) {
      const output = stringFlag(args, 'output');
      if (!output && env.io.isTty) {
        throw new BerthError('INVALID_ARGUMENT', 'cowardly refusing to save to a terminal. Use the -o flag or redirect');
      }
      const containers = env.engine().containers;
      containers.get(args.positionals[0]!); // no such container: said before any file is made
      const chunks = containers.export(args.positionals[0]!);
      if (output) await writeTarFile(chunks, output);
      else {
        try {
          await pipeline(Readable.from(chunks, { objectMode: false }), env.io.stdout, { end: false });
        } catch (err) {
          // a reader that went away (`berth export c | head`): berth's way, as with logs
          if (!isErrno(err, 'EPIPE') && !env.io.closed?.aborted) throw err;
        }
      }
      return 0;
    },
  };
}

export const exportCommand = exportCommandNamed('export');

function commitCommandNamed(name: string): BerthCommand {
  return {
    spec: {
      name,
      usage: `${name} [OPTIONS] CONTAINER [REPOSITORY[:TAG]]`,
      summary: "Create a new image from a container's changes",
      positionals: [1, 2],
      flags: [
        { name: 'author', short: 'a', type: 'string', value: 'STRING', description: 'author (e.g., "John Hannibal Smith <hannibal@a-team.com>")' },
        { name: 'change', short: 'c', type: 'string', value: 'INSTRUCTION', repeatable: true, description: 'apply a Dockerfile instruction to the image: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME, WORKDIR, STOPSIGNAL' },
        { name: 'message', short: 'm', type: 'string', value: 'STRING', description: 'commit message' },
        { name: 'pause', short: 'p', type: 'boolean', description: 'pause the container during commit (default true; --pause=false to not)' },
      ],
    },
    async run(args, env) {
      const [container, imageRef] = args.positionals as [string, string | undefined];
      const author = stringFlag(args, 'author');
      const message = stringFlag(args, 'message');
      const result = await env.engine().containers.commit(container, {
        ...(imageRef ? { imageRef } : {}),
        ...(author !== undefined ? { author } : {}),
        ...(message !== undefined ? { message } : {}),
        changes: listFlag(args, 'change'),
        pause: args.flags.pause === undefined ? true : boolFlag(args, 'pause'),
      });
      env.io.out(`${result.id}\n`);
      return 0;
    },
  };
}

export const commitCommand = commitCommandNamed('commit');
