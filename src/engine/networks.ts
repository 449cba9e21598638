/**
 * Networks with no daemon: records in the database, and on the host once a container used
 * them. A network's bridge and its rules come to be when its first container starts and stay
 * while the network exists (as docker0 does: a restart does not rebuild them); `network rm` and
 * `network prune` take them down. A container's addresses, ports and DNS entries go when it ends.
 *
 * A container's start (`attachNetworks`): in one database transaction (the lock every berth
 * process of this root takes), its addresses are leased, its ports published, a missing bridge
 * made and the nftables table rewritten; then a namespace is made holding its veth ends, which
 * the runtime joins by path. Its end (`detachNetworks`, idempotent): the leases and ports are
 * released, bridges left with no container removed, the table rewritten.
 */
import { createHash } from 'node:crypto';
import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';
import { BerthError, randomBytesSync } from '../common/index.ts';
import {
  applyNft, bridgeReady, contains, createBridge, deleteLinks, formatIPv4, formatSubnet, hostRoutes, isIPv4, isMac, linkExists, lowestFree, macFor, makeNetns, nth, overlaps,
  parseIPv4, parseSubnet, size, tableScript, updateDns, within, addEndpoints, removeEndpoint, stopDns,
  type EndpointSpec, type HeldNetns, type PortBinding, type Protocol, type Subnet,
} from '../network/index.ts';
import type { EngineContext } from './container-context.ts';
import type { ContainerRecord } from './container-store.ts';
import type { EndpointRecord, NetworkRecord, PortRecord } from './network-store.ts';

/** The default bridge of the default root (docker's is 172.17/16, podman's 10.88/16). */
export const DEFAULT_BRIDGE_SUBNET = '10.99.0.0/16';
/** Where subnets of new networks come from: /24s of 10.100.0.0 to 10.127.255.0. */
const POOL_FIRST = parseIPv4('10.100.0.0')!;
const POOL_COUNT = 28 * 256;
const BUILTIN = ['bridge', 'host', 'none'];

export type NetworkMode = { kind: 'none' } | { kind: 'host' } | { kind: 'container'; ref: string } | { kind: 'network'; ref: string };

/** What `--network` names: none, host, container:X, or a network (bridge and default: the default one). */
export function networkMode(value: string | undefined): NetworkMode {
  if (value === undefined || value === '' || value === 'default' || value === 'bridge') return { kind: 'network', ref: 'bridge' };
  if (value === 'none') return { kind: 'none' };
  if (value === 'host') return { kind: 'host' };
  if (value.startsWith('container:')) return { kind: 'container', ref: value.slice('container:'.length) };
  return { kind: 'network', ref: value };
}

function newId(): string {
  return randomBytesSync(32).toString('hex');
}

