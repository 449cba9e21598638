/**
 * The container endpoints of the Docker Engine API: lifecycle, list and inspect, logs, top,
 * stats, changes, export, archive (docker cp), update, resize, prune and commit. Attach and
 * exec, which take the connection over, are in attach.ts and exec.ts.
 */
import type { ServerResponse } from 'node:http';
import { BerthError } from '../../common/index.ts';
import { matchesLabels, parseLabelFilter, type ContainerPathStat, type Engine, type FullStats, type LabelFilter, type UpdateSpec } from '../../engine/index.ts';
import { containerFilters } from '../berth-container-ps.ts';
import { parseRestart } from '../run-flags.ts';
import { runSpecFromCreate } from './create-body.ts';
import { bool, field, filtersOf, frame, HttpError, noContent, readJson, type Router, sendError, sendJson } from './http.ts';
import { RAW_STREAM, MULTIPLEXED_STREAM } from './hijack.ts';

/** How long a stats sample waits for the next one when the client wants CPU figures at once. */
const PRECPU_MS = 500;

/** Go's os.FileMode bits for a st_mode, as the archive stat header carries them. */
export function goFileMode(mode: number): number {
  let m = mode & 0o777;
  const type = mode & 0o170000;
  if (type === 0o040000) m += 2 ** 31;
  else if (type === 0o120000) m += 2 ** 27;
  else if (type === 0o010000) m += 2 ** 25;
  else if (type === 0o140000) m += 2 ** 24;
  else if (type === 0o060000) m += 2 ** 26;
  else if (type === 0o020000) m += 2 ** 26 + 2 ** 21;
  if (mode & 0o4000) m += 2 ** 23;
  if (mode & 0o2000) m += 2 ** 22;
  if (mode & 0o1000) m += 2 ** 20;
  return m;
}

export function pathStatHeader(stat: ContainerPathStat): string {
  const doc = { name: stat.name, size: stat.size, mode: goFileMode(stat.mode), mtime: new Date(stat.mtimeMs).toISOString(), linkTarget: stat.linkTarget };
  return Buffer.from(JSON.stringify(doc)).toString('base64');
}

/** docker's stats JSON (types.StatsJSON) from two readings. */
export function statsJson(id: string, name: string, now: FullStats | undefined, pre: FullStats | undefined): Record<string, unknown> {
  const cpu = (s: FullStats | undefined) => ({
    cpu_usage: {
      total_usage: s?.cgroup.cpu?.usage.total ?? 0,
      ...(s?.cgroup.cpu?.usage.percpu.length ? { percpu_usage: s.cgroup.cpu.usage.percpu } : {}),
      usage_in_kernelmode: s?.cgroup.cpu?.usage.kernel ?? 0,
      usage_in_usermode: s?.cgroup.cpu?.usage.user ?? 0,
    },
    ...(s ? { system_cpu_usage: s.systemCpuNs, online_cpus: s.onlineCpus } : {}),
    throttling_data: { periods: s?.cgroup.cpu?.throttling.periods ?? 0, throttled_periods: s?.cgroup.cpu?.throttling.throttledPeriods ?? 0, throttled_time: s?.cgroup.cpu?.throttling.throttledTime ?? 0 },
  });
  const mem = now?.cgroup.memory;
  const limit = mem?.usage.limit && mem.usage.limit < (now?.hostMemory ?? Infinity) ? mem.usage.limit : (now?.hostMemory ?? 0);
  const io = (entries: { major: number; minor: number; op: string; value: number }[] | undefined) => entries?.map((e) => ({ major: e.major, minor: e.minor, op: e.op.toLowerCase(), value: e.value })) ?? null;
  return {
    read: now ? now.readAt.toISOString() : '0001-01-01T00:00:00Z',
    preread: pre ? pre.readAt.toISOString() : '0001-01-01T00:00:00Z',
    pids_stats: now?.cgroup.pids ? { current: now.cgroup.pids.current, ...(now.cgroup.pids.limit !== null ? { limit: now.cgroup.pids.limit } : {}) } : {},
    blkio_stats: {
      io_service_bytes_recursive: io(now?.cgroup.blkio?.ioServiceBytesRecursive),
      io_serviced_recursive: io(now?.cgroup.blkio?.ioServicedRecursive),
      io_queue_recursive: null,
      io_service_time_recursive: null,
      io_wait_time_recursive: null,
      io_merged_recursive: null,
      io_time_recursive: null,
      sectors_recursive: null,
    },
    num_procs: 0,
    storage_stats: {},
    cpu_stats: cpu(now),
    precpu_stats: cpu(pre),
    memory_stats: mem ? { usage: mem.usage.usage, ...(mem.usage.max ? { max_usage: mem.usage.max } : {}), stats: mem.raw, ...(mem.usage.failcnt ? { failcnt: mem.usage.failcnt } : {}), limit } : {},
    name: `/${name}`,
    id,
    ...(now && Object.keys(now.networks).length
      ? {
          networks: Object.fromEntries(
            Object.entries(now.networks).map(([k, n]) => [k, { rx_bytes: n.rxBytes, rx_packets: n.rxPackets, rx_errors: n.rxErrors, rx_dropped: n.rxDropped, tx_bytes: n.txBytes, tx_packets: n.txPackets, tx_errors: n.txErrors, tx_dropped: n.txDropped }]),
          ),
        }
      : {}),
  };
}

