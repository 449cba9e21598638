/**
 * The Docker Engine API over berth's engine (`berth serve`): the docker CLI, compose and SDKs
 * speak it. Every request is served by the same engine the `berth` CLI uses: containers made
 * through it are ordinary berth containers, and what it does is in the engine's event log.
 *
 *   http.ts      routes, errors, bodies, filters      create-body.ts  ContainerCreate → RunSpec
 *   containers.ts container endpoints                 attach.ts       attach and start
 *   exec.ts      exec instances                       images.ts       images
 *   networks-volumes.ts                               events.ts       /events
 */
import { createServer, type IncomingMessage, type RequestListener, type Server } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import { arch, release } from 'node:os';
import { containerPaths, diskUsage, dirSize, systemInfo, type Engine } from '../../engine/index.ts';
import { AttachRoutes } from './attach.ts';
import { registerContainers } from './containers.ts';
import { registerEvents } from './events.ts';
import { ExecRoutes } from './exec.ts';
import { failRaw } from './hijack.ts';
import { API_VERSION, HttpError, MIN_API_VERSION, readJson, Router, sendError, sendJson, statusOf, type Handler } from './http.ts';
import { registerImages } from './images.ts';
import { registerNetworks, registerVolumes } from './networks-volumes.ts';

export { API_VERSION, MIN_API_VERSION, MAX_BODY } from './http.ts';
export { runSpecFromCreate } from './create-body.ts';

export interface DockerApiOptions {
  engine: Engine;
  /** ServerVersion in /version and /info. */
  version: string;
  /** HTTPS with client certificates (dockerd's --tlsverify): PEM texts. */
  tls?: { cert: Buffer; key: Buffer; ca: Buffer };
}

const VERSION_RE = /^\/v(\d+)\.(\d+)(\/.*)$/;
const ATTACH_RE = /^\/containers\/([^/]+)\/attach$/;
const EXEC_START_RE = /^\/exec\/([^/]+)\/start$/;

/** The path without its /vX.Y prefix; an error when the version is out of range. */
function pathOf(raw: string): { path: string; url: URL } | { error: string } {
  const url = new URL(raw, 'http://berth');
  const versioned = VERSION_RE.exec(url.pathname);
  if (!versioned) return { path: url.pathname, url };
  const v = Number(versioned[1]) * 1000 + Number(versioned[2]);
  if (v < 1024) return { error: `client version ${versioned[1]}.${versioned[2]} is too old. Minimum supported API version is ${MIN_API_VERSION}, please upgrade your client to a newer version` };
  if (v > 1047) return { error: `client version ${versioned[1]}.${versioned[2]} is too new. Maximum supported API version is ${API_VERSION}` };
  return { path: versioned[3]!, url };
}

