/**
 * The Docker Engine API over berth's engine (`berth serve`): the docker CLI, compose and SDKs
 * speak it. This is its first part: versions and ping, system info, containers (create, start,
 * stop, restart, kill, wait, remove, list, inspect, logs) and images (list, inspect, pull).
 * Every request is served by the same engine the `berth` CLI uses: containers made through it
 * are ordinary berth containers.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { Writable } from 'node:stream';
import { openAttach, pumpAttach, type AttachStreams } from '../engine/container-attach.ts';
import { containerPaths } from '../engine/container-paths.ts';
import { arch, release } from 'node:os';
import { BerthError } from '../common/index.ts';
import { familiarReference, systemInfo, type Engine, type RunSpec } from '../engine/index.ts';
import { runSpecFromArgs } from './run-flags.ts';
import type { ParsedArgs } from './args.ts';

export const API_VERSION = '1.47';
export const MIN_API_VERSION = '1.24';
/** Request bodies larger than this are refused (413): a container's config is a few KB. */
export const MAX_BODY = 1 << 20;

const VERSION_RE = /^\/v(\d+)\.(\d+)(\/.*)$/;

/** docker's status for berth's error codes. */
function statusOf(err: unknown): number {
  if (!(err instanceof BerthError)) return 500;
  switch (err.code) {
    case 'NOT_FOUND':
      return 404;
    case 'ALREADY_EXISTS':
    case 'CONFLICT':
    case 'FAILED_PRECONDITION':
      return 409;
    case 'INVALID_ARGUMENT':
      return 400;
    case 'NOT_IMPLEMENTED':
      return 501;
    default:
      return 500;
  }
}

class HttpError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

