/**
 * The engine's network records (SQLite, domain `networks`): networks, each container's
 * endpoint on each network it is connected to (its address while it runs: IPAM), and the
 * ports published while it runs. Addresses and host ports are taken inside one transaction
 * with UNIQUE constraints behind them, so concurrent `run`s never share one.
 */
import { BerthError } from '../common/index.ts';
import type { Database, Migration } from './db.ts';
import type { Protocol } from '../network/index.ts';

export const NETWORK_MIGRATIONS: Migration[] = [
  {
    domain: 'networks',
    version: 1,
    sql: `CREATE TABLE networks (
      id TEXT PRIMARY KEY,
      name TEXT NOT NULL UNIQUE,
      driver TEXT NOT NULL,
      bridge TEXT NOT NULL,
      subnet TEXT NOT NULL,
      gateway TEXT NOT NULL,
      ip_range TEXT NOT NULL DEFAULT '',
      internal INTEGER NOT NULL DEFAULT 0,
      mtu INTEGER NOT NULL DEFAULT 1500,
      labels TEXT NOT NULL DEFAULT '{}',
      options TEXT NOT NULL DEFAULT '{}',
      created_at TEXT NOT NULL
    );
    CREATE TABLE endpoints (
      container_id TEXT NOT NULL REFERENCES containers(id) ON DELETE CASCADE,
      network_id TEXT NOT NULL REFERENCES networks(id),
      seq INTEGER NOT NULL,
      aliases TEXT NOT NULL DEFAULT '[]',
      req_ip TEXT NOT NULL DEFAULT '',
      req_mac TEXT NOT NULL DEFAULT '',
      ip TEXT,
      mac TEXT NOT NULL DEFAULT '',
      host_if TEXT NOT NULL DEFAULT '',
      ifname TEXT NOT NULL DEFAULT '',
      PRIMARY KEY (container_id, network_id),
      UNIQUE (network_id, ip)
    );
    CREATE TABLE ports (
      container_id TEXT NOT NULL REFERENCES containers(id) ON DELETE CASCADE,
      host_ip TEXT NOT NULL,
      host_port INTEGER NOT NULL,
      protocol TEXT NOT NULL,
      container_port INTEGER NOT NULL,
      container_ip TEXT NOT NULL,
      PRIMARY KEY (host_ip, protocol, host_port)
    );`,
  },
];

export interface NetworkRecord {
  id: string;
  name: string;
  /** bridge, host or null (docker's names for the default, host and none networks). */
  driver: string;
  bridge: string;
  subnet: string;
  gateway: string;
  ipRange: string;
  internal: boolean;
  mtu: number;
  labels: Record<string, string>;
  options: Record<string, string>;
  createdAt: string;
}

export interface EndpointRecord {
  containerId: string;
  networkId: string;
  /** Order of connection: the first is eth0 and carries the default route. */
  seq: number;
  aliases: string[];
  /** --ip / connect --ip: the address asked for ('' for any). */
  reqIp: string;
  reqMac: string;
  /** The address while the container runs ('' otherwise). */
  ip: string;
  mac: string;
  hostIf: string;
  ifname: string;
}

export interface PortRecord {
  containerId: string;
  hostIp: string;
  hostPort: number;
  protocol: Protocol;
  containerPort: number;
  containerIp: string;
}

type NetworkRow = { id: string; name: string; driver: string; bridge: string; subnet: string; gateway: string; ip_range: string; internal: number; mtu: number; labels: string; options: string; created_at: string };
type EndpointRow = { container_id: string; network_id: string; seq: number; aliases: string; req_ip: string; req_mac: string; ip: string | null; mac: string; host_if: string; ifname: string };
type PortRow = { container_id: string; host_ip: string; host_port: number; protocol: string; container_port: number; container_ip: string };

function toNetwork(r: NetworkRow): NetworkRecord {
  return {
    id: r.id,
    name: r.name,
    driver: r.driver,
    bridge: r.bridge,
    subnet: r.subnet,
    gateway: r.gateway,
    ipRange: r.ip_range,
    internal: r.internal === 1,
    mtu: r.mtu,
    labels: JSON.parse(r.labels) as Record<string, string>,
    options: JSON.parse(r.options) as Record<string, string>,
    createdAt: r.created_at,
  };
}

function toEndpoint(r: EndpointRow): EndpointRecord {
  return {
    containerId: r.container_id,
    networkId: r.network_id,
    seq: r.seq,
    aliases: JSON.parse(r.aliases) as string[],
    reqIp: r.req_ip,
    reqMac: r.req_mac,
    ip: r.ip ?? '',
    mac: r.mac,
    hostIf: r.host_if,
    ifname: r.ifname,
  };
}

function toPort(r: PortRow): PortRecord {
  return { containerId: r.container_id, hostIp: r.host_ip, hostPort: r.host_port, protocol: r.protocol as Protocol, containerPort: r.container_port, containerIp: r.container_ip };
}

export class NetworkStore {
  readonly db: Database;

  constructor(db: Database) {
    this.db = db;
  }

  list(): NetworkRecord[] {
    return this.db.all<NetworkRow>('SELECT * FROM networks ORDER BY created_at, name').map(toNetwork);
  }

  get(id: string): NetworkRecord | undefined {
    const r = this.db.get<NetworkRow>('SELECT * FROM networks WHERE id = ?', id);
    return r && toNetwork(r);
  }