/** The JSON body of a request whose connection was upgraded: read from what came with the head, then the socket. */
async function upgradeBody(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<Record<string, unknown>> {
  const length = Number(req.headers['content-length'] ?? 0);
  if (!Number.isInteger(length) || length < 0 || length > 1 << 16) throw new HttpError(400, 'the body of an upgraded request must be small JSON');
  let got = head;
  while (got.length < length) {
    const chunk = await new Promise<Buffer | null>((resolve) => {
      const onData = (c: Buffer) => done(c);
      const onEnd = () => done(null);
      const done = (c: Buffer | null) => {
        socket.off('data', onData);
        socket.off('end', onEnd);
        socket.pause();
        resolve(c);
      };
      socket.on('data', onData);
      socket.once('end', onEnd);
      socket.resume();
    });
    if (!chunk) break;
    got = Buffer.concat([got, chunk]);
  }
  const rest = got.subarray(length);
  if (rest.length) socket.unshift(rest);
  const text = got.subarray(0, length).toString('utf8');
  if (!text.trim()) return {};
  try {
    const value = JSON.parse(text) as unknown;
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // below
  }
  throw new HttpError(400, 'invalid JSON in the request body');
}

export function createDockerApi(opts: DockerApiOptions): Server {
  const { engine } = opts;
  const router = new Router();
  const attach = new AttachRoutes(engine);
  const exec = new ExecRoutes(engine);

  const ping: Handler = async (req, res) => {
    res.writeHead(200, { 'Api-Version': API_VERSION, 'Content-Type': 'text/plain; charset=utf-8', 'Docker-Experimental': 'false', 'Builder-Version': '', Ostype: 'linux', Swarm: 'inactive', 'Cache-Control': 'no-cache, no-store, must-revalidate', Pragma: 'no-cache' });
    res.end(req.method === 'HEAD' ? undefined : 'OK');
  };
  router.add('GET', '/_ping', ping);
  router.add('HEAD', '/_ping', ping);
  router.add('GET', '/version', async (_req, res) => {
    const version = { Platform: { Name: 'berth' }, Version: opts.version, ApiVersion: API_VERSION, MinAPIVersion: MIN_API_VERSION, Os: 'linux', Arch: arch() === 'x64' ? 'amd64' : arch(), KernelVersion: release(), GoVersion: `node ${process.version}`, GitCommit: '', BuildTime: '', Experimental: false };
    const details = { ApiVersion: API_VERSION, MinAPIVersion: MIN_API_VERSION, Os: version.Os, Arch: version.Arch, KernelVersion: version.KernelVersion, GoVersion: version.GoVersion, GitCommit: 'berth', BuildTime: '', Experimental: 'false' };
    sendJson(res, 200, { ...version, Components: [{ Name: 'Engine', Version: opts.version, Details: details }] });
  });
  router.add('GET', '/info', async (_req, res) => {
    const info = await systemInfo(engine.ctx);
    sendJson(res, 200, { ...info, ServerVersion: opts.version, Swarm: { LocalNodeState: 'inactive', NodeID: '', NodeAddr: '', ControlAvailable: false, Error: '', RemoteManagers: null } });
  });
  router.add('GET', '/system/df', async (_req, res) => {
    const usage = await diskUsage(engine.ctx);
    const containers = await Promise.all(
      engine.containers.list({ all: true }).map(async ({ record, ...row }) => ({ ...row, SizeRw: await dirSize(containerPaths(engine.ctx.paths, record.id).upperDir), SizeRootFs: 0 })),
    );
    const volumes = await Promise.all(
      engine.volumes.list().map(async (v) => {
        const doc = engine.volumes.inspect(v.name);
        return { ...doc, UsageData: { Size: await dirSize(String(doc.Mountpoint)), RefCount: engine.ctx.volumes.usersOf(v.name).length } };
      }),
    );
    sendJson(res, 200, { LayersSize: usage.images.size, Images: engine.images.summaries(), Containers: containers, Volumes: volumes, BuildCache: [] });
  });
  registerContainers(router, engine, (id, size) => attach.created(id, size));
  attach.register(router);
  exec.register(router);
  registerImages(router, engine);
  registerNetworks(router, engine);
  registerVolumes(router, engine);
  registerEvents(router, engine);
  router.add('GET', '/swarm', async () => {
    throw new HttpError(503, 'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.');
  });

  const handle: RequestListener = (req, res) => {
    void (async () => {
      const at = pathOf(req.url ?? '/');
      if ('error' in at) return sendError(res, 400, at.error);
      // without Upgrade: docker's older clients; the connection is taken over all the same
      const attachTo = req.method === 'POST' ? ATTACH_RE.exec(at.path) : null;
      if (attachTo) {
        res.detachSocket(req.socket);
        return attach.attach(req.socket, decodeURIComponent(attachTo[1]!), at.url.searchParams, false).catch((err: unknown) => failRaw(req.socket, statusOf(err), (err as Error).message));
      }
      const execStart = req.method === 'POST' ? EXEC_START_RE.exec(at.path) : null;
      if (execStart) {
        const body = await readJson(req);
        return exec.start(decodeURIComponent(execStart[1]!), body, {
          plain: (status) => void res.writeHead(status, { 'Content-Type': 'application/json' }).end(),
          hijacked: () => {
            res.detachSocket(req.socket);
            return { socket: req.socket, upgraded: false };
          },
        });
      }
      const found = router.find(req.method ?? 'GET', at.path);
      if ('status' in found) return sendError(res, found.status, found.message);
      await found.handler(req, res, found.params, at.url.searchParams);
    })().catch((err: unknown) => sendError(res, statusOf(err), err instanceof Error ? err.message : String(err)));
  };
  // a client must show a certificate the CA signed, as with dockerd --tlsverify; half-open as
  // http's own server is: a client's end of stdin (close_notify) must not end its output
  const server: Server = opts.tls ? createTlsServer({ ...opts.tls, requestCert: true, rejectUnauthorized: true, allowHalfOpen: true }, handle) : createServer(handle);
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    void (async () => {
      const at = pathOf(req.url ?? '/');
      if ('error' in at) return failRaw(socket, 400, at.error);
      if (req.method !== 'POST') return failRaw(socket, 404, `page not found: ${at.path}`);
      const attachTo = ATTACH_RE.exec(at.path);
      if (attachTo) {
        if (head.length) socket.unshift(head);
        return attach.attach(socket, decodeURIComponent(attachTo[1]!), at.url.searchParams, true);
      }
      const execStart = EXEC_START_RE.exec(at.path);
      if (!execStart) return failRaw(socket, 404, `page not found: ${at.path}`);
      const body = await upgradeBody(req, socket, head);
      let handedOver = false;
      await exec.start(decodeURIComponent(execStart[1]!), body, {
        plain: (status) => void socket.end(`HTTP/1.1 ${status} OK\r\nContent-Type: application/json\r\nContent-Length: 0\r\n\r\n`),
        hijacked: () => {
          handedOver = true;
          return { socket, upgraded: true };
        },
      }).catch((err: unknown) => {
        if (!handedOver) throw err;
        if (!socket.destroyed) socket.end();
      });
    })().catch((err: unknown) => failRaw(socket, statusOf(err), err instanceof Error ? err.message : String(err)));
  });
  return server;
}
