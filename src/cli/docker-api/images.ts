/**
 * The image endpoints: list, inspect, history, tag, remove, prune, pull and import (create),
 * save (get) and load. Push, search and build answer that berth does not do them (501).
 */
import { familiarReference, matchesLabels, type Engine } from '../../engine/index.ts';
import { bool, filtersOf, HttpError, type Router, sendJson } from './http.ts';
import { labelFiltersOf, streamOut } from './containers.ts';

/** Bodies of load and import are image archives: large, but bounded. */
export const MAX_ARCHIVE = 64 * 1024 ** 3;

/** A request body as chunks, refused (the stream ends with an error) past `max` bytes. */
async function* bounded(body: AsyncIterable<Buffer>, max: number): AsyncGenerator<Buffer> {
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > max) throw new HttpError(413, `the archive is larger than ${max} bytes`);
    yield chunk;
  }
}

export function registerImages(router: Router, engine: Engine): void {
  const images = engine.images;
  router.add('GET', '/images/json', async (_req, res, _p, q) => {
    const filters = filtersOf(q);
    const labels = labelFiltersOf(filters);
    const dangling = filters.get('dangling')?.[0];
    const refs = filters.get('reference');
    let list = images.summaries();
    if (dangling !== undefined) list = list.filter((s) => (s.RepoTags?.length ? false : true) === bool(dangling));
    if (labels.length) list = list.filter((s) => matchesLabels(s.Labels ?? {}, labels));
    if (refs?.length) list = list.filter((s) => (s.RepoTags ?? []).some((t) => refs.some((r) => globMatch(r.includes(':') ? r : `${r}:*`, t))));
    sendJson(res, 200, list);
  });
  router.add('GET', '/images/(.+)/json', async (_req, res, [name]) => sendJson(res, 200, images.inspect(name!)));
  router.add('GET', '/images/(.+)/history', async (_req, res, [name]) => sendJson(res, 200, images.history(name!)));
  router.add('POST', '/images/(.+)/tag', async (_req, res, [name], q) => {
    const repo = q.get('repo');
    if (!repo) throw new HttpError(400, 'tag: repository name is required (?repo=)');
    images.tag(name!, q.get('tag') ? `${repo}:${q.get('tag')}` : repo);
    res.writeHead(201).end();
  });
  router.add('POST', '/images/(.+)/push', async () => {
    throw new HttpError(501, 'berth serve does not push images yet');
  });
  router.add('DELETE', '/images/(.+)', async (_req, res, [name], q) => sendJson(res, 200, await images.remove(name!, { force: bool(q.get('force')) })));
  router.add('POST', '/images/prune', async (_req, res, _p, q) => {
    const filters = filtersOf(q);
    const labelFilters = labelFiltersOf(filters);
    const dangling = filters.get('dangling')?.[0];
    const result = await images.prune({ all: dangling !== undefined && !bool(dangling), ...(labelFilters.length ? { labelFilters } : {}) });
    sendJson(res, 200, { ImagesDeleted: result.entries.length ? result.entries : null, SpaceReclaimed: result.reclaimed });
  });
  router.add('GET', '/images/get', async (_req, res, _p, q) => {
    const names = q.getAll('names');
    if (!names.length) throw new HttpError(400, 'images/get: no image named (?names=)');
    const stream = images.save(names);
    res.writeHead(200, { 'Content-Type': 'application/x-tar' });
    await streamOut(res, stream);
  });
  router.add('GET', '/images/(.+)/get', async (_req, res, [name]) => {
    const stream = images.save([name!]);
    res.writeHead(200, { 'Content-Type': 'application/x-tar' });
    await streamOut(res, stream);
  });
  router.add('POST', '/images/load', async (req, res, _p, q) => {
    const quiet = bool(q.get('quiet'));
    const loaded = await images.load(bounded(req, MAX_ARCHIVE));
    res.writeHead(200, { 'Content-Type': 'application/json' });
    const lines = loaded.flatMap((l) => (l.names.length ? l.names.map((n) => `Loaded image: ${familiarReference(n)}`) : [`Loaded image ID: ${l.id}`]));
    res.end(lines.map((stream) => JSON.stringify({ stream: `${stream}\n` })).join('\r\n') + (quiet || !lines.length ? '' : '\r\n'));
  });
  router.add('POST', '/images/create', async (req, res, _p, q) => {
    const from = q.get('fromImage');
    const src = q.get('fromSrc');
    const tag = q.get('tag');
    if (src !== null) {
      // import: the body is the tarball (`-`); a URL would make the server fetch what a client names
      if (src !== '-') throw new HttpError(501, 'berth serve imports only from the request body (fromSrc=-), not from a URL');
      const repo = q.get('repo');
      const image = await images.import(bounded(req, MAX_ARCHIVE), {
        ...(repo ? { imageRef: tag ? `${repo}:${tag}` : repo } : {}),
        changes: q.getAll('changes').flatMap((c) => c.split('\n')).filter(Boolean),
        ...(q.get('message') ? { message: q.get('message')! } : {}),
        source: '-',
      });
      res.writeHead(200, { 'Content-Type': 'application/json' });
      return void res.end(JSON.stringify({ status: image.id }) + '\r\n');
    }
    if (!from) throw new HttpError(400, 'fromImage or fromSrc is required');
    const ref = tag ? (tag.startsWith('sha256:') ? `${from}@${tag}` : `${from}:${tag}`) : from;
    res.writeHead(200, { 'Content-Type': 'application/json' });
    const abort = new AbortController();
    req.socket.once('close', () => abort.abort());
    try {
      const outcome = await images.pull(ref, {
        signal: abort.signal,
        onProgress: (ev) => {
          const line =
            ev.type === 'resolving' ? { status: `Pulling from ${ev.ref}` }
            : ev.type === 'layer' ? { status: ev.status, id: ev.digest.slice(7, 19), progressDetail: { current: ev.current ?? 0, total: ev.total ?? 0 } }
            : ev.type === 'manifest' ? { status: `Digest: ${ev.digest}` }
            : { status: 'Pull complete', id: ev.digest.slice(7, 19) };
          if (!res.destroyed) res.write(JSON.stringify(line) + '\r\n');
        },
      });
      res.end(JSON.stringify({ status: outcome.isNew ? `Status: Downloaded newer image for ${familiarReference(ref)}` : `Status: Image is up to date for ${familiarReference(ref)}` }) + '\r\n');
    } catch (err) {
      res.end(JSON.stringify({ errorDetail: { message: (err as Error).message }, error: (err as Error).message }) + '\r\n');
    }
  });
  router.add('POST', '/build', async () => {
    throw new HttpError(501, 'berth serve does not build images yet');
  });
  router.add('GET', '/images/search', async () => {
    throw new HttpError(501, 'berth serve does not search registries');
  });
}

/** docker's reference filter: a shell glob over `name:tag`. */
function globMatch(pattern: string, text: string): boolean {
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '.')}$`);
  return re.test(text) || re.test(text.replace(/^docker\.io\/(library\/)?/, ''));
}