/** docker's rule for network names. */
export function checkNetworkName(name: string): void {
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(name) || name.length > 128) {
    throw new BerthError('INVALID_ARGUMENT', `invalid network name ${JSON.stringify(name)}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  }
}

/** Aliases are DNS names (they go into the DNS server's file, one line per container). */
function checkAliases(aliases: readonly string[] | undefined): void {
  for (const a of aliases ?? []) {
    if (!/^[a-zA-Z0-9]([a-zA-Z0-9_.-]{0,252})$/.test(a)) throw new BerthError('INVALID_ARGUMENT', `invalid network alias ${JSON.stringify(a)}: a name of letters, digits, '.', '_' and '-'`);
  }
}

function bridgeName(ctx: EngineContext, taken: ReadonlySet<string>): string {
  for (let k = 0; ; k++) {
    const name = `${ctx.paths.bridgePrefix}${k}`;
    if (!taken.has(name)) {
      if (name.length > 15) throw new BerthError('UNAVAILABLE', 'no bridge name is left for a new network');
      return name;
    }
  }
}

/** A free /24 of the pool: none of this root's networks and no route of the host overlaps it. */
function freeSubnet(ctx: EngineContext, networks: readonly NetworkRecord[]): Subnet {
  const taken: Subnet[] = [parseSubnet(DEFAULT_BRIDGE_SUBNET), ...networks.filter((n) => n.subnet).map((n) => parseSubnet(n.subnet))];
  for (const r of hostRoutes()) taken.push({ base: r.dest, prefix: r.prefix });
  // the default root counts up from the pool's start (as podman does); another root (a test's)
  // starts at a random place, so that roots planning at the same moment rarely pick one subnet
  const start = ctx.paths.nftTable === 'berth' ? 0 : Math.floor(Math.random() * POOL_COUNT);
  for (let i = 0; i < POOL_COUNT; i++) {
    const candidate = { base: (POOL_FIRST + ((start + i) % POOL_COUNT) * 256) >>> 0, prefix: 24 };
    if (!taken.some((t) => overlaps(t, candidate))) return candidate;
  }
  throw new BerthError('UNAVAILABLE', 'could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network');
}

/** The bridge, host and none networks, made on first use. */
export function ensureBuiltinNetworks(ctx: EngineContext): void {
  if (BUILTIN.every((n) => ctx.networks.byName(n))) return;
  ctx.db.transaction(() => {
    const all = ctx.networks.list();
    const now = new Date().toISOString();
    const base = { bridge: '', subnet: '', gateway: '', ipRange: '', internal: false, mtu: 1500, labels: {}, options: {}, createdAt: now };
    if (!ctx.networks.byName('bridge')) {
      const configured = process.env.BERTH_BRIDGE_SUBNET;
      const subnet = configured ? parseSubnet(configured, 'BERTH_BRIDGE_SUBNET') : ctx.paths.nftTable === 'berth' ? parseSubnet(DEFAULT_BRIDGE_SUBNET) : freeSubnet(ctx, all);
      ctx.networks.insert({
        ...base, id: newId(), name: 'bridge', driver: 'bridge', bridge: bridgeName(ctx, new Set(all.map((n) => n.bridge))), subnet: formatSubnet(subnet), gateway: formatIPv4(nth(subnet, 1)),
        options: { 'com.docker.network.bridge.default_bridge': 'true' },
      });
    }
    if (!ctx.networks.byName('host')) ctx.networks.insert({ ...base, id: newId(), name: 'host', driver: 'host' });
    if (!ctx.networks.byName('none')) ctx.networks.insert({ ...base, id: newId(), name: 'none', driver: 'null' });
  });
}

export interface NetworkCreateOptions {
  name: string;
  driver?: string;
  subnet?: string;
  gateway?: string;
  ipRange?: string;
  internal?: boolean;
  labels?: Record<string, string>;
  options?: Record<string, string>;
}

export function createNetwork(ctx: EngineContext, opts: NetworkCreateOptions): NetworkRecord {
  checkNetworkName(opts.name);
  ensureBuiltinNetworks(ctx);
  const driver = opts.driver ?? 'bridge';
  if (driver !== 'bridge') throw new BerthError('NOT_IMPLEMENTED', `network driver ${JSON.stringify(driver)} is not supported: berth makes bridge networks`);
  let mtu = 1500;
  const options = { ...(opts.options ?? {}) };
  for (const [key, value] of Object.entries(options)) {
    if (key === 'com.docker.network.driver.mtu' || key === 'mtu') {
      mtu = Number(value);
      if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) throw new BerthError('INVALID_ARGUMENT', `invalid MTU ${JSON.stringify(value)}: it must be a number from 68 to 65535`);
    } else if (key !== 'com.docker.network.bridge.name') {
      throw new BerthError('INVALID_ARGUMENT', `unknown network option ${JSON.stringify(key)} (berth knows com.docker.network.driver.mtu)`);
    }
  }
  if (options['com.docker.network.bridge.name']) throw new BerthError('NOT_IMPLEMENTED', 'berth names its bridges itself: com.docker.network.bridge.name is not supported');
  if ((opts.gateway || opts.ipRange) && !opts.subnet) throw new BerthError('INVALID_ARGUMENT', '--gateway and --ip-range need --subnet');
  return ctx.db.transaction(() => {
    if (ctx.networks.byName(opts.name)) throw new BerthError('CONFLICT', `network with name ${opts.name} already exists`);
    const all = ctx.networks.list();
    let subnet: Subnet;
    if (opts.subnet) {
      subnet = parseSubnet(opts.subnet);
      for (const other of all) {
        if (other.subnet && overlaps(parseSubnet(other.subnet), subnet)) {
          throw new BerthError('CONFLICT', `invalid pool request: Pool overlaps with other one on this address space (network ${other.name}, ${other.subnet})`);
        }
      }
    } else {
      subnet = freeSubnet(ctx, all);
    }
    let gateway = nth(subnet, 1);
    if (opts.gateway) {
      const g = parseIPv4(opts.gateway);
      if (g === undefined) throw new BerthError('INVALID_ARGUMENT', `invalid gateway ${JSON.stringify(opts.gateway)}: not an IPv4 address`);
      if (!contains(subnet, g) || g === subnet.base || g === ((subnet.base + size(subnet) - 1) >>> 0)) {
        throw new BerthError('INVALID_ARGUMENT', `invalid gateway ${opts.gateway}: it must be a host address of ${formatSubnet(subnet)}`);
      }
      gateway = g;
    }
    if (opts.ipRange) {
      const range = parseSubnet(opts.ipRange, 'ip-range');
      if (!within(range, subnet)) throw new BerthError('INVALID_ARGUMENT', `invalid ip-range ${opts.ipRange}: it is not inside the subnet ${formatSubnet(subnet)}`);
    }
    const rec: NetworkRecord = {
      id: newId(),
      name: opts.name,
      driver,
      bridge: bridgeName(ctx, new Set(all.map((n) => n.bridge))),
      subnet: formatSubnet(subnet),
      gateway: formatIPv4(gateway),
      ipRange: opts.ipRange ?? '',
      internal: opts.internal === true,
      mtu,
      labels: opts.labels ?? {},
      options,
      createdAt: new Date().toISOString(),
    };
    ctx.networks.insert(rec);
    ctx.containers.event('network', 'create', rec.id, { name: rec.name, type: driver });
    return rec;
  });
}

export function removeNetwork(ctx: EngineContext, ref: string): NetworkRecord {
  return ctx.db.transaction(() => {
    const n = ctx.networks.resolve(ref);
    if (BUILTIN.includes(n.name)) throw new BerthError('FAILED_PRECONDITION', `${n.name} is a pre-defined network and cannot be removed`);
    const users = ctx.networks.endpointsOn(n.id);
    if (users.length) {
      const names = users.map((e) => ctx.containers.get(e.containerId)?.name ?? e.containerId.slice(0, 12));
      throw new BerthError('CONFLICT', `error while removing network: network ${n.name} id ${n.id} has active endpoints (containers: ${names.join(', ')})`);
    }
    removeIdleBridges(ctx, (x) => x.id === n.id);
    ctx.networks.remove(n.id);
    ctx.containers.event('network', 'destroy', n.id, { name: n.name, type: n.driver });
    return n;
  });
}

/** Removes every user network no container is connected to; returns them. */
export function pruneNetworks(ctx: EngineContext, keep: (n: NetworkRecord) => boolean = () => false): NetworkRecord[] {
  const removed: NetworkRecord[] = [];
  // the built-in bridge network stays, but its bridge goes when no container uses it
  removeIdleBridges(ctx, (n) => BUILTIN.includes(n.name) && !keep(n));
  for (const n of ctx.networks.list()) {
    if (BUILTIN.includes(n.name) || keep(n)) continue;
    try {
      removed.push(removeNetwork(ctx, n.id));
    } catch (err) {
      if (!(err instanceof BerthError && err.code === 'CONFLICT')) throw err;
    }
  }
  return removed;
}

/** The network a run names, checked (it must exist), with what --ip, --mac-address, --network-alias may ask of it. */
export function checkRunNetwork(ctx: EngineContext, value: string | undefined, asked: { ip?: string; mac?: string; aliases?: string[] }): NetworkRecord | undefined {
  const mode = networkMode(value);
  const userNetwork = mode.kind === 'network' && mode.ref !== 'bridge';
  if (asked.ip !== undefined && !userNetwork) throw new BerthError('INVALID_ARGUMENT', 'user specified IP address is supported on user defined networks only');
  if (asked.aliases?.length && !userNetwork) throw new BerthError('INVALID_ARGUMENT', 'network-scoped alias is supported only for containers in user defined networks');
  checkAliases(asked.aliases);
  if (asked.mac !== undefined && !isMac(asked.mac)) throw new BerthError('INVALID_ARGUMENT', `${asked.mac} is not a valid mac address`);
  if (mode.kind !== 'network') return undefined;
  ensureBuiltinNetworks(ctx);
  const n = ctx.networks.find(mode.ref);
  if (!n) throw new BerthError('NOT_FOUND', `network ${mode.ref} not found`);
  if (n.driver !== 'bridge') return undefined;
  if (asked.ip !== undefined) checkRequestedIp(n, asked.ip);
  return n;
}

function checkRequestedIp(n: NetworkRecord, ip: string): void {
  const a = parseIPv4(ip);
  if (a === undefined) throw new BerthError('INVALID_ARGUMENT', `invalid IPv4 address: ${ip}`);
  const subnet = parseSubnet(n.subnet);
  if (!contains(subnet, a) || a === subnet.base || a === ((subnet.base + size(subnet) - 1) >>> 0) || ip === n.gateway) {
    throw new BerthError('INVALID_ARGUMENT', `invalid address ${ip}: it is not a free host address of network ${n.name} (${n.subnet}, gateway ${n.gateway})`);
  }
}

function hostIfName(containerId: string, networkId: string): string {
  return `veth${createHash('sha256').update(`${containerId}/${networkId}`).digest('hex').slice(0, 11)}`;
}

/** The nftables table as the records say it should be (in a transaction: the records are the lock). */
function syncTable(ctx: EngineContext): void {
  const active = ctx.networks.list().filter((n) => n.driver === 'bridge' && linkExists(n.bridge));
  applyNft(tableScript(ctx.paths.nftTable, active.map((n) => ({ bridge: n.bridge, subnet: n.subnet, internal: n.internal })), ctx.networks.ports()));
}

/** A free host port of the kernel's choice on an address (for -p CTR). */
async function kernelPort(hostIp: string, protocol: Protocol): Promise<number> {
  return await new Promise<number>((resolve, reject) => {
    if (protocol === 'udp') {
      const s = createSocket('udp4');
      s.on('error', reject);
      s.bind(0, hostIp || '0.0.0.0', () => {
        const port = s.address().port;
        s.close(() => resolve(port));
      });
    } else {
      const s = createServer();
      s.on('error', reject);
      s.listen(0, hostIp || '0.0.0.0', () => {
        const port = (s.address() as { port: number }).port;
        s.close(() => resolve(port));
      });
    }
  });
}

/** Whether a program of the host listens on the port: a published port would steal its traffic. */
async function hostPortFree(hostIp: string, protocol: Protocol, port: number): Promise<boolean> {
  return await new Promise<boolean>((resolve) => {
    if (protocol === 'udp') {
      const s = createSocket({ type: 'udp4', reuseAddr: false });
      s.on('error', () => resolve(false));
      s.bind(port, hostIp || '0.0.0.0', () => s.close(() => resolve(true)));
    } else {
      const s = createServer();
      s.on('error', () => resolve(false));
      s.listen({ port, host: hostIp || '0.0.0.0', exclusive: true }, () => s.close(() => resolve(true)));
    }
  });
}

function bindText(p: { hostIp: string; hostPort: number }): string {
  return `${p.hostIp || '0.0.0.0'}:${p.hostPort}`;
}

/** The ports a container publishes, host ports chosen: -p as asked, -P for every exposed port. */
async function choosePorts(rec: ContainerRecord, exposed: { containerPort: number; protocol: Protocol }[]): Promise<PortBinding[]> {
  const asked: PortBinding[] = [...(rec.spec.publish ?? [])];
  if (rec.spec.publishAll) {
    for (const e of exposed) {
      if (!asked.some((b) => b.containerPort === e.containerPort && b.protocol === e.protocol)) asked.push({ hostIp: '', hostPort: 0, containerPort: e.containerPort, protocol: e.protocol });
    }
  }
  const out: PortBinding[] = [];
  for (const b of asked) {
    if (b.hostPort === 0) {
      out.push({ ...b, hostPort: await kernelPort(b.hostIp, b.protocol) });
    } else if (b.hostPortEnd !== undefined) {
      let chosen = 0;
      for (let p = b.hostPort; p <= b.hostPortEnd && !chosen; p++) if (await hostPortFree(b.hostIp, b.protocol, p)) chosen = p;
      if (!chosen) throw new BerthError('CONFLICT', `Bind for ${b.hostIp || '0.0.0.0'}:${b.hostPort}-${b.hostPortEnd} failed: no port of the range is free`);
      out.push({ hostIp: b.hostIp, hostPort: chosen, containerPort: b.containerPort, protocol: b.protocol });
    } else {
      if (!(await hostPortFree(b.hostIp, b.protocol, b.hostPort))) {
        throw new BerthError('CONFLICT', `Bind for ${bindText(b)} failed: port is already in use by a program of the host (${b.protocol})`);
      }
      out.push(b);
    }
  }
  return out;
}

/** What a started container's networking holds until the runtime has joined its namespace. */
export interface AttachedNetworks {
  /** The namespace to join ('' when the container has no network of berth's: none, host, container:X). */
  netnsPath: string;
  /** Its first address and the network's gateway (for /etc/hosts). */
  primaryIp: string;
  /** Lets the namespace holder go (the container's processes keep the namespace). */
  release(): void;
  /** With `later`: puts the interfaces into the container's own namespace once it exists. */
  plumb?: (netnsPath: string) => void;
}

/**
 * Leases addresses and ports, makes missing bridges and the rules, and a namespace with the
 * container's interfaces. On failure nothing of it is left.
 */
export async function attachNetworks(ctx: EngineContext, rec: ContainerRecord, exposed: { containerPort: number; protocol: Protocol }[], opts: { later?: boolean } = {}): Promise<AttachedNetworks> {
  const endpoints = ctx.networks.endpointsOf(rec.id);
  if (!endpoints.length) return { netnsPath: '', primaryIp: '', release: () => {} };
  const ports = await choosePorts(rec, exposed);
  const specs: EndpointSpec[] = [];
  const dnsNetworks: NetworkRecord[] = [];
  let primaryIp = '';
  try {
    ctx.db.transaction(() => {
      let newBridge = false;
      endpoints.forEach((e, i) => {
        const n = ctx.networks.get(e.networkId);
        if (!n) throw new BerthError('NOT_FOUND', `network ${e.networkId} not found`);
        const subnet = parseSubnet(n.subnet);
        if (!bridgeReady(n.bridge)) {
          for (const r of hostRoutes()) {
            if (r.iface !== n.bridge && overlaps({ base: r.dest, prefix: r.prefix }, subnet)) {
              throw new BerthError('CONFLICT', `network ${n.name} (${n.subnet}) overlaps ${formatSubnet({ base: r.dest, prefix: r.prefix })}, which ${r.iface} of this host has`);
            }
          }
          createBridge({ name: n.bridge, gatewayCidr: `${n.gateway}/${subnet.prefix}`, mtu: n.mtu });
          newBridge = true;
        }
        const used = new Set(ctx.networks.leasedIps(n.id).map((ip) => parseIPv4(ip)!));
        used.add(parseIPv4(n.gateway)!);
        let ip: number | undefined;
        if (e.reqIp) {
          ip = parseIPv4(e.reqIp)!;
          if (used.has(ip)) throw new BerthError('CONFLICT', `Address already in use: ${e.reqIp} on network ${n.name}`);
        } else {
          ip = lowestFree(subnet, used, n.ipRange ? parseSubnet(n.ipRange) : subnet);
          if (ip === undefined) throw new BerthError('UNAVAILABLE', `no available IPv4 addresses on network ${n.name} (${n.subnet})`);
        }
        const lease = { ip: formatIPv4(ip), mac: e.reqMac || macFor(ip), hostIf: hostIfName(rec.id, n.id), ifname: `eth${i}` };
        ctx.networks.setLease(rec.id, n.id, lease);
        if (i === 0) primaryIp = lease.ip;
        specs.push({ bridge: n.bridge, hostIf: lease.hostIf, ifname: lease.ifname, addressCidr: `${lease.ip}/${subnet.prefix}`, mac: lease.mac, mtu: n.mtu, gateway: i === 0 && !n.internal ? n.gateway : '' });
        if (n.name !== 'bridge') dnsNetworks.push(n);
      });
      for (const p of ports) {
        const taken = ctx.networks.portTaken(p.hostIp, p.protocol, p.hostPort);
        if (taken) throw new BerthError('CONFLICT', `Bind for ${bindText(p)} failed: port is already allocated (by container ${taken.containerId.slice(0, 12)})`);
        ctx.networks.addPort({ containerId: rec.id, hostIp: p.hostIp, hostPort: p.hostPort, protocol: p.protocol, containerPort: p.containerPort, containerIp: primaryIp });
      }
      if (newBridge || ports.length) syncTable(ctx);
    });
    if (opts.later) {
      // a user-namespaced container makes its network namespace itself (owned by its user
      // namespace, so that it may mount sysfs); its interfaces are put in it before it starts
      return {
        netnsPath: '',
        primaryIp,
        release: () => {},
        plumb: (netnsPath: string) => {
          addEndpoints(netnsPath, specs, { loopback: true });
          for (const n of dnsNetworks) writeDns(ctx, n);
        },
      };
    }
    const held: HeldNetns = await makeNetns(specs);
    try {
      for (const n of dnsNetworks) writeDns(ctx, n);
    } catch (err) {
      held.release();
      throw err;
    }
    return { netnsPath: held.path, primaryIp, release: held.release };
  } catch (err) {
    await detachNetworks(ctx, rec.id);
    throw err;
  }
}

/** Takes down the bridges of networks no running container uses (all, or those `which` picks),
 * and rewrites the rules; returns the bridges removed. */
export function removeIdleBridges(ctx: EngineContext, which: (n: NetworkRecord) => boolean = () => true): string[] {
  return ctx.db.transaction(() => {
    const active = new Set(ctx.networks.activeNetworks().map((n) => n.id));
    const idle = ctx.networks.list().filter((n) => n.bridge && !active.has(n.id) && which(n) && linkExists(n.bridge));
    if (!idle.length) return [];
    deleteLinks(idle.map((n) => n.bridge));
    syncTable(ctx);
    return idle.map((n) => n.bridge);
  });
}

/**
 * Rewrites a network's DNS file from the records and makes the server see it. Under the
 * records' lock: concurrent runs write one after the other (each file from the records as they
 * are then), and only one of them ever starts the server.
 */
function writeDns(ctx: EngineContext, n: NetworkRecord): void {
  ctx.db.transaction(() => {
    const entries = ctx.networks.endpointsOn(n.id).filter((e) => e.ip).map((e) => {
      const c = ctx.containers.get(e.containerId);
      const names = [...new Set([c?.name, ...e.aliases, e.containerId.slice(0, 12)].filter((x): x is string => !!x))];
      return { id: e.containerId, ip: e.ip, names };
    });
    updateDns(ctx.paths.dnsDir, n.name, n.gateway, entries.length ? entries : undefined);
  });
}

/**
 * Releases what a container's start took (idempotent; the caller may or may not hold its lock):
 * its addresses, ports and DNS entries. Its interfaces are removed too, unless its namespace
 * ended with it (`namespaceGone`: the kernel removes them then, and removing one by hand waits
 * for the network stack to quiesce, tens of milliseconds). A network's bridge stays (docker's
 * model): `network rm` and `network prune` take it down.
 */
export async function detachNetworks(ctx: EngineContext, containerId: string, opts: { namespaceGone?: boolean } = {}): Promise<void> {
  const leased = ctx.networks.endpointsOf(containerId).filter((e) => e.ip || e.hostIf);
  const hadPorts = ctx.networks.ports(containerId).length > 0;
  if (!leased.length && !hadPorts) return;
  if (!opts.namespaceGone) deleteLinks(leased.map((e) => e.hostIf).filter(Boolean));
  const dnsNetworks: NetworkRecord[] = [];
  ctx.db.transaction(() => {
    for (const e of leased) ctx.networks.setLease(containerId, e.networkId, { ip: '', mac: '', hostIf: '', ifname: '' });
    ctx.networks.removePorts(containerId);
    if (hadPorts) syncTable(ctx);
    for (const e of leased) {
      const n = ctx.networks.get(e.networkId);
      if (n && n.name !== 'bridge' && n.driver === 'bridge') dnsNetworks.push(n);
    }
  });
  for (const n of dnsNetworks) writeDns(ctx, n);
}

/** Connects a container to a network (`network connect`); a running one gets its interface at once. */
export async function connectNetwork(ctx: EngineContext, containerRef: string, networkRef: string, opts: { aliases?: string[]; ip?: string } = {}): Promise<void> {
  const rec = ctx.containers.resolve(containerRef);
  ensureBuiltinNetworks(ctx);
  const n = ctx.networks.resolve(networkRef);
  const mode = networkMode(rec.spec.network);
  if (mode.kind !== 'network') throw new BerthError('FAILED_PRECONDITION', `container ${rec.name} uses --network ${rec.spec.network}: it cannot join network ${n.name}`);
  if (n.driver !== 'bridge') throw new BerthError('FAILED_PRECONDITION', `container cannot be disconnected from host network or connected to host network`);
  if (opts.ip !== undefined) {
    if (n.name === 'bridge') throw new BerthError('INVALID_ARGUMENT', 'user specified IP address is supported on user defined networks only');
    checkRequestedIp(n, opts.ip);
  }
  checkAliases(opts.aliases);
  if (opts.aliases?.length && n.name === 'bridge') throw new BerthError('INVALID_ARGUMENT', 'network-scoped alias is supported only for containers in user defined networks');
  ctx.db.transaction(() => {
    if (ctx.networks.endpointsOf(rec.id).some((e) => e.networkId === n.id)) throw new BerthError('CONFLICT', `endpoint with name ${rec.name} already exists in network ${n.name}`);
    ctx.networks.addEndpoint({ containerId: rec.id, networkId: n.id, aliases: opts.aliases ?? [], reqIp: opts.ip ?? '', reqMac: '' });
    ctx.containers.event('network', 'connect', n.id, { name: n.name, container: rec.id });
  });
  if (rec.status !== 'running' && rec.status !== 'paused') return;
  // a running container: lease, bridge and interface now
  let spec: EndpointSpec | undefined;
  try {
    ctx.db.transaction(() => {
      const subnet = parseSubnet(n.subnet);
      let newBridge = false;
      if (!bridgeReady(n.bridge)) {
        createBridge({ name: n.bridge, gatewayCidr: `${n.gateway}/${subnet.prefix}`, mtu: n.mtu });
        newBridge = true;
      }
      const used = new Set(ctx.networks.leasedIps(n.id).map((ip) => parseIPv4(ip)!));
      used.add(parseIPv4(n.gateway)!);
      const ip = opts.ip ? parseIPv4(opts.ip)! : lowestFree(subnet, used, n.ipRange ? parseSubnet(n.ipRange) : subnet);
      if (ip === undefined || (opts.ip && used.has(ip))) throw new BerthError('CONFLICT', `no free address on network ${n.name}`);
      const eps = ctx.networks.endpointsOf(rec.id);
      const ifname = `eth${Math.max(...eps.map((e) => Number(e.ifname.slice(3)) || 0), -1) + 1}`;
      const lease = { ip: formatIPv4(ip), mac: macFor(ip), hostIf: hostIfName(rec.id, n.id), ifname };
      ctx.networks.setLease(rec.id, n.id, lease);
      spec = { bridge: n.bridge, hostIf: lease.hostIf, ifname, addressCidr: `${lease.ip}/${subnet.prefix}`, mac: lease.mac, mtu: n.mtu, gateway: '' };
      if (newBridge) syncTable(ctx);
    });
    addEndpoints(`/proc/${rec.pid}/ns/net`, [spec!]);
    if (n.name !== 'bridge') writeDns(ctx, n);
  } catch (err) {
    await disconnectNetwork(ctx, rec.id, n.id).catch(() => {});
    throw err;
  }
}

/** Disconnects a container from a network (`network disconnect`). */
export async function disconnectNetwork(ctx: EngineContext, containerRef: string, networkRef: string): Promise<void> {
  const rec = ctx.containers.resolve(containerRef);
  const n = ctx.networks.resolve(networkRef);
  const e = ctx.networks.endpointsOf(rec.id).find((x) => x.networkId === n.id);
  if (!e) throw new BerthError('NOT_FOUND', `container ${rec.id.slice(0, 12)} is not connected to network ${n.name}`);
  if (e.hostIf) removeEndpoint(`/proc/${rec.pid}/ns/net`, e.ifname, e.hostIf);
  ctx.db.transaction(() => {
    ctx.networks.removeEndpoint(rec.id, n.id);
    ctx.containers.event('network', 'disconnect', n.id, { name: n.name, container: rec.id });
  });
  if (e.ip && n.name !== 'bridge') writeDns(ctx, n);
}

/** Records a new container's endpoint (the create transaction calls this). */
export function recordEndpoint(ctx: EngineContext, containerId: string, n: NetworkRecord, asked: { ip?: string; mac?: string; aliases?: string[] }): void {
  ctx.networks.addEndpoint({ containerId, networkId: n.id, aliases: asked.aliases ?? [], reqIp: asked.ip ?? '', reqMac: asked.mac ?? '' });
}

/**
 * `system check`: leases of containers that do not run are released (a killed command's), and
 * the host is made to match the records: bridges of networks with no running container, the
 * rules, and the DNS server. Returns what it repaired.
 */
export async function checkNetworks(ctx: EngineContext, isRunning: (id: string) => boolean, repair: boolean): Promise<string[]> {
  const found: string[] = [];
  const stale = new Set(ctx.networks.allEndpoints().filter((e) => (e.ip || e.hostIf) && !isRunning(e.containerId)).map((e) => e.containerId));
  for (const p of ctx.networks.ports()) if (!isRunning(p.containerId)) stale.add(p.containerId);
  for (const id of stale) {
    found.push(`network lease of container ${id.slice(0, 12)}, which does not run`);
    if (repair) await detachNetworks(ctx, id);
  }
  if (repair) {
    // the rules as the records say (a firewall reload may have flushed them)
    ctx.db.transaction(() => syncTable(ctx));
    if (!ctx.networks.activeNetworks().length) stopDns(ctx.paths.dnsDir);
  }
  return found;
}

/** For `inspect`: is the address an IPv4 one (used by callers checking --ip). */
export { isIPv4 };
export type { EndpointRecord, PortRecord };

/** `--explain`: the network steps of a container's start, in words and commands. */
export function explainNetwork(ctx: EngineContext, spec: { network?: string | undefined; publish?: PortBinding[] | undefined; publishAll?: boolean | undefined; ip?: string | undefined }, network: NetworkRecord | undefined): string[] {
  const mode = networkMode(spec.network);
  if (mode.kind === 'host') return ["network: the host's network namespace (no new one): the container sees the host's interfaces"];
  if (mode.kind === 'container') return [`network: setns into the network namespace of container ${mode.ref} (/proc/<its pid>/ns/net)`];
  if (!network) return ['network: a network namespace of its own (CLONE_NEWNET) with only lo'];
  const subnet = parseSubnet(network.subnet);
  const hostIf = 'veth<11 hex of sha256(container/network)>';
  const lines = [`network ${network.name} (${network.subnet}, gateway ${network.gateway}${network.internal ? ', internal: no route out' : ''}), at start:`];
  if (linkExists(network.bridge)) lines.push(`   bridge ${network.bridge} is up (another container uses the network)`);
  else lines.push(`   ip link add ${network.bridge} mtu ${network.mtu} type bridge; ip addr add ${network.gateway}/${subnet.prefix} dev ${network.bridge}; ip link set ${network.bridge} up; sysctl net.ipv4.conf.${network.bridge}.route_localnet=1 (and net.ipv4.ip_forward=1 if off)`);
  lines.push(`   lease: ${spec.ip ? `the address ${spec.ip}` : `the lowest free address of ${network.ipRange || network.subnet}`}, in one transaction of ${ctx.db.path} (UNIQUE per network)`);
  const ports = spec.publish ?? [];
  if (ports.length || spec.publishAll) {
    lines.push(`   ports: ${[...ports.map((p) => `${p.hostIp || '0.0.0.0'}:${p.hostPort || '<free port>'}->${p.containerPort}/${p.protocol}`), ...(spec.publishAll ? ['every EXPOSEd port on a free host port'] : [])].join(', ')}: checked free on the host, recorded (UNIQUE per host address, protocol and port)`);
  }
  lines.push(`   nft -f: table ip ${ctx.paths.nftTable} rewritten whole in one transaction (masquerade out of ${network.internal ? 'no internal network' : network.subnet}, DNAT of published ports through the ports_ip/ports_any maps, isolation from other networks) when a bridge or a port is new`);
  lines.push(`   unshare --net (a holder process): ip link add eth0 address <02:42:ip> type veth peer name ${hostIf} netns /proc/${process.pid}/ns/net; ip addr add <address>/${subnet.prefix} dev eth0; ip link set lo up; ip link set eth0 up${network.internal ? '' : `; ip route add default via ${network.gateway}`}`);
  lines.push(`   nsenter --net=<host> ip link set ${hostIf} master ${network.bridge} up; hairpin on`);
  if (network.name !== 'bridge') lines.push(`   dns: ${ctx.paths.dnsDir}/${network.name} gets the container's name, aliases and short ID; aardvark-dns on ${network.gateway}:53 is started or sent SIGHUP`);
  lines.push('   the runtime joins the holder\'s namespace by path (setns CLONE_NEWNET); at the end: leases and ports released, the bridge removed with the network\'s last container, the table rewritten');
  return lines;
}
