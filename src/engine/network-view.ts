/**
 * What `network inspect`, `network ls`, `port`, `ps` and a container's `inspect` show of
 * networks, in docker's shapes (the API returns the same objects).
 */
import { createHash } from 'node:crypto';
import { parseExposed, parseSubnet, type Protocol } from '../network/index.ts';
import type { EngineContext } from './container-context.ts';
import type { ContainerRecord } from './container-store.ts';
import type { NetworkRecord, PortRecord } from './network-store.ts';
import { ensureBuiltinNetworks } from './networks.ts';

function endpointId(containerId: string, networkId: string): string {
  return createHash('sha256').update(`endpoint/${containerId}/${networkId}`).digest('hex');
}

/** docker's HostConfig.NetworkMode: bridge unless asked otherwise. */
export function networkModeOf(rec: ContainerRecord): string {
  const n = rec.spec.network;
  return n === undefined || n === '' || n === 'default' ? 'bridge' : n;
}

export function inspectNetwork(ctx: EngineContext, n: NetworkRecord): Record<string, unknown> {
  const containers: Record<string, object> = {};
  for (const e of ctx.networks.endpointsOn(n.id)) {
    if (!e.ip) continue;
    const c = ctx.containers.get(e.containerId);
    containers[e.containerId] = {
      Name: c?.name ?? '',
      EndpointID: endpointId(e.containerId, n.id),
      MacAddress: e.mac,
      IPv4Address: `${e.ip}/${parseSubnet(n.subnet).prefix}`,
      IPv6Address: '',
    };
  }
  return {
    Name: n.name,
    Id: n.id,
    Created: n.createdAt,
    Scope: 'local',
    Driver: n.driver,
    EnableIPv6: false,
    IPAM: {
      Driver: 'default',
      Options: {},
      Config: n.subnet ? [{ Subnet: n.subnet, Gateway: n.gateway, ...(n.ipRange ? { IPRange: n.ipRange } : {}) }] : [],
    },
    Internal: n.internal,
    Attachable: false,
    Ingress: false,
    ConfigFrom: { Network: '' },
    ConfigOnly: false,
    Containers: containers,
    // a user network shows the options it was given, as dockerd's do (compose compares them
    // with its file's and would recreate a network that shows more); the default one its bridge
    Options: n.name === 'bridge' && n.driver === 'bridge' ? { ...n.options, 'com.docker.network.bridge.name': n.bridge, ...(n.mtu !== 1500 ? { 'com.docker.network.driver.mtu': String(n.mtu) } : {}) } : n.options,
    Labels: n.labels,
  };
}

export function listNetworks(ctx: EngineContext): NetworkRecord[] {
  ensureBuiltinNetworks(ctx);
  return ctx.networks.list();
}

function exposedOf(rec: ContainerRecord): { containerPort: number; protocol: Protocol }[] {
  try {
    return parseExposed(Object.keys((rec.config.ExposedPorts as Record<string, unknown> | undefined) ?? {}));
  } catch {
    return [];
  }
}

/** ps's Ports: the published ports while it runs, and the exposed ones that are not. */
export function portSummaries(ctx: EngineContext, rec: ContainerRecord): { IP?: string; PrivatePort: number; PublicPort?: number; Type: string }[] {
  const running = rec.status === 'running' || rec.status === 'paused';
  const published = running ? ctx.networks.ports(rec.id) : [];
  const out: { IP?: string; PrivatePort: number; PublicPort?: number; Type: string }[] = published.map((p) => ({ IP: p.hostIp || '0.0.0.0', PrivatePort: p.containerPort, PublicPort: p.hostPort, Type: p.protocol }));
  for (const e of exposedOf(rec)) {
    if (!out.some((p) => p.PrivatePort === e.containerPort && p.Type === e.protocol)) out.push({ PrivatePort: e.containerPort, Type: e.protocol });
  }
  return out;
}

/** ps's PORTS column: `0.0.0.0:18081->80/tcp, 80/udp`. */
export function portsColumn(ports: ReturnType<typeof portSummaries>): string {
  return ports
    .map((p) => (p.PublicPort ? `${p.IP}:${p.PublicPort}->${p.PrivatePort}/${p.Type}` : `${p.PrivatePort}/${p.Type}`))
    .join(', ');
}

