/**
 * `berth serve`: the Docker Engine API on a unix socket (docker-api.ts), so the docker CLI and
 * docker's SDKs run containers on berth with DOCKER_HOST=unix://… . Optional: the berth CLI never
 * needs it, and what it starts are ordinary berth containers that outlive it.
 */
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { BerthError } from '../common/index.ts';
import { stringFlag, type BerthCommand } from './berth-command.ts';
import { createDockerApi } from './docker-api/index.ts';
import { VERSION } from './berth-system.ts';

export const DEFAULT_SOCKET = '/run/berth/docker.sock';

/** The gid of a group of /etc/group (root's when it is not there and not asked for). */
function groupId(name: string | undefined): number {
  const wanted = name ?? 'docker';
  const line = readFileSync('/etc/group', 'utf8').split('\n').find((l) => l.split(':')[0] === wanted);
  if (line) return Number(line.split(':')[2]);
  if (name) throw new BerthError('NOT_FOUND', `--group ${name}: no such group in /etc/group`);
  return 0;
}

function socketPath(host: string): string {
  if (!host.startsWith('unix://')) {
    throw new BerthError('NOT_IMPLEMENTED', `-H ${host}: berth serve listens on unix sockets only (unix:///path)`, { hint: `use -H unix://${DEFAULT_SOCKET}` });
  }
  const path = host.slice('unix://'.length);
  if (!path.startsWith('/')) throw new BerthError('INVALID_ARGUMENT', `-H ${host}: the socket path must be absolute`);
  return path;
}

export const serveCommand: BerthCommand = {
  spec: {
    name: 'serve',
    usage: 'serve [OPTIONS]',
    summary: 'Serve the Docker Engine API on a unix socket (for the docker CLI, compose and SDKs)',
    positionals: [0, 0],
    flags: [
      { name: 'host', short: 'H', type: 'string', value: 'string', description: `socket to listen on (default unix://${DEFAULT_SOCKET})` },
      { name: 'group', short: 'G', type: 'string', value: 'string', description: 'group that may use the socket (default docker, when it exists)' },
    ],
  },
  async run(args, env) {
    const path = socketPath(stringFlag(args, 'host') ?? `unix://${DEFAULT_SOCKET}`);
    const gid = groupId(stringFlag(args, 'group'));
    mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
    // a socket left by a server that died goes; anything else there stays
    if (existsSync(path)) {
      if (!lstatSync(path).isSocket()) throw new BerthError('ALREADY_EXISTS', `${path} exists and is not a socket`);
      rmSync(path);
    }
    const server = createDockerApi({ engine: env.engine(), version: VERSION });
    // made 0660 (not 0755 and then changed): no moment with other permissions
    const umask = process.umask(0o117);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(path, () => resolve());
      });
    } finally {
      process.umask(umask);
    }
    chownSync(path, 0, gid);
    chmodSync(path, 0o660);
    env.io.err(`berth serve: API ${'1.47'} on unix://${path}\n`);
    await new Promise<void>((resolve) => {
      const stop = () => {
        // the containers stay: only the server ends
        server.close(() => resolve());
        server.closeAllConnections();
      };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
    rmSync(path, { force: true });
    return 0;
  },
};
