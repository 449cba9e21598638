/**
 * docker exec through the API: /containers/{id}/exec makes an exec instance (kept in the
 * server's memory, as dockerd keeps its own), /exec/{id}/start runs it on a hijacked
 * connection (or detached), /exec/{id}/json says how it ended, /exec/{id}/resize sizes its tty.
 *
 * The process's stdio are socket pairs: stdin and stdout share one (the client's half-close
 * becomes the process's end of input, its output still flows), stderr has its own unless there
 * is a tty. With a tty, berth-init relays the socket to the container's pty; resize opens the
 * pty's slave through the process's fd 0, checked to be a pty first.
 */
import { closeSync, constants, fstatSync, openSync, readFileSync, statSync } from 'node:fs';
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { randomBytes } from 'node:crypto';
import type { Engine } from '../../engine/index.ts';
import { socketPair } from '../../native/spawn.ts';
import { setWindowSize } from '../../native/sys.ts';
import { field, frame, HttpError, type Router, readJson, sendJson } from './http.ts';
import { hijack } from './hijack.ts';

interface ExecInstance {
  id: string;
  containerId: string;
  cmd: string[];
  env: string[];
  user: string;
  workdir: string;
  tty: boolean;
  privileged: boolean;
  attachStdin: boolean;
  attachStdout: boolean;
  attachStderr: boolean;
  consoleSize?: { rows: number; cols: number };
  running: boolean;
  started: boolean;
  exitCode: number | null;
  pid: number;
  endedAt?: number;
}

/** Ended execs are forgotten after this long, and beyond this many (dockerd drops them with their container). */
const ENDED_TTL_MS = 10 * 60_000;
const MAX_EXECS = 4096;
/** Once the process ended, output still buffered in the sockets is read this long at most
 * (a background child may hold the stream open forever). */
const DRAIN_MS = 2000;

const PTS_MAJORS = new Set([136, 137, 138, 139, 140, 141, 142, 143]);
const majorOf = (rdev: number) => ((rdev >> 8) & 0xfff) | ((rdev >> 32) & ~0xfff);