  byName(name: string): NetworkRecord | undefined {
    const r = this.db.get<NetworkRow>('SELECT * FROM networks WHERE name = ?', name);
    return r && toNetwork(r);
  }

  /** A network by name, full ID or unique ID prefix (docker's lookup). */
  find(ref: string): NetworkRecord | undefined {
    const exact = this.byName(ref) ?? this.get(ref);
    if (exact) return exact;
    if (!/^[0-9a-f]{1,64}$/.test(ref)) return undefined;
    const rows = this.db.all<NetworkRow>("SELECT * FROM networks WHERE id LIKE ? || '%'", ref);
    if (rows.length > 1) throw new BerthError('CONFLICT', `network ${ref} is ambiguous (${rows.length} matches found based on ID prefix)`);
    return rows[0] && toNetwork(rows[0]);
  }

  resolve(ref: string): NetworkRecord {
    const n = this.find(ref);
    if (!n) throw new BerthError('NOT_FOUND', `network ${ref} not found`);
    return n;
  }

  insert(n: NetworkRecord): void {
    this.db.run(
      'INSERT INTO networks (id, name, driver, bridge, subnet, gateway, ip_range, internal, mtu, labels, options, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      n.id, n.name, n.driver, n.bridge, n.subnet, n.gateway, n.ipRange, n.internal ? 1 : 0, n.mtu, JSON.stringify(n.labels), JSON.stringify(n.options), n.createdAt,
    );
  }

  remove(id: string): void {
    this.db.run('DELETE FROM networks WHERE id = ?', id);
  }

  endpointsOf(containerId: string): EndpointRecord[] {
    return this.db.all<EndpointRow>('SELECT * FROM endpoints WHERE container_id = ? ORDER BY seq', containerId).map(toEndpoint);
  }

  endpointsOn(networkId: string): EndpointRecord[] {
    return this.db.all<EndpointRow>('SELECT * FROM endpoints WHERE network_id = ? ORDER BY container_id', networkId).map(toEndpoint);
  }

  allEndpoints(): EndpointRecord[] {
    return this.db.all<EndpointRow>('SELECT * FROM endpoints ORDER BY container_id, seq').map(toEndpoint);
  }

  addEndpoint(e: Pick<EndpointRecord, 'containerId' | 'networkId' | 'aliases' | 'reqIp' | 'reqMac'>): void {
    const seq = this.db.get<{ n: number }>('SELECT COALESCE(MAX(seq) + 1, 0) AS n FROM endpoints WHERE container_id = ?', e.containerId)!.n;
    this.db.run('INSERT INTO endpoints (container_id, network_id, seq, aliases, req_ip, req_mac) VALUES (?, ?, ?, ?, ?, ?)', e.containerId, e.networkId, seq, JSON.stringify(e.aliases), e.reqIp, e.reqMac);
  }

  removeEndpoint(containerId: string, networkId: string): void {
    this.db.run('DELETE FROM endpoints WHERE container_id = ? AND network_id = ?', containerId, networkId);
  }

  /** Records what an endpoint got when its container started ('' ip: released). */
  setLease(containerId: string, networkId: string, lease: { ip: string; mac: string; hostIf: string; ifname: string }): void {
    this.db.run('UPDATE endpoints SET ip = ?, mac = ?, host_if = ?, ifname = ? WHERE container_id = ? AND network_id = ?', lease.ip || null, lease.mac, lease.hostIf, lease.ifname, containerId, networkId);
  }

  /** Addresses taken on a network (by running containers). */
  leasedIps(networkId: string): string[] {
    return this.db.all<{ ip: string }>('SELECT ip FROM endpoints WHERE network_id = ? AND ip IS NOT NULL', networkId).map((r) => r.ip);
  }

  /** Networks with at least one running endpoint (their bridges are up). */
  activeNetworks(): NetworkRecord[] {
    return this.db.all<NetworkRow>('SELECT * FROM networks WHERE id IN (SELECT network_id FROM endpoints WHERE ip IS NOT NULL) ORDER BY name').map(toNetwork);
  }

  ports(containerId?: string): PortRecord[] {
    const rows = containerId === undefined
      ? this.db.all<PortRow>('SELECT * FROM ports ORDER BY host_port')
      : this.db.all<PortRow>('SELECT * FROM ports WHERE container_id = ? ORDER BY container_port, protocol, host_ip', containerId);
    return rows.map(toPort);
  }

  /** Whether a host port is published (on this address or on all of them). */
  portTaken(hostIp: string, protocol: Protocol, hostPort: number): PortRecord | undefined {
    const r = hostIp === ''
      ? this.db.get<PortRow>('SELECT * FROM ports WHERE protocol = ? AND host_port = ?', protocol, hostPort)
      : this.db.get<PortRow>("SELECT * FROM ports WHERE protocol = ? AND host_port = ? AND host_ip IN ('', ?)", protocol, hostPort, hostIp);
    return r && toPort(r);
  }

  addPort(p: PortRecord): void {
    this.db.run('INSERT INTO ports (container_id, host_ip, host_port, protocol, container_port, container_ip) VALUES (?, ?, ?, ?, ?, ?)', p.containerId, p.hostIp, p.hostPort, p.protocol, p.containerPort, p.containerIp);
  }

  removePorts(containerId: string): void {
    this.db.run('DELETE FROM ports WHERE container_id = ?', containerId);
  }
}