/** The body of POST /containers/{id}/update as berth's update. */
function updateOf(body: Record<string, unknown>): UpdateSpec {
  const w = 'container.UpdateConfig';
  const out: UpdateSpec = {};
  const n = (k: string) => field<number>(body, k, 'number', w);
  if (n('Memory')) out.memory = n('Memory')!;
  if (n('MemorySwap')) out.memorySwap = n('MemorySwap')!;
  if (n('MemoryReservation')) out.memoryReservation = n('MemoryReservation')!;
  if (n('NanoCpus')) out.cpus = n('NanoCpus')! / 1e9;
  if (n('CpuShares')) out.cpuShares = n('CpuShares')!;
  if (n('CpuQuota')) out.cpuQuota = n('CpuQuota')!;
  if (n('CpuPeriod')) out.cpuPeriod = n('CpuPeriod')!;
  if (n('PidsLimit')) out.pidsLimit = n('PidsLimit')!;
  if (n('BlkioWeight')) out.blkioWeight = n('BlkioWeight')!;
  const cpus = field<string>(body, 'CpusetCpus', 'string', w);
  if (cpus) out.cpusetCpus = cpus;
  const mems = field<string>(body, 'CpusetMems', 'string', w);
  if (mems) out.cpusetMems = mems;
  const restart = field<Record<string, unknown>>(body, 'RestartPolicy', 'object', w);
  const policy = restart && field<string>(restart, 'Name', 'string', 'container.RestartPolicy');
  if (policy) {
    const max = field<number>(restart, 'MaximumRetryCount', 'number', 'container.RestartPolicy');
    out.restart = parseRestart(policy === 'on-failure' && max ? `on-failure:${max}` : policy);
  }
  return out;
}

/** `label` and `label!` filters. */
export function labelFiltersOf(filters: Map<string, string[]>): LabelFilter[] {
  return [...(filters.get('label') ?? []).map((l) => parseLabelFilter(l, false)), ...(filters.get('label!') ?? []).map((l) => parseLabelFilter(l, true))];
}