function sendError(res: ServerResponse, status: number, message: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, status, { message });
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_BODY) throw new HttpError(413, `request body too large: ${declared} bytes (at most ${MAX_BODY})`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw new HttpError(413, `request body too large: more than ${MAX_BODY} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const body = await readBody(req);
  if (body.length === 0) return {};
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new HttpError(400, `invalid JSON: ${(err as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new HttpError(400, 'invalid JSON: the body must be an object');
  return value as Record<string, unknown>;
}

const bool = (v: string | null) => v === '1' || v === 'true' || v === 'True';

/** A field of a create body, checked: wrong types are refused (400) before anything is made. */
function field<T>(obj: Record<string, unknown> | undefined, key: string, type: 'string' | 'number' | 'boolean' | 'string[]' | 'object', where: string): T | undefined {
  const v = obj?.[key];
  if (v === undefined || v === null) return undefined;
  const ok =
    type === 'string[]' ? Array.isArray(v) && v.every((x) => typeof x === 'string') : type === 'object' ? typeof v === 'object' && !Array.isArray(v) : typeof v === type;
  if (!ok) throw new HttpError(400, `json: cannot unmarshal ${Array.isArray(v) ? 'array' : typeof v} into Go struct field ${where}.${key} of type ${type}`);
  return v as T;
}

/** docker's ContainerCreate body as berth's RunSpec, through the same checks as `berth run`. */
export function runSpecFromCreate(body: Record<string, unknown>, name: string | undefined): RunSpec {
  const image = field<string>(body, 'Image', 'string', 'container.Config');
  if (!image) throw new HttpError(400, 'No image specified: the config has no Image');
  const host = field<Record<string, unknown>>(body, 'HostConfig', 'object', 'container.Config') ?? {};
  const flags: ParsedArgs['flags'] = {};
  const put = (flag: string, value: string | number | boolean | string[] | undefined) => {
    if (value !== undefined && value !== '' && !(Array.isArray(value) && value.length === 0)) flags[flag] = value;
  };
  put('name', name);
  put('hostname', field<string>(body, 'Hostname', 'string', 'container.Config'));
  put('domainname', field<string>(body, 'Domainname', 'string', 'container.Config'));
  put('workdir', field<string>(body, 'WorkingDir', 'string', 'container.Config'));
  put('user', field<string>(body, 'User', 'string', 'container.Config'));
  put('tty', field<boolean>(body, 'Tty', 'boolean', 'container.Config'));
  put('interactive', field<boolean>(body, 'OpenStdin', 'boolean', 'container.Config'));
  put('stop-signal', field<string>(body, 'StopSignal', 'string', 'container.Config'));
  const labels = field<Record<string, string>>(body, 'Labels', 'object', 'container.Config');
  put('label', labels && Object.entries(labels).map(([k, v]) => `${k}=${v}`));
  const exposed = field<Record<string, unknown>>(body, 'ExposedPorts', 'object', 'container.Config');
  put('expose', exposed && Object.keys(exposed));
  put('rm', field<boolean>(host, 'AutoRemove', 'boolean', 'container.HostConfig'));
  put('volume', field<string[]>(host, 'Binds', 'string[]', 'container.HostConfig'));
  put('privileged', field<boolean>(host, 'Privileged', 'boolean', 'container.HostConfig'));
  put('read-only', field<boolean>(host, 'ReadonlyRootfs', 'boolean', 'container.HostConfig'));
  put('init', field<boolean>(host, 'Init', 'boolean', 'container.HostConfig'));
  put('cap-add', field<string[]>(host, 'CapAdd', 'string[]', 'container.HostConfig'));
  put('cap-drop', field<string[]>(host, 'CapDrop', 'string[]', 'container.HostConfig'));
  put('add-host', field<string[]>(host, 'ExtraHosts', 'string[]', 'container.HostConfig'));
  put('dns', field<string[]>(host, 'Dns', 'string[]', 'container.HostConfig'));
  put('security-opt', field<string[]>(host, 'SecurityOpt', 'string[]', 'container.HostConfig'));
  const memory = field<number>(host, 'Memory', 'number', 'container.HostConfig');
  if (memory) put('memory', String(memory));
  const swap = field<number>(host, 'MemorySwap', 'number', 'container.HostConfig');
  if (swap) put('memory-swap', String(swap));
  const nanoCpus = field<number>(host, 'NanoCpus', 'number', 'container.HostConfig');
  if (nanoCpus) put('cpus', String(nanoCpus / 1e9));
  const shares = field<number>(host, 'CpuShares', 'number', 'container.HostConfig');
  if (shares) put('cpu-shares', shares);
  const quota = field<number>(host, 'CpuQuota', 'number', 'container.HostConfig');
  if (quota) put('cpu-quota', quota);
  const period = field<number>(host, 'CpuPeriod', 'number', 'container.HostConfig');
  if (period) put('cpu-period', period);
  put('cpuset-cpus', field<string>(host, 'CpusetCpus', 'string', 'container.HostConfig'));
  const pids = field<number>(host, 'PidsLimit', 'number', 'container.HostConfig');
  if (pids) put('pids-limit', pids);
  const network = field<string>(host, 'NetworkMode', 'string', 'container.HostConfig');
  if (network && network !== 'default') put('network', network);
  const restart = field<Record<string, unknown>>(host, 'RestartPolicy', 'object', 'container.HostConfig');
  const policy = restart && field<string>(restart, 'Name', 'string', 'container.RestartPolicy');
  if (policy && policy !== 'no') {
    const max = field<number>(restart, 'MaximumRetryCount', 'number', 'container.RestartPolicy');
    put('restart', policy === 'on-failure' && max ? `on-failure:${max}` : policy);
  }
  const ports = field<Record<string, { HostIp?: string; HostPort?: string }[] | null>>(host, 'PortBindings', 'object', 'container.HostConfig');
  if (ports) {
    const publish: string[] = [];
    for (const [port, bindings] of Object.entries(ports)) {
      for (const b of bindings ?? [{}]) publish.push(`${b.HostIp ? `${b.HostIp}:` : ''}${b.HostPort ? `${b.HostPort}:` : b.HostIp ? ':' : ''}${port}`);
    }
    put('publish', publish);
  }
  put('publish-all', field<boolean>(host, 'PublishAllPorts', 'boolean', 'container.HostConfig'));
  const spec = runSpecFromArgs({ flags, positionals: [image], help: false });
  const env = field<string[]>(body, 'Env', 'string[]', 'container.Config');
  if (env?.length) spec.env = env;
  const cmd = field<string[]>(body, 'Cmd', 'string[]', 'container.Config');
  if (cmd?.length) spec.command = cmd;
  const entrypoint = field<string[]>(body, 'Entrypoint', 'string[]', 'container.Config');
  if (entrypoint) spec.entrypoint = entrypoint;
  return spec;
}

/** docker's multiplexed stream frame: stream (1 stdout, 2 stderr), 3 zero bytes, length. */
function frame(stream: 1 | 2, data: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h[0] = stream;
  h.writeUInt32BE(data.length, 4);
  return Buffer.concat([h, data]);
}

export interface DockerApiOptions {
  engine: Engine;
  /** ServerVersion in /version and /info. */
  version: string;
}

type Handler = (req: IncomingMessage, res: ServerResponse, params: string[], query: URLSearchParams) => Promise<void>;

export function createDockerApi(opts: DockerApiOptions): Server {
  const { engine } = opts;
  const containers = engine.containers;
  const routes: { method: string; re: RegExp; handler: Handler }[] = [];
  /** Attach clients of containers not started yet, served from their start. */
  const pending = new Map<string, { pump: (session: Awaited<ReturnType<typeof openAttach>>) => void; end: () => void }[]>();
  const containerAttachPath = (id: string) => containerPaths(engine.ctx.paths, id).attachPath;
  const route = (method: string, path: string, handler: Handler) => routes.push({ method, re: new RegExp(`^${path}$`), handler });

  const ping: Handler = async (req, res) => {
    res.writeHead(200, { 'Api-Version': API_VERSION, 'Content-Type': 'text/plain; charset=utf-8', 'Docker-Experimental': 'false', 'Builder-Version': '', Ostype: 'linux', Swarm: 'inactive', 'Cache-Control': 'no-cache, no-store, must-revalidate', Pragma: 'no-cache' });
    res.end(req.method === 'HEAD' ? undefined : 'OK');
  };
  route('GET', '/_ping', ping);
  route('HEAD', '/_ping', ping);
  route('GET', '/version', async (_req, res) => {
    const version = { Platform: { Name: 'berth' }, Version: opts.version, ApiVersion: API_VERSION, MinAPIVersion: MIN_API_VERSION, Os: 'linux', Arch: arch() === 'x64' ? 'amd64' : arch(), KernelVersion: release(), GoVersion: `node ${process.version}`, GitCommit: '', BuildTime: '', Experimental: false };
    const details = { ApiVersion: API_VERSION, MinAPIVersion: MIN_API_VERSION, Os: version.Os, Arch: version.Arch, KernelVersion: version.KernelVersion, GoVersion: version.GoVersion, GitCommit: 'berth', BuildTime: '', Experimental: 'false' };
    sendJson(res, 200, { ...version, Components: [{ Name: 'Engine', Version: opts.version, Details: details }] });
  });
  route('GET', '/info', async (_req, res) => {
    const info = await systemInfo(engine.ctx);
    sendJson(res, 200, { ...info, ServerVersion: opts.version, Swarm: { LocalNodeState: 'inactive', NodeID: '', NodeAddr: '', ControlAvailable: false, Error: '', RemoteManagers: null } });
  });

  // containers
  route('GET', '/containers/json', async (_req, res, _p, q) => {
    const list = containers.list({ all: bool(q.get('all')) }).map(({ record: _record, ...row }) => row);
    sendJson(res, 200, list);
  });
  route('POST', '/containers/create', async (req, res, _p, q) => {
    const body = await readJson(req);
    const spec = runSpecFromCreate(body, q.get('name') ?? undefined);
    // the docker CLI pulls and retries on 404 "No such image"
    if (!hasImage(engine, spec.image)) return sendError(res, 404, `No such image: ${spec.image}`);
    const { record, warnings } = await containers.create(spec, { pull: 'never' });
    sendJson(res, 201, { Id: record.id, Warnings: warnings });
  });
  route('POST', '/containers/([^/]+)/start', async (_req, res, [id]) => {
    const rec = containers.get(id!);
    if (rec.status === 'running') return void res.writeHead(304).end();
    const waiting = pending.get(rec.id) ?? [];
    pending.delete(rec.id);
    try {
      await containers.start(rec.id, {
        // clients attached before the start see everything from the program's first byte
        beforeStart: async (paths) => {
          for (const client of waiting) client.pump(await openAttach(paths.attachPath));
        },
      });
    } catch (err) {
      for (const client of waiting) client.end();
      throw err;
    }
    res.writeHead(204).end();
  });
  route('POST', '/containers/([^/]+)/stop', async (_req, res, [id], q) => {
    const rec = containers.get(id!);
    if (rec.status !== 'running' && rec.status !== 'paused' && rec.status !== 'restarting') return void res.writeHead(304).end();
    await containers.stop(id!, { ...(q.get('t') ? { timeoutSec: Number(q.get('t')) } : {}), ...(q.get('signal') ? { signal: q.get('signal')! } : {}) });
    res.writeHead(204).end();
  });
  route('POST', '/containers/([^/]+)/restart', async (_req, res, [id], q) => {
    await containers.restart(id!, q.get('t') ? { timeoutSec: Number(q.get('t')) } : {});
    res.writeHead(204).end();
  });
  route('POST', '/containers/([^/]+)/kill', async (_req, res, [id], q) => {
    await containers.kill(id!, q.get('signal') ?? 'KILL');
    res.writeHead(204).end();
  });
  route('POST', '/containers/([^/]+)/wait', async (req, res, [id], q) => {
    const condition = (q.get('condition') ?? 'not-running') as 'not-running' | 'next-exit' | 'removed';
    if (!['not-running', 'next-exit', 'removed'].includes(condition)) throw new HttpError(400, `invalid condition: "${condition}"`);
    containers.get(id!);
    // the headers go at once: the CLI starts the container only once they came
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.flushHeaders();
    const abort = new AbortController();
    req.socket.once('close', () => abort.abort());
    const result = await containers.wait(id!, condition, abort.signal).catch((err: unknown) => ({ StatusCode: -1, Error: { Message: err instanceof Error ? err.message : String(err) } }));
    res.end(JSON.stringify(result));
  });
  route('DELETE', '/containers/([^/]+)', async (_req, res, [id], q) => {
    await containers.remove(id!, { force: bool(q.get('force')), volumes: bool(q.get('v')) });
    res.writeHead(204).end();
  });
  route('GET', '/containers/([^/]+)/json', async (_req, res, [id]) => sendJson(res, 200, await containers.inspect(id!)));
  route('GET', '/containers/([^/]+)/logs', async (req, res, [id], q) => {
    const rec = containers.get(id!);
    const wantOut = bool(q.get('stdout'));
    const wantErr = bool(q.get('stderr'));
    if (!wantOut && !wantErr) throw new HttpError(400, 'Bad parameters: you must choose at least one stream');
    const tty = (rec.config as { Tty?: boolean }).Tty === true;
    res.writeHead(200, { 'Content-Type': tty ? 'application/vnd.docker.raw-stream' : 'application/vnd.docker.multiplexed-stream' });
    const abort = new AbortController();
    req.socket.once('close', () => abort.abort());
    const tail = q.get('tail');
    const timestamps = bool(q.get('timestamps'));
    const since = Number(q.get('since') ?? 0);
    for await (const e of containers.logs(id!, {
      follow: bool(q.get('follow')),
      stdout: wantOut,
      stderr: wantErr,
      ...(tail && tail !== 'all' ? { tail: Number(tail) } : {}),
      ...(since > 0 ? { since: since * 1000 } : {}),
      signal: abort.signal,
    })) {
      const text = Buffer.from(`${timestamps ? `${e.time} ` : ''}${e.log}`);
      res.write(tty ? text : frame(e.stream === 'stderr' ? 2 : 1, text));
    }
    res.end();
  });

  // attach: the connection is taken over (101 with Upgrade: tcp, else 200) and carries the
  // container's output, multiplexed unless it has a tty, and its stdin the other way
  const attach = async (socket: Duplex, id: string, q: URLSearchParams, upgraded: boolean) => {
    const rec = containers.get(id);
    const tty = rec.spec.tty === true;
    const type = tty ? 'application/vnd.docker.raw-stream' : 'application/vnd.docker.multiplexed-stream';
    socket.write(upgraded ? `HTTP/1.1 101 UPGRADED\r\nContent-Type: ${type}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n` : `HTTP/1.1 200 OK\r\nContent-Type: ${type}\r\n\r\n`);
    socket.on('error', () => {});
    const out = (stream: 1 | 2, wanted: boolean) =>
      new Writable({
        write(chunk: Buffer, _enc, done) {
          if (!wanted || socket.destroyed) return done();
          socket.write(tty ? chunk : frame(stream, chunk), () => done());
        },
      });
    const streams: AttachStreams = { stdout: out(1, bool(q.get('stdout'))), stderr: out(2, bool(q.get('stderr'))), tty, stdin: bool(q.get('stdin')) ? socket : undefined };
    const finish = () => {
      if (!socket.destroyed) socket.end();
    };
    const client = {
      pump: (session: Awaited<ReturnType<typeof openAttach>>) => {
        void pumpAttach(session, { ...streams, stdin: rec.spec.interactive ? streams.stdin : undefined }).finally(finish);
      },
      end: finish,
    };
    if (rec.status === 'running') return client.pump(await openAttach(containerAttachPath(rec.id)));
    if (!bool(q.get('stream'))) return finish();
    const list = pending.get(rec.id) ?? [];
    list.push(client);
    pending.set(rec.id, list);
    socket.once('close', () => {
      const left = (pending.get(rec.id) ?? []).filter((c) => c !== client);
      if (left.length) pending.set(rec.id, left);
      else pending.delete(rec.id);
    });
  };

  route('POST', '/containers/([^/]+)/pause', async (_req, res, [id]) => {
    await containers.pause(id!);
    res.writeHead(204).end();
  });
  route('POST', '/containers/([^/]+)/unpause', async (_req, res, [id]) => {
    await containers.unpause(id!);
    res.writeHead(204).end();
  });
  route('POST', '/containers/([^/]+)/rename', async (_req, res, [id], q) => {
    const name = q.get('name');
    if (!name) throw new HttpError(400, 'rename: the new name is missing (?name=)');
    await containers.rename(id!, name);
    res.writeHead(204).end();
  });
  route('GET', '/containers/([^/]+)/top', async (_req, res, [id], q) => {
    const args = q.get('ps_args');
    sendJson(res, 200, await containers.top(id!, args ? args.split(/\s+/).filter(Boolean) : undefined));
  });

  // networks
  route('GET', '/networks', async (_req, res) => sendJson(res, 200, engine.networks.list().map((n) => engine.networks.inspect(n.id))));
  route('GET', '/networks/([^/]+)', async (_req, res, [id]) => sendJson(res, 200, engine.networks.inspect(id!)));
  route('POST', '/networks/create', async (req, res) => {
    const body = await readJson(req);
    const name = field<string>(body, 'Name', 'string', 'network.CreateRequest');
    if (!name) throw new HttpError(400, 'network create: Name is required');
    const ipam = field<Record<string, unknown>>(body, 'IPAM', 'object', 'network.CreateRequest');
    const pool = (ipam?.Config as { Subnet?: string; Gateway?: string; IPRange?: string }[] | undefined)?.[0];
    const net = engine.networks.create({
      name,
      ...(field<string>(body, 'Driver', 'string', 'network.CreateRequest') ? { driver: body.Driver as string } : {}),
      ...(pool?.Subnet ? { subnet: pool.Subnet } : {}),
      ...(pool?.Gateway ? { gateway: pool.Gateway } : {}),
      ...(pool?.IPRange ? { ipRange: pool.IPRange } : {}),
      ...(field<boolean>(body, 'Internal', 'boolean', 'network.CreateRequest') ? { internal: true } : {}),
      ...(field<Record<string, string>>(body, 'Labels', 'object', 'network.CreateRequest') ? { labels: body.Labels as Record<string, string> } : {}),
      ...(field<Record<string, string>>(body, 'Options', 'object', 'network.CreateRequest') ? { options: body.Options as Record<string, string> } : {}),
    });
    sendJson(res, 201, { Id: net.id, Warning: '' });
  });
  route('DELETE', '/networks/([^/]+)', async (_req, res, [id]) => {
    engine.networks.remove(id!);
    res.writeHead(204).end();
  });
  route('POST', '/networks/([^/]+)/connect', async (req, res, [id]) => {
    const body = await readJson(req);
    const container = field<string>(body, 'Container', 'string', 'network.ConnectOptions');
    if (!container) throw new HttpError(400, 'network connect: Container is required');
    const endpoint = field<Record<string, unknown>>(body, 'EndpointConfig', 'object', 'network.ConnectOptions');
    const aliases = endpoint && field<string[]>(endpoint, 'Aliases', 'string[]', 'network.EndpointSettings');
    const ip = (endpoint?.IPAMConfig as { IPv4Address?: string } | undefined)?.IPv4Address;
    await engine.networks.connect(container, id!, { ...(aliases ? { aliases } : {}), ...(ip ? { ip } : {}) });
    res.writeHead(200).end();
  });
  route('POST', '/networks/([^/]+)/disconnect', async (req, res, [id]) => {
    const body = await readJson(req);
    const container = field<string>(body, 'Container', 'string', 'network.DisconnectOptions');
    if (!container) throw new HttpError(400, 'network disconnect: Container is required');
    await engine.networks.disconnect(container, id!);
    res.writeHead(200).end();
  });

  // volumes
  route('GET', '/volumes', async (_req, res) => sendJson(res, 200, { Volumes: engine.volumes.list().map((v) => engine.volumes.inspect(v.name)), Warnings: [] }));
  route('GET', '/volumes/([^/]+)', async (_req, res, [name]) => sendJson(res, 200, engine.volumes.inspect(name!)));
  route('POST', '/volumes/create', async (req, res) => {
    const body = await readJson(req);
    const name = field<string>(body, 'Name', 'string', 'volume.CreateOptions');
    const driver = field<string>(body, 'Driver', 'string', 'volume.CreateOptions');
    const options = field<Record<string, string>>(body, 'DriverOpts', 'object', 'volume.CreateOptions');
    const labels = field<Record<string, string>>(body, 'Labels', 'object', 'volume.CreateOptions');
    const vol = engine.volumes.create({ ...(name ? { name } : {}), ...(driver ? { driver } : {}), ...(options ? { options } : {}), ...(labels ? { labels } : {}) });
    sendJson(res, 201, engine.volumes.inspect(vol.name));
  });
  route('DELETE', '/volumes/([^/]+)', async (_req, res, [name], q) => {
    engine.volumes.remove(name!, { force: bool(q.get('force')) });
    res.writeHead(204).end();
  });

  // images
  route('DELETE', '/images/(.+)', async (_req, res, [name], q) => sendJson(res, 200, await engine.images.remove(name!, { force: bool(q.get('force')) })));
  route('GET', '/images/json', async (_req, res) => sendJson(res, 200, engine.images.summaries()));
  route('GET', '/images/(.+)/json', async (_req, res, [name]) => sendJson(res, 200, engine.images.inspect(decodeURIComponent(name!))));
  route('POST', '/images/create', async (_req, res, _p, q) => {
    const from = q.get('fromImage');
    if (!from) throw new HttpError(400, 'fromImage is required (importing with fromSrc is not supported yet)');
    const tag = q.get('tag');
    const ref = tag ? (tag.startsWith('sha256:') ? `${from}@${tag}` : `${from}:${tag}`) : from;
    res.writeHead(200, { 'Content-Type': 'application/json' });
    try {
      await engine.images.pull(ref, {
        onProgress: (ev) => {
          const line =
            ev.type === 'resolving' ? { status: `Pulling from ${ev.ref}` }
            : ev.type === 'layer' ? { status: ev.status, id: ev.digest.slice(7, 19), progressDetail: { current: ev.current ?? 0, total: ev.total ?? 0 } }
            : ev.type === 'manifest' ? { status: `Digest: ${ev.digest}` }
            : { status: 'Pull complete', id: ev.digest.slice(7, 19) };
          res.write(JSON.stringify(line) + '\r\n');
        },
      });
      res.end(JSON.stringify({ status: `Status: Downloaded newer image for ${familiarReference(ref)}` }) + '\r\n');
    } catch (err) {
      res.end(JSON.stringify({ errorDetail: { message: (err as Error).message }, error: (err as Error).message }) + '\r\n');
    }
  });
  route('POST', '/build', async () => {
    throw new HttpError(501, 'berth serve does not build images yet');
  });
  route('GET', '/images/search', async () => {
    throw new HttpError(501, 'berth serve does not search registries');
  });

  const ATTACH_RE = /^\/containers\/([^/]+)\/attach$/;
  /** The path without its /vX.Y prefix; an error when the version is out of range. */
  const pathOf = (raw: string): { path: string; url: URL } | { error: string } => {
    const url = new URL(raw, 'http://berth');
    const versioned = VERSION_RE.exec(url.pathname);
    if (!versioned) return { path: url.pathname, url };
    const v = Number(versioned[1]) * 1000 + Number(versioned[2]);
    if (v < 1024) return { error: `client version ${versioned[1]}.${versioned[2]} is too old. Minimum supported API version is ${MIN_API_VERSION}, please upgrade your client to a newer version` };
    if (v > 1047) return { error: `client version ${versioned[1]}.${versioned[2]} is too new. Maximum supported API version is ${API_VERSION}` };
    return { path: versioned[3]!, url };
  };

  const server = createServer((req, res) => {
    void (async () => {
      const at = pathOf(req.url ?? '/');
      if ('error' in at) return sendError(res, 400, at.error);
      const attachTo = req.method === 'POST' ? ATTACH_RE.exec(at.path) : null;
      if (attachTo) {
        // without Upgrade: docker's older clients; the socket is taken over all the same
        res.detachSocket(req.socket);
        return attach(req.socket, decodeURIComponent(attachTo[1]!), at.url.searchParams, false);
      }
      const match = routes.map((r) => ({ r, m: r.re.exec(at.path) })).filter((x) => x.m);
      const hit = match.find((x) => x.r.method === req.method);
      if (!hit) return sendError(res, match.length ? 405 : 404, match.length ? `method ${req.method} not allowed for ${at.path}` : `page not found: ${at.path}`);
      await hit.r.handler(req, res, hit.m!.slice(1).map((s) => decodeURIComponent(s)), at.url.searchParams);
    })().catch((err: unknown) => {
      const status = err instanceof HttpError ? err.status : statusOf(err);
      sendError(res, status, err instanceof Error ? err.message : String(err));
    });
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex) => {
    const at = pathOf(req.url ?? '/');
    const attachTo = 'error' in at ? null : ATTACH_RE.exec(at.path);
    const fail = (status: number, message: string) => {
      const body = JSON.stringify({ message });
      socket.end(`HTTP/1.1 ${status} Error\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    };
    if ('error' in at) return fail(400, at.error);
    if (!attachTo || req.method !== 'POST') return fail(404, `page not found: ${at.path}`);
    attach(socket, decodeURIComponent(attachTo[1]!), at.url.searchParams, true).catch((err: unknown) => fail(err instanceof HttpError ? err.status : statusOf(err), err instanceof Error ? err.message : String(err)));
  });
  return server;
}

function hasImage(engine: Engine, ref: string): boolean {
  try {
    engine.images.resolve(ref);
    return true;
  } catch {
    return false;
  }
}
