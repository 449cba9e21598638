/**
 * `berth diff`, `berth export`, `berth commit` (and their `container …` forms): a container's
 * filesystem, read from its layers.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BerthError, isErrno } from '../common/index.ts';
import { boolFlag, listFlag, stringFlag, type BerthCommand } from './berth-command.ts';
import { writeFileAtomically } from './cli-shared.ts';

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
      if (output) await writeFileAtomically(chunks, output);
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
