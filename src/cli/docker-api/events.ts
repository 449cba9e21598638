/**
 * GET /events: what berth does, from the engine's event log in its database, so what the berth
 * CLI does while the server runs is there too. Without `since` only new events come; `until`
 * ends the stream (and a past `until` makes it a list). Filters: type, container, image, event,
 * label, network, volume.
 */
import type { Engine } from '../../engine/index.ts';
import { filtersOf, HttpError, type Router } from './http.ts';

/** docker's event times: Unix seconds, with a fraction. */
function timeOf(text: string | null): number | undefined {
  if (text === null || text === '') return undefined;
  const n = Number(text);
  if (Number.isNaN(n)) throw new HttpError(400, `invalid time: ${text}`);
  return n * 1000;
}

export function registerEvents(router: Router, engine: Engine): void {
  router.add('GET', '/events', async (req, res, _p, q) => {
    const filters = filtersOf(q);
    const since = timeOf(q.get('since'));
    const until = timeOf(q.get('until'));
    const abort = new AbortController();
    req.socket.once('close', () => abort.abort());
    let timer: NodeJS.Timeout | undefined;
    if (until !== undefined) timer = setTimeout(() => abort.abort(), Math.max(0, until - Date.now()));
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.flushHeaders();
    const start = since === undefined ? (engine.ctx.db.get<{ id: number }>('SELECT max(id) AS id FROM events')?.id ?? 0) : 0;
    const wants = (key: string, ...values: (string | undefined)[]) => {
      const wanted = filters.get(key);
      return !wanted?.length || wanted.some((w) => values.some((v) => v !== undefined && (v === w || (w.length >= 3 && v.startsWith(w)))));
    };
    try {
      for await (const e of engine.containers.events({ since: start, signal: abort.signal, follow: until === undefined || until > Date.now() })) {
        const ms = Number(e.timeNano / 1_000_000n);
        if (since !== undefined && ms < since) continue;
        if (until !== undefined && ms > until) break;
        const attrs = e.attributes;
        const labelsOk = (filters.get('label') ?? []).every((l) => {
          const eq = l.indexOf('=');
          return eq < 0 ? attrs[l] !== undefined : attrs[l.slice(0, eq)] === l.slice(eq + 1);
        });
        const containerOk = !filters.has('container') || (e.type === 'container' ? wants('container', e.actorId, attrs.name) : wants('container', attrs.container));
        const imageOk = !filters.has('image') || wants('image', attrs.image, e.type === 'image' ? attrs.name : undefined, e.type === 'image' ? e.actorId : undefined);
        const networkOk = !filters.has('network') || (e.type === 'network' && wants('network', e.actorId, attrs.name));
        const volumeOk = !filters.has('volume') || (e.type === 'volume' && wants('volume', e.actorId));
        if (!labelsOk || !wants('type', e.type) || !wants('event', e.action) || !containerOk || !imageOk || !networkOk || !volumeOk) continue;
        const doc = {
          status: e.action,
          id: e.actorId,
          ...(attrs.image && e.type === 'container' ? { from: attrs.image } : {}),
          Type: e.type,
          Action: e.action,
          Actor: { ID: e.actorId, Attributes: attrs },
          scope: 'local',
          time: Math.floor(ms / 1000),
          timeNano: Number(e.timeNano),
        };
        if (!res.write(JSON.stringify(doc) + '\n')) await new Promise((r) => res.once('drain', r));
      }
    } finally {
      if (timer) clearTimeout(timer);
    }
    res.end();
  });
}