/** `until` of a prune filter: a Unix time, an RFC 3339 time or a duration ago ("24h"). */
export function untilMs(text: string): number {
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text) * 1000;
  const d = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text);
  if (d) return Date.now() - Number(d[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[d[2] as 'ms']!;
  const t = Date.parse(text);
  if (Number.isNaN(t)) throw new HttpError(400, `invalid filter 'until=${text}'`);
  return t;
}

export function registerContainers(router: Router, engine: Engine, onCreated: (id: string, consoleSize: { rows: number; cols: number } | undefined) => void): void {
  const containers = engine.containers;

  router.add('GET', '/containers/json', async (_req, res, _p, q) => {
    const filters = filtersOf(q);
    const all = bool(q.get('all')) || filters.has('status') || filters.has('exited');
    const tests = containerFilters(filters, () => engine);
    let list = containers.list({ all }).filter((s) => tests.every((t) => t(s)));
    const limit = Number(q.get('limit') ?? 0);
    if (limit > 0) list = list.slice(0, limit);
    sendJson(res, 200, list.map(({ record: _record, ...row }) => row));
  });
  router.add('POST', '/containers/create', async (req, res, _p, q) => {
    const body = await readJson(req);
    const { spec, extraEndpoints, consoleSize } = runSpecFromCreate(body, q.get('name') ?? undefined);
    // the docker CLI pulls and retries on 404 "No such image"
    if (!hasImage(engine, spec.image)) return sendError(res, 404, `No such image: ${spec.image}`);
    const { record, warnings } = await containers.create(spec, { pull: 'never' });
    try {
      for (const ep of extraEndpoints) await engine.networks.connect(record.id, ep.network, { ...(ep.aliases ? { aliases: ep.aliases } : {}), ...(ep.ip ? { ip: ep.ip } : {}) });
    } catch (err) {
      // all or nothing, as a failed create is
      await containers.remove(record.id, { force: true, volumes: true }).catch(() => {});
      throw err;
    }
    onCreated(record.id, consoleSize);
    sendJson(res, 201, { Id: record.id, Warnings: warnings });
  });
  router.add('POST', '/containers/([^/]+)/stop', async (_req, res, [id], q) => {
    const rec = containers.get(id!);
    if (rec.status !== 'running' && rec.status !== 'paused' && rec.status !== 'restarting') return void res.writeHead(304).end();
    await containers.stop(id!, { ...(q.get('t') ? { timeoutSec: Number(q.get('t')) } : {}), ...(q.get('signal') ? { signal: q.get('signal')! } : {}) });
    noContent(res);
  });
  router.add('POST', '/containers/([^/]+)/restart', async (_req, res, [id], q) => {
    await containers.restart(id!, { ...(q.get('t') ? { timeoutSec: Number(q.get('t')) } : {}), ...(q.get('signal') ? { signal: q.get('signal')! } : {}) });
    noContent(res);
  });
  router.add('POST', '/containers/([^/]+)/kill', async (_req, res, [id], q) => {
    await containers.kill(id!, q.get('signal') ?? 'KILL');
    noContent(res);
  });
  router.add('POST', '/containers/([^/]+)/wait', async (req, res, [id], q) => {
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
  router.add('DELETE', '/containers/([^/]+)', async (_req, res, [id], q) => {
    await containers.remove(id!, { force: bool(q.get('force')), volumes: bool(q.get('v')) });
    noContent(res);
  });
  router.add('GET', '/containers/([^/]+)/json', async (_req, res, [id]) => sendJson(res, 200, await containers.inspect(id!)));
  router.add('GET', '/containers/([^/]+)/logs', async (req, res, [id], q) => {
    const rec = containers.get(id!);
    const wantOut = bool(q.get('stdout'));
    const wantErr = bool(q.get('stderr'));
    if (!wantOut && !wantErr) throw new HttpError(400, 'Bad parameters: you must choose at least one stream');
    const tty = rec.spec.tty === true;
    res.writeHead(200, { 'Content-Type': tty ? RAW_STREAM : MULTIPLEXED_STREAM });
    const abort = new AbortController();
    req.socket.once('close', () => abort.abort());
    const tail = q.get('tail');
    const timestamps = bool(q.get('timestamps'));
    const since = Number(q.get('since') ?? 0);
    const until = Number(q.get('until') ?? 0);
    for await (const e of containers.logs(id!, {
      follow: bool(q.get('follow')),
      stdout: wantOut,
      stderr: wantErr,
      ...(tail && tail !== 'all' ? { tail: Number(tail) } : {}),
      ...(since > 0 ? { since: since * 1000 } : {}),
      ...(until > 0 ? { until: until * 1000 } : {}),
      signal: abort.signal,
    })) {
      const text = Buffer.from(`${timestamps ? `${e.time} ` : ''}${e.log}`);
      res.write(tty ? text : frame(e.stream === 'stderr' ? 2 : 1, text));
    }
    res.end();
  });
  router.add('POST', '/containers/([^/]+)/pause', async (_req, res, [id]) => {
    await containers.pause(id!);
    noContent(res);
  });
  router.add('POST', '/containers/([^/]+)/unpause', async (_req, res, [id]) => {
    await containers.unpause(id!);
    noContent(res);
  });
  router.add('POST', '/containers/([^/]+)/rename', async (_req, res, [id], q) => {
    const name = q.get('name');
    if (!name) throw new HttpError(400, 'rename: the new name is missing (?name=)');
    await containers.rename(id!, name);
    noContent(res);
  });
  router.add('GET', '/containers/([^/]+)/top', async (_req, res, [id], q) => {
    const args = q.get('ps_args');
    sendJson(res, 200, await containers.top(id!, args ? args.split(/\s+/).filter(Boolean) : undefined));
  });
  router.add('POST', '/containers/([^/]+)/resize', async (_req, res, [id], q) => {
    const rows = Number(q.get('h'));
    const cols = Number(q.get('w'));
    if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 0 || cols < 0) throw new HttpError(400, 'resize: h and w must be numbers');
    await containers.resize(id!, rows, cols);
    res.writeHead(200).end();
  });
  router.add('GET', '/containers/([^/]+)/stats', async (req, res, [id], q) => {
    const rec = containers.get(id!);
    const stream = q.get('stream') === null ? true : bool(q.get('stream'));
    const oneShot = bool(q.get('one-shot'));
    res.writeHead(200, { 'Content-Type': 'application/json' });
    let closed = false;
    req.socket.once('close', () => (closed = true));
    let pre = oneShot ? undefined : await containers.fullStats(rec.id);
    if (!stream) {
      if (pre && !oneShot) await new Promise((r) => setTimeout(r, PRECPU_MS));
      const now = pre || oneShot ? await containers.fullStats(rec.id) : undefined;
      return void res.end(JSON.stringify(statsJson(rec.id, rec.name, now, oneShot ? undefined : pre)) + '\n');
    }
    // a sample a second, as dockerd sends them, until the client goes or the container ends
    let first = true;
    while (!closed) {
      const now = first ? pre : await containers.fullStats(rec.id);
      res.write(JSON.stringify(statsJson(rec.id, rec.name, now, first ? undefined : pre)) + '\n');
      if (!now) break;
      pre = now;
      first = false;
      await new Promise((r) => setTimeout(r, 1000));
    }
    res.end();
  });
  router.add('GET', '/containers/([^/]+)/changes', async (_req, res, [id]) => {
    const kinds = { C: 0, A: 1, D: 2 } as const;
    const changes = await containers.diff(id!);
    sendJson(res, 200, changes.length ? changes.map((c) => ({ Path: c.path, Kind: kinds[c.kind] })) : null);
  });
  router.add('GET', '/containers/([^/]+)/export', async (_req, res, [id]) => {
    containers.get(id!);
    res.writeHead(200, { 'Content-Type': 'application/x-tar' });
    await streamOut(res, containers.export(id!));
  });
  router.add('POST', '/containers/([^/]+)/update', async (req, res, [id]) => {
    const { warnings } = await containers.update(id!, updateOf(await readJson(req)));
    sendJson(res, 200, { Warnings: warnings });
  });
  router.add('POST', '/containers/prune', async (_req, res, _p, q) => {
    const filters = filtersOf(q);
    const until = filters.get('until')?.[0];
    const labels = labelFiltersOf(filters);
    const result = await containers.prune({
      ...(until ? { until: untilMs(until) } : {}),
      ...(labels.length ? { labels: (rec) => matchesLabels(rec.spec.labels, labels) } : {}),
    });
    sendJson(res, 200, { ContainersDeleted: result.ContainersDeleted.length ? result.ContainersDeleted : null, SpaceReclaimed: result.SpaceReclaimed });
  });
  router.add('POST', '/commit', async (req, res, _p, q) => {
    const container = q.get('container');
    if (!container) throw new HttpError(400, 'commit: the container is missing (?container=)');
    const body = await readJson(req);
    const repo = q.get('repo');
    const tag = q.get('tag');
    const changes = q.getAll('changes').flatMap((c) => c.split('\n')).filter(Boolean);
    const cmd = field<string[]>(body, 'Cmd', 'string[]', 'container.Config');
    if (cmd) changes.push(`CMD ${JSON.stringify(cmd)}`);
    const result = await containers.commit(container, {
      ...(repo ? { imageRef: tag ? `${repo}:${tag}` : repo } : {}),
      ...(q.get('author') ? { author: q.get('author')! } : {}),
      ...(q.get('comment') ? { message: q.get('comment')! } : {}),
      ...(changes.length ? { changes } : {}),
      pause: q.get('pause') === null ? true : bool(q.get('pause')),
    });
    sendJson(res, 201, { Id: result.id });
  });

  // archive: docker cp
  const statOr404 = async (id: string, path: string | null) => {
    if (!path) throw new HttpError(400, 'path is required (?path=)');
    return containers.statPath(id, path);
  };
  router.add('HEAD', '/containers/([^/]+)/archive', async (_req, res, [id], q) => {
    let stat: ContainerPathStat;
    try {
      stat = await statOr404(id!, q.get('path'));
    } catch (err) {
      // a HEAD answer has no body: the status says it
      return void res.writeHead(err instanceof BerthError && err.code === 'NOT_FOUND' ? 404 : err instanceof HttpError ? err.status : 500).end();
    }
    res.writeHead(200, { 'X-Docker-Container-Path-Stat': pathStatHeader(stat), 'Content-Type': 'application/json' }).end();
  });
  router.add('GET', '/containers/([^/]+)/archive', async (_req, res, [id], q) => {
    const path = q.get('path')!;
    const stat = await statOr404(id!, path);
    res.writeHead(200, { 'Content-Type': 'application/x-tar', 'X-Docker-Container-Path-Stat': pathStatHeader(stat) });
    try {
      await containers.cp({ container: id!, path }, { tarOut: res });
    } catch {
      // the headers went: all a client can be told now is that the stream broke
      return void res.destroy();
    }
    res.end();
  });
  router.add('PUT', '/containers/([^/]+)/archive', async (req, res, [id], q) => {
    const path = q.get('path');
    if (!path) throw new HttpError(400, 'path is required (?path=)');
    await containers.cp({ tarIn: req }, { container: id!, path }, { archive: bool(q.get('copyUIDGID')) });
    res.writeHead(200).end();
  });
}

export async function streamOut(res: ServerResponse, chunks: AsyncIterable<Uint8Array>): Promise<void> {
  try {
    for await (const chunk of chunks) {
      if (!res.write(chunk)) await new Promise((r) => res.once('drain', r));
      if (res.destroyed) return;
    }
  } catch {
    return void res.destroy();
  }
  res.end();
}


export function hasImage(engine: Engine, ref: string): boolean {
  try {
    engine.images.resolve(ref);
    return true;
  } catch {
    return false;
  }
}

