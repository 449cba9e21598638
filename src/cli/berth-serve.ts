/**
 * `berth serve`: the Docker Engine API (docker-api/) so the docker CLI, compose and docker's SDKs
 * run containers on berth with DOCKER_HOST. Optional: the berth CLI never needs it, and what it
 * starts are ordinary berth containers that outlive it.
 *
 * Where it listens (-H, repeatable, as dockerd's):
 * - unix:///path: a socket of mode 0660, owned by root and the group (docker's when there is one);
 * - tcp://HOST:PORT: only on a loopback address unless TLS is on (--tlsverify with --tlscacert,
 *   --tlscert, --tlskey: clients must show a certificate the CA signed), as the API is root;
 * - fd://: the sockets systemd passes (socket activation: LISTEN_FDS for this pid).
 */
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import type { Server } from 'node:net';
import { isIP } from 'node:net';
import { dirname } from 'node:path';
import { BerthError } from '../common/index.ts';
import { boolFlag, listFlag, stringFlag, type BerthCommand } from './berth-command.ts';
import { API_VERSION, createDockerApi } from './docker-api/index.ts';
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

export type ListenAddress = { kind: 'unix'; path: string } | { kind: 'tcp'; host: string; port: number } | { kind: 'fd' };

const isLoopback = (host: string) => host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));

/** A -H value, checked: what it names and whether it may be served without TLS. */
export function parseListenAddress(text: string, tls: boolean): ListenAddress {
  if (text === 'fd://' || text === 'fd:') return { kind: 'fd' };
  if (text.startsWith('unix://')) {
    const path = text.slice('unix://'.length);
    if (!path.startsWith('/')) throw new BerthError('INVALID_ARGUMENT', `-H ${text}: the socket path must be absolute`);
    return { kind: 'unix', path };
  }
  if (text.startsWith('tcp://')) {
    const m = /^tcp:\/\/(\[[^\]]+\]|[^:/]+):(\d+)\/?$/.exec(text);
    if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) throw new BerthError('INVALID_ARGUMENT', `-H ${text}: expected tcp://HOST:PORT`);
    const host = m[1]!.replace(/^\[|\]$/g, '');
    if (!tls && !isLoopback(host)) {
      throw new BerthError('INVALID_ARGUMENT', `-H ${text}: the Docker API gives root to whoever reaches it: a non-loopback address needs --tlsverify`, {
        hint: 'listen on 127.0.0.1, or give --tlsverify --tlscacert --tlscert --tlskey',
      });
    }
    return { kind: 'tcp', host, port: Number(m[2]) };
  }
  throw new BerthError('INVALID_ARGUMENT', `-H ${text}: expected unix:///path, tcp://HOST:PORT or fd://`, { hint: `use -H unix://${DEFAULT_SOCKET}` });
}

/** The listening sockets systemd passed to this process (fd 3 on), or an error saying why none. */
function systemdFds(): number[] {
  const count = Number(process.env.LISTEN_FDS ?? 0);
  if (Number(process.env.LISTEN_PID) !== process.pid || !Number.isInteger(count) || count < 1) {
    throw new BerthError('FAILED_PRECONDITION', '-H fd://: no socket was passed (LISTEN_FDS and LISTEN_PID of systemd socket activation are not set for this process)');
  }
  return Array.from({ length: count }, (_, i) => 3 + i);
}

function listen(server: Server, target: string | number | { host: string; port: number }): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    const done = () => {
      server.off('error', reject);
      resolve();
    };
    if (typeof target === 'number') server.listen({ fd: target }, done);
    else if (typeof target === 'string') server.listen(target, done);
    else server.listen(target.port, target.host, done);
  });
}

