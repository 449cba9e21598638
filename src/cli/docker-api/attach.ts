/**
 * Attach and start: POST /containers/{id}/attach takes the connection over and carries the
 * container's output (from its monitor) and its stdin. A client that attaches before the start
 * (the docker CLI's `run` does) is served from the program's first byte: start hands it the
 * session before the program runs.
 */
import type { Duplex } from 'node:stream';
import { openAttach, parseDetachKeys, pumpAttach, SEND_CLIENT_CLEANS, type AttachStreams } from '../../engine/container-attach.ts';
import { containerPaths } from '../../engine/container-paths.ts';
import type { Engine } from '../../engine/index.ts';
import { bool, noContent, type Router } from './http.ts';
import { hijack, streamTo } from './hijack.ts';

type Session = Awaited<ReturnType<typeof openAttach>>;

export class AttachRoutes {
  readonly #engine: Engine;
  /** Attach clients of containers not started yet, served from their start. */
  readonly #pending = new Map<string, { pump: (session: Session) => void; end: () => void }[]>();
  /** The terminal sizes clients gave at create, for the first start (bounded: one per container). */
  readonly #consoleSizes = new Map<string, { rows: number; cols: number }>();

  constructor(engine: Engine) {
    this.#engine = engine;
  }

  /** Remembers the size a client's terminal had at create, for the pty at start. */
  created(id: string, size: { rows: number; cols: number } | undefined): void {
    if (size && this.#consoleSizes.size < 10_000) this.#consoleSizes.set(id, size);
  }

  register(router: Router): void {
    const containers = this.#engine.containers;
    router.add('POST', '/containers/([^/]+)/start', async (_req, res, [id]) => {
      const rec = containers.get(id!);
      if (rec.status === 'running') return void res.writeHead(304).end();
      const waiting = this.#pending.get(rec.id) ?? [];
      this.#pending.delete(rec.id);
      const consoleSize = this.#consoleSizes.get(rec.id);
      this.#consoleSizes.delete(rec.id);
      // a --rm container (no restart policy) is finished and removed by this server when it
      // ends, as `berth run --rm` does, not by an exit command (a Node start later): `docker
      // run --rm` waits for the removal. Should the server go first, the monitor runs it after all.
      const finishHere = rec.spec.autoRemove === true && (rec.spec.restart?.name ?? 'no') === 'no';
      let finisher: Session | undefined;
      try {
        await containers.start(rec.id, {
          ...(consoleSize ? { consoleSize } : {}),
          // clients attached before the start see everything from the program's first byte
          beforeStart: async (paths) => {
            if (finishHere) {
              finisher = await openAttach(paths.attachPath);
              await finisher.send(SEND_CLIENT_CLEANS);
            }
            for (const client of waiting) client.pump(await openAttach(paths.attachPath));
          },
        });
      } catch (err) {
        finisher?.close();
        for (const client of waiting) client.end();
        throw err;
      }
      if (finisher) {
        finisher.onFrame(() => {});
        void finisher.closed.then(() => containers.cleanup(rec.id)).catch(() => {
          // left for `berth system check`, as a killed exit command's would be
        });
      }
      noContent(res);
    });
  }

  /** Serves an attach on a connection taken over (101 when upgraded, else 200). */
  async attach(socket: Duplex, id: string, q: URLSearchParams, upgraded: boolean): Promise<void> {
    const containers = this.#engine.containers;
    const rec = containers.get(id);
    const tty = rec.spec.tty === true;
    const keys = q.get('detachKeys');
    const detachKeys = keys ? parseDetachKeys(keys) : undefined;
    hijack(socket, upgraded, tty);
    const streams: AttachStreams = { stdout: streamTo(socket, 1, bool(q.get('stdout')), tty), stderr: streamTo(socket, 2, bool(q.get('stderr')), tty), tty, stdin: bool(q.get('stdin')) && rec.spec.interactive ? socket : undefined, ...(detachKeys ? { detachKeys } : {}) };
    const finish = () => {
      if (!socket.destroyed) socket.end();
    };
    const client = {
      pump: (session: Session) => {
        void pumpAttach(session, streams).finally(finish);
      },
      end: finish,
    };
    if (rec.status === 'running') return client.pump(await openAttach(containerPaths(this.#engine.ctx.paths, rec.id).attachPath));
    if (!bool(q.get('stream'))) return finish();
    const list = this.#pending.get(rec.id) ?? [];
    list.push(client);
    this.#pending.set(rec.id, list);
    socket.once('close', () => {
      const left = (this.#pending.get(rec.id) ?? []).filter((c) => c !== client);
      if (left.length) this.#pending.set(rec.id, left);
      else this.#pending.delete(rec.id);
    });
  }
}