/** `berth port`: `80/tcp -> 0.0.0.0:18081` lines, for one port or all. */
export function portLines(ctx: EngineContext, rec: ContainerRecord, filter?: { port: number; protocol?: Protocol }): string[] {
  const running = rec.status === 'running' || rec.status === 'paused';
  const ports: PortRecord[] = running ? ctx.networks.ports(rec.id) : [];
  return ports
    .filter((p) => !filter || (p.containerPort === filter.port && (!filter.protocol || p.protocol === filter.protocol)))
    .map((p) => (filter ? `${p.hostIp || '0.0.0.0'}:${p.hostPort}` : `${p.containerPort}/${p.protocol} -> ${p.hostIp || '0.0.0.0'}:${p.hostPort}`));
}

/** HostConfig.PortBindings, as asked. */
export function portBindingsOf(rec: ContainerRecord): Record<string, { HostIp: string; HostPort: string }[]> {
  const out: Record<string, { HostIp: string; HostPort: string }[]> = {};
  for (const b of rec.spec.publish ?? []) {
    const key = `${b.containerPort}/${b.protocol}`;
    (out[key] ??= []).push({ HostIp: b.hostIp, HostPort: b.hostPort ? (b.hostPortEnd ? `${b.hostPort}-${b.hostPortEnd}` : String(b.hostPort)) : '' });
  }
  return out;
}

/** A container's NetworkSettings. */
export function networkSettingsOf(ctx: EngineContext, rec: ContainerRecord): Record<string, unknown> {
  const running = rec.status === 'running' || rec.status === 'paused';
  const ports: Record<string, { HostIp: string; HostPort: string }[] | null> = {};
  for (const e of exposedOf(rec)) ports[`${e.containerPort}/${e.protocol}`] = null;
  if (running) for (const p of ctx.networks.ports(rec.id)) (ports[`${p.containerPort}/${p.protocol}`] ??= [])!.push({ HostIp: p.hostIp || '0.0.0.0', HostPort: String(p.hostPort) });
  const networks: Record<string, object> = {};
  let primary: { ip: string; gateway: string; prefix: number; mac: string } | undefined;
  const mode = networkModeOf(rec);
  const endpoints = ctx.networks.endpointsOf(rec.id);
  for (const e of endpoints) {
    const n = ctx.networks.get(e.networkId);
    if (!n) continue;
    const prefix = e.ip ? parseSubnet(n.subnet).prefix : 0;
    networks[n.name] = {
      IPAMConfig: e.reqIp ? { IPv4Address: e.reqIp } : null,
      Links: null,
      Aliases: e.aliases.length ? e.aliases : null,
      MacAddress: e.mac,
      NetworkID: n.id,
      EndpointID: e.ip ? endpointId(rec.id, n.id) : '',
      Gateway: e.ip ? n.gateway : '',
      IPAddress: e.ip,
      IPPrefixLen: prefix,
      IPv6Gateway: '',
      GlobalIPv6Address: '',
      GlobalIPv6PrefixLen: 0,
      DriverOpts: null,
    };
    if (!primary && e.ip) primary = { ip: e.ip, gateway: n.gateway, prefix, mac: e.mac };
  }
  if (!endpoints.length) {
    const name = mode.startsWith('container:') ? mode : mode;
    networks[name] = { IPAMConfig: null, Links: null, Aliases: null, MacAddress: '', NetworkID: ctx.networks.byName(name)?.id ?? '', EndpointID: '', Gateway: '', IPAddress: '', IPPrefixLen: 0, IPv6Gateway: '', GlobalIPv6Address: '', GlobalIPv6PrefixLen: 0, DriverOpts: null };
  }
  return {
    Bridge: '',
    SandboxID: '',
    HairpinMode: false,
    LinkLocalIPv6Address: '',
    LinkLocalIPv6PrefixLen: 0,
    Ports: ports,
    SandboxKey: rec.pid > 0 && running ? `/proc/${rec.pid}/ns/net` : '',
    // docker fills these from the default bridge's endpoint
    Gateway: mode === 'bridge' ? (primary?.gateway ?? '') : '',
    IPAddress: mode === 'bridge' ? (primary?.ip ?? '') : '',
    IPPrefixLen: mode === 'bridge' ? (primary?.prefix ?? 0) : 0,
    MacAddress: mode === 'bridge' ? (primary?.mac ?? '') : '',
    Networks: networks,
  };
}