/** Sets the size of the pty an exec'd process has as its fd 0, if it is one. */
function resizePty(pid: number, rows: number, cols: number): void {
  const path = `/proc/${pid}/fd/0`;
  let before;
  try {
    before = statSync(path);
  } catch {
    return;
  }
  // never open what the container put there unless it is a pty of its devpts
  if (!before.isCharacterDevice() || !PTS_MAJORS.has(majorOf(before.rdev))) return;
  let fd: number | undefined;
  try {
    fd = openSync(path, constants.O_RDWR | constants.O_NOCTTY | constants.O_NONBLOCK); // Node opens every fd close-on-exec
    const after = fstatSync(fd);
    if (after.rdev !== before.rdev || after.ino !== before.ino) return;
    setWindowSize(fd, rows, cols);
  } catch {
    // it ended, or the fd changed: nothing to size
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

export class ExecRoutes {
  readonly #engine: Engine;
  readonly #execs = new Map<string, ExecInstance>();

  constructor(engine: Engine) {
    this.#engine = engine;
  }

  register(router: Router): void {
    router.add('POST', '/containers/([^/]+)/exec', async (req, res, [ref]) => {
      const body = await readJson(req);
      const where = 'container.ExecOptions';
      const cmd = field<string[]>(body, 'Cmd', 'string[]', where);
      if (!cmd?.length) throw new HttpError(400, 'No exec command specified');
      const rec = this.#engine.containers.get(ref!);
      if (rec.status === 'paused') throw new HttpError(409, `Container ${rec.id} is paused, unpause the container before exec`);
      if (rec.status !== 'running') throw new HttpError(409, `Container ${rec.id} is not running`);
      const size = field<number[]>(body, 'ConsoleSize', 'array', where);
      this.#forgetOld();
      const exec: ExecInstance = {
        id: randomBytes(32).toString('hex'),
        containerId: rec.id,
        cmd,
        env: field<string[]>(body, 'Env', 'string[]', where) ?? [],
        user: field<string>(body, 'User', 'string', where) ?? '',
        workdir: field<string>(body, 'WorkingDir', 'string', where) ?? '',
        tty: field<boolean>(body, 'Tty', 'boolean', where) ?? false,
        privileged: field<boolean>(body, 'Privileged', 'boolean', where) ?? false,
        attachStdin: field<boolean>(body, 'AttachStdin', 'boolean', where) ?? false,
        attachStdout: field<boolean>(body, 'AttachStdout', 'boolean', where) ?? false,
        attachStderr: field<boolean>(body, 'AttachStderr', 'boolean', where) ?? false,
        ...(size && size.length === 2 && size.every((n) => typeof n === 'number' && n > 0) ? { consoleSize: { rows: size[0]!, cols: size[1]! } } : {}),
        running: false,
        started: false,
        exitCode: null,
        pid: 0,
      };
      this.#execs.set(exec.id, exec);
      sendJson(res, 201, { Id: exec.id });
    });
    router.add('GET', '/exec/([^/]+)/json', async (_req, res, [id]) => {
      const e = this.#get(id!);
      sendJson(res, 200, {
        ID: e.id,
        Running: e.running,
        ExitCode: e.exitCode,
        ProcessConfig: { tty: e.tty, entrypoint: e.cmd[0], arguments: e.cmd.slice(1), privileged: e.privileged, user: e.user },
        OpenStdin: e.attachStdin,
        OpenStderr: e.attachStderr,
        OpenStdout: e.attachStdout,
        CanRemove: !e.running && e.started,
        ContainerID: e.containerId,
        DetachKeys: '',
        Pid: e.pid,
      });
    });
    router.add('POST', '/exec/([^/]+)/resize', async (_req, res, [id], q) => {
      const e = this.#get(id!);
      const rows = Number(q.get('h'));
      const cols = Number(q.get('w'));
      if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 0 || cols < 0) throw new HttpError(400, 'resize: h and w must be numbers');
      if (!e.running) throw new HttpError(409, `exec ${e.id} is not running`);
      if (e.tty) resizePty(e.pid, rows, cols);
      else e.consoleSize = { rows, cols };
      res.writeHead(200).end();
    });
  }

  #get(id: string): ExecInstance {
    const e = this.#execs.get(id);
    if (!e) throw new HttpError(404, `No such exec instance: ${id}`);
    return e;
  }

  #forgetOld(): void {
    const now = Date.now();
    for (const [id, e] of this.#execs) if (e.endedAt !== undefined && now - e.endedAt > ENDED_TTL_MS) this.#execs.delete(id);
    if (this.#execs.size >= MAX_EXECS) {
      const ended = [...this.#execs.values()].filter((e) => e.endedAt !== undefined).sort((a, b) => a.endedAt! - b.endedAt!);
      for (const e of ended.slice(0, this.#execs.size - MAX_EXECS + 1)) this.#execs.delete(e.id);
      if (this.#execs.size >= MAX_EXECS) throw new HttpError(503, `too many exec instances (${MAX_EXECS}) are running`);
    }
  }

  /** The start request's body decides: detached (a plain 200) or on the connection. */
  async start(id: string, body: Record<string, unknown>, respond: { plain: (status: number) => void; hijacked: () => { socket: Duplex; upgraded: boolean } }): Promise<void> {
    const e = this.#get(id);
    if (e.started) throw new HttpError(409, `exec ${e.id} has already been started`);
    const where = 'container.ExecStartOptions';
    const detach = field<boolean>(body, 'Detach', 'boolean', where) ?? false;
    const size = field<number[]>(body, 'ConsoleSize', 'array', where);
    if (size && size.length === 2 && size.every((n) => typeof n === 'number' && n > 0)) e.consoleSize = { rows: size[0]!, cols: size[1]! };
    e.started = true;
    const base = { cmd: e.cmd, env: e.env, ...(e.user ? { user: e.user } : {}), ...(e.workdir ? { workdir: e.workdir } : {}), privileged: e.privileged };
    if (detach) {
      try {
        const r = await this.#engine.containers.exec(e.containerId, { ...base, detach: true });
        e.pid = r.pid;
        e.running = true;
        this.#watchDetached(e);
      } catch (err) {
        e.exitCode = 126;
        e.endedAt = Date.now();
        throw err;
      }
      return respond.plain(200);
    }
    const out = socketPair();
    const err = !e.tty && e.attachStderr ? socketPair() : undefined;
    let processEndsOpen = true;
    const closeProcessEnds = () => {
      if (!processEndsOpen) return;
      processEndsOpen = false;
      closeSync(out[1]);
      if (err) closeSync(err[1]);
    };
    const ours = new Socket({ fd: out[0], readable: true, writable: true });
    const oursErr = err ? new Socket({ fd: err[0], readable: true, writable: false }) : undefined;
    ours.on('error', () => {});
    oursErr?.on('error', () => {});
    const { socket, upgraded } = respond.hijacked();
    hijack(socket, upgraded, e.tty);
    const send = (stream: 1 | 2) => (chunk: Buffer) => {
      if (!socket.destroyed && socket.writable) socket.write(e.tty ? chunk : frame(stream, chunk));
    };
    ours.on('data', send(1));
    oursErr?.on('data', send(2));
    // a client that went away: the process's output has no reader, as with a closed pipe
    socket.once('close', () => {
      ours.destroy();
      oursErr?.destroy();
    });
    if (e.attachStdin) {
      socket.on('data', (chunk: Buffer) => ours.write(chunk));
      socket.on('end', () => ours.end());
    } else ours.end();
    const ended = (s: Socket | undefined) =>
      s ? new Promise<void>((resolve) => (s.readableEnded || s.destroyed ? resolve() : (s.once('end', () => resolve()), s.once('close', () => resolve())))) : Promise.resolve();
    try {
      const result = await this.#engine.containers.exec(e.containerId, {
        ...base,
        tty: e.tty,
        ...(e.consoleSize ? { consoleSize: e.consoleSize } : {}),
        stdio: { stdin: e.attachStdin ? out[1] : 'ignore', stdout: e.attachStdout || e.tty ? out[1] : 'ignore', stderr: e.tty ? out[1] : err ? err[1] : 'ignore' },
        onStarted: (pid) => {
          e.pid = pid;
          e.running = true;
          closeProcessEnds();
        },
      });
      e.exitCode = result.exitCode ?? 0;
    } catch (error) {
      e.exitCode = 126;
      if (!socket.destroyed && socket.writable) socket.write(e.tty ? Buffer.from(`${(error as Error).message}\r\n`) : frame(2, Buffer.from(`${(error as Error).message}\n`)));
    } finally {
      closeProcessEnds();
      e.running = false;
      e.endedAt = Date.now();
    }
    // what the process wrote last is still in the sockets
    await Promise.race([Promise.all([ended(ours), ended(oursErr)]), new Promise((r) => setTimeout(r, DRAIN_MS).unref())]);
    ours.destroy();
    oursErr?.destroy();
    if (!socket.destroyed) socket.end();
  }

  /** A detached exec is running until its pid is gone. */
  #watchDetached(e: ExecInstance): void {
    const timer = setInterval(() => {
      let alive = false;
      try {
        alive = !/\) [ZX] /.test(readFileSync(`/proc/${e.pid}/stat`, 'utf8'));
      } catch {
        alive = false;
      }
      if (!alive) {
        clearInterval(timer);
        e.running = false;
        e.endedAt = Date.now();
      }
    }, 500);
    timer.unref();
  }
}