export const serveCommand: BerthCommand = {
  spec: {
    name: 'serve',
    usage: 'serve [OPTIONS]',
    summary: 'Serve the Docker Engine API (for the docker CLI, compose and SDKs)',
    positionals: [0, 0],
    flags: [
      { name: 'host', short: 'H', type: 'string', value: 'list', repeatable: true, description: `where to listen: unix:///path, tcp://HOST:PORT (loopback unless --tlsverify) or fd:// (systemd) (default unix://${DEFAULT_SOCKET})` },
      { name: 'group', short: 'G', type: 'string', value: 'string', description: 'group that may use a unix socket (default docker, when it exists)' },
      { name: 'tlsverify', type: 'boolean', description: 'serve TCP with TLS and accept only clients with a certificate the CA signed' },
      { name: 'tlscacert', type: 'string', value: 'string', description: 'the CA that signs client certificates (PEM)' },
      { name: 'tlscert', type: 'string', value: 'string', description: "the server's certificate (PEM)" },
      { name: 'tlskey', type: 'string', value: 'string', description: "the server's key (PEM)" },
    ],
  },
  async run(args, env) {
    const tlsFiles = ['tlscacert', 'tlscert', 'tlskey'].map((f) => stringFlag(args, f));
    const tlsverify = boolFlag(args, 'tlsverify');
    if (tlsverify && tlsFiles.some((f) => !f)) throw new BerthError('INVALID_ARGUMENT', '--tlsverify needs --tlscacert, --tlscert and --tlskey');
    if (!tlsverify && tlsFiles.some(Boolean)) throw new BerthError('INVALID_ARGUMENT', '--tlscacert, --tlscert and --tlskey need --tlsverify (berth serves TLS only with client certificates)');
    const addresses = (listFlag(args, 'host').length ? listFlag(args, 'host') : [`unix://${DEFAULT_SOCKET}`]).map((h) => parseListenAddress(h, tlsverify));
    if (tlsverify && addresses.some((a) => a.kind !== 'tcp')) throw new BerthError('INVALID_ARGUMENT', '--tlsverify is for tcp:// addresses only');
    const read = (path: string, what: string) => {
      try {
        return readFileSync(path);
      } catch (err) {
        throw new BerthError('NOT_FOUND', `${what} ${path}: ${(err as Error).message}`);
      }
    };
    const tls = tlsverify ? { ca: read(tlsFiles[0]!, '--tlscacert'), cert: read(tlsFiles[1]!, '--tlscert'), key: read(tlsFiles[2]!, '--tlskey') } : undefined;
    const group = stringFlag(args, 'group');
    const gid = addresses.some((a) => a.kind === 'unix') ? groupId(group) : 0;
    const engine = env.engine();
    const servers: Server[] = [];
    const sockets: string[] = [];
    const stopAll = () => {
      for (const s of servers) s.close();
      for (const path of sockets) rmSync(path, { force: true });
    };
    try {
      for (const address of addresses) {
        const targets: (string | number | { host: string; port: number })[] = address.kind === 'fd' ? systemdFds() : address.kind === 'tcp' ? [{ host: address.host, port: address.port }] : [address.path];
        for (const target of targets) {
          const server = createDockerApi({ engine, version: VERSION, ...(tls ? { tls } : {}) });
          if (address.kind === 'unix') {
            const path = address.path;
            mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
            // a socket left by a server that died goes; anything else there stays
            if (existsSync(path)) {
              if (!lstatSync(path).isSocket()) throw new BerthError('ALREADY_EXISTS', `${path} exists and is not a socket`);
              rmSync(path);
            }
            // made 0660 (not 0755 and then changed): no moment with other permissions
            const umask = process.umask(0o117);
            try {
              await listen(server, path);
            } finally {
              process.umask(umask);
            }
            sockets.push(path);
            chownSync(path, 0, gid);
            chmodSync(path, 0o660);
          } else await listen(server, target);
          servers.push(server);
          const shown = address.kind === 'unix' ? `unix://${address.path}` : address.kind === 'tcp' ? `${tls ? 'tcp+tls' : 'tcp'}://${address.host}:${address.port}` : `fd://${target as number}`;
          env.io.err(`berth serve: API ${API_VERSION} on ${shown}\n`);
          if (address.kind === 'tcp' && !tls) {
            env.io.err(`berth serve: warning: ${shown} has no TLS: every user of this machine can reach it, and the API is root (use --tlsverify, or a unix socket)\n`);
          }
        }
      }
    } catch (err) {
      stopAll();
      throw err;
    }
    await new Promise<void>((resolve) => {
      const stop = () => {
        // the containers stay: only the servers end
        let open = servers.length;
        for (const s of servers) {
          s.close(() => {
            if (--open === 0) resolve();
          });
          (s as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
        }
        if (!servers.length) resolve();
      };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
    for (const path of sockets) rmSync(path, { force: true });
    return 0;
  },
};
