/** The network and volume endpoints: create, list with filters, inspect, remove, connect, disconnect, prune. */
import { matchesLabels, type Engine } from '../../engine/index.ts';
import { labelFiltersOf, untilMs } from './containers.ts';
import { bool, field, filtersOf, HttpError, noContent, readJson, type Router, sendJson } from './http.ts';

export function registerNetworks(router: Router, engine: Engine): void {
  const networks = engine.networks;
  router.add('GET', '/networks', async (_req, res, _p, q) => {
    const filters = filtersOf(q);
    const labels = labelFiltersOf(filters);
    const names = filters.get('name');
    const ids = filters.get('id');
    const drivers = filters.get('driver');
    const type = filters.get('type');
    const list = networks.list().filter(
      (n) =>
        matchesLabels(n.labels, labels) &&
        (!names?.length || names.some((v) => n.name.includes(v))) &&
        (!ids?.length || ids.some((v) => n.id.startsWith(v))) &&
        (!drivers?.length || drivers.includes(n.driver)) &&
        (!type?.length || type.includes(['bridge', 'host', 'none'].includes(n.name) ? 'builtin' : 'custom')),
    );
    sendJson(res, 200, list.map((n) => networks.inspect(n.id)));
  });
  router.add('GET', '/networks/([^/]+)', async (_req, res, [id]) => sendJson(res, 200, networks.inspect(id!)));
  router.add('POST', '/networks/create', async (req, res) => {
    const body = await readJson(req);
    const w = 'network.CreateRequest';
    const name = field<string>(body, 'Name', 'string', w);
    if (!name) throw new HttpError(400, 'network create: Name is required');
    const ipam = field<Record<string, unknown>>(body, 'IPAM', 'object', w);
    const configs = (ipam && field<Record<string, unknown>[]>(ipam, 'Config', 'array', 'network.IPAM')) ?? [];
    const pool = configs[0] ?? {};
    const subnet = field<string>(pool, 'Subnet', 'string', 'network.IPAMConfig');
    const gateway = field<string>(pool, 'Gateway', 'string', 'network.IPAMConfig');
    const ipRange = field<string>(pool, 'IPRange', 'string', 'network.IPAMConfig');
    const driver = field<string>(body, 'Driver', 'string', w);
    const labels = field<Record<string, string>>(body, 'Labels', 'object', w);
    const options = field<Record<string, string>>(body, 'Options', 'object', w);
    // compose asks with CheckDuplicate; berth always refuses a second network of one name
    const net = networks.create({
      name,
      ...(driver ? { driver } : {}),
      ...(subnet ? { subnet } : {}),
      ...(gateway ? { gateway } : {}),
      ...(ipRange ? { ipRange } : {}),
      ...(field<boolean>(body, 'Internal', 'boolean', w) ? { internal: true } : {}),
      ...(labels ? { labels } : {}),
      ...(options ? { options } : {}),
    });
    sendJson(res, 201, { Id: net.id, Warning: '' });
  });
  router.add('DELETE', '/networks/([^/]+)', async (_req, res, [id]) => {
    networks.remove(id!);
    noContent(res);
  });
  router.add('POST', '/networks/([^/]+)/connect', async (req, res, [id]) => {
    const body = await readJson(req);
    const container = field<string>(body, 'Container', 'string', 'network.ConnectOptions');
    if (!container) throw new HttpError(400, 'network connect: Container is required');
    const endpoint = field<Record<string, unknown>>(body, 'EndpointConfig', 'object', 'network.ConnectOptions');
    const aliases = endpoint && field<string[]>(endpoint, 'Aliases', 'string[]', 'network.EndpointSettings');
    const ipam = endpoint && field<Record<string, unknown>>(endpoint, 'IPAMConfig', 'object', 'network.EndpointSettings');
    const ip = ipam && field<string>(ipam, 'IPv4Address', 'string', 'network.EndpointIPAMConfig');
    await networks.connect(container, id!, { ...(aliases ? { aliases } : {}), ...(ip ? { ip } : {}) });
    res.writeHead(200).end();
  });
  router.add('POST', '/networks/([^/]+)/disconnect', async (req, res, [id]) => {
    const body = await readJson(req);
    const container = field<string>(body, 'Container', 'string', 'network.DisconnectOptions');
    if (!container) throw new HttpError(400, 'network disconnect: Container is required');
    await networks.disconnect(container, id!);
    res.writeHead(200).end();
  });
  router.add('POST', '/networks/prune', async (_req, res, _p, q) => {
    const filters = filtersOf(q);
    const labels = labelFiltersOf(filters);
    const until = filters.get('until')?.[0];
    const before = until ? untilMs(until) : undefined;
    const removed = networks.prune((n) => !matchesLabels(n.labels, labels) || (before !== undefined && Date.parse(n.createdAt) >= before));
    sendJson(res, 200, { NetworksDeleted: removed.length ? removed.map((n) => n.name) : null });
  });
}

export function registerVolumes(router: Router, engine: Engine): void {
  const volumes = engine.volumes;
  router.add('GET', '/volumes', async (_req, res, _p, q) => {
    const filters = filtersOf(q);
    const labels = labelFiltersOf(filters);
    const names = filters.get('name');
    const list = volumes.list().filter((v) => matchesLabels(v.labels, labels) && (!names?.length || names.some((n) => v.name.includes(n))));
    sendJson(res, 200, { Volumes: list.map((v) => volumes.inspect(v.name)), Warnings: [] });
  });
  router.add('GET', '/volumes/([^/]+)', async (_req, res, [name]) => sendJson(res, 200, volumes.inspect(name!)));
  router.add('POST', '/volumes/create', async (req, res) => {
    const body = await readJson(req);
    const w = 'volume.CreateOptions';
    const name = field<string>(body, 'Name', 'string', w);
    const driver = field<string>(body, 'Driver', 'string', w);
    const options = field<Record<string, string>>(body, 'DriverOpts', 'object', w);
    const labels = field<Record<string, string>>(body, 'Labels', 'object', w);
    // docker answers a create of an existing volume with that volume
    const existing = name ? volumes.list().find((v) => v.name === name) : undefined;
    const vol = existing ?? volumes.create({ ...(name ? { name } : {}), ...(driver ? { driver } : {}), ...(options ? { options } : {}), ...(labels ? { labels } : {}) });
    sendJson(res, 201, volumes.inspect(vol.name));
  });
  router.add('DELETE', '/volumes/([^/]+)', async (_req, res, [name], q) => {
    volumes.remove(name!, { force: bool(q.get('force')) });
    noContent(res);
  });
  router.add('POST', '/volumes/prune', async (_req, res, _p, q) => {
    const filters = filtersOf(q);
    const labels = labelFiltersOf(filters);
    // API 1.42 on: only anonymous volumes unless all=true
    const all = bool(filters.get('all')?.[0] ?? null);
    const result = await volumes.prune({ all, ...(labels.length ? { keep: (v) => !matchesLabels(v.labels, labels) } : {}) });
    sendJson(res, 200, { VolumesDeleted: result.removed.length ? result.removed : null, SpaceReclaimed: result.reclaimed });
  });
}
