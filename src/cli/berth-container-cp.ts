/**
 * `berth cp` (and `berth container cp`): files between a container and the host, docker's way.
 * Like docker's CLI, every failure exits 1; what the engine refuses about the container is
 * worded as docker's daemon words it.
 */
import { BerthError } from '../common/index.ts';
import type { CopyEnd } from '../engine/index.ts';
import { boolFlag, type BerthCommand } from './berth-command.ts';

/** docker's splitCpArg: `CONTAINER:PATH`, unless the argument is an absolute or `.`-led local path. */
export function splitCopyArg(arg: string): { container?: string; path: string } {
  if (arg.startsWith('/')) return { path: arg };
  const colon = arg.indexOf(':');
  if (colon < 0) return { path: arg };
  const container = arg.slice(0, colon);
  if (container === '' || container.startsWith('.') || container.includes('/')) return { path: arg };
  return { container, path: arg.slice(colon + 1) };
}

function cpCommandNamed(name: string): BerthCommand {
  return {
    spec: {
      name,
      usage: `${name} [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n       ${name} [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH`,
      summary: "Copy files/folders between a container and the local filesystem. Use '-' as the source to read a tar archive from stdin and extract it to a directory destination in a container; use '-' as the destination to stream a tar archive of a container source to stdout",
      positionals: [2, 2],
      flags: [
        { name: 'archive', short: 'a', type: 'boolean', description: 'archive mode (copy all uid/gid information)' },
        { name: 'follow-link', short: 'L', type: 'boolean', description: 'always follow symbol link in SRC_PATH' },
        { name: 'quiet', short: 'q', type: 'boolean', description: 'suppress progress output during copy (berth prints none)' },
      ],
    },
    errorExitCode: 1,
    async run(args, env) {
      const [srcArg, destArg] = args.positionals as [string, string];
      const src = splitCopyArg(srcArg);
      const dest = splitCopyArg(destArg);
      if (src.container !== undefined && dest.container !== undefined) throw new BerthError('INVALID_ARGUMENT', 'copying between containers is not supported');
      if (src.container === undefined && dest.container === undefined) throw new BerthError('INVALID_ARGUMENT', 'must specify at least one container source');
      if (srcArg === '-' && destArg === '-') throw new BerthError('INVALID_ARGUMENT', 'must specify at least one container source');
      let from: CopyEnd;
      let to: CopyEnd;
      if (src.container !== undefined) {
        from = { container: src.container, path: src.path };
        to = destArg === '-' ? { tarOut: env.io.stdout } : { hostPath: dest.path };
        if (destArg === '-' && env.io.isTty) throw new BerthError('INVALID_ARGUMENT', 'cowardly refusing to write a tar archive to a terminal; redirect the output');
      } else {
        from = srcArg === '-' ? { tarIn: env.io.stdin as AsyncIterable<Uint8Array> } : { hostPath: src.path };
        to = { container: dest.container!, path: dest.path };
      }
      try {
        await env.engine().containers.cp(from, to, { archive: boolFlag(args, 'archive'), followLink: boolFlag(args, 'follow-link') });
      } catch (err) {
        if (err instanceof BerthError && err.code === 'NOT_FOUND' && /^(No such container|Could not find the file)/.test(err.message)) {
          env.io.err(`Error response from daemon: ${err.message}\n`);
          return 1;
        }
        throw err;
      }
      return 0;
    },
  };
}

export const cpCommand = cpCommandNamed('cp');
