/**
 * `berth network create|ls|inspect|rm|connect|disconnect|prune` and `berth port`, as docker has them.
 */
import { BerthError } from '../common/index.ts';
import { matchesLabels, parseLabelFilter, type NetworkRecord } from '../engine/index.ts';
import type { CommandSpec } from './args.ts';
import { boolFlag, forEachContainer, formatFlag, listFlag, stringFlag, type BerthCommand } from './berth-command.ts';
import { confirmPrune, keyValueFlags, printInspected, pruneLabelFilters } from './cli-shared.ts';
import { renderFormatted } from './render/format.ts';
import { renderTable } from './render/table.ts';
import { globToRegExp } from './render/format.ts';
import { goTime } from './render/units.ts';

const BUILTIN = ['bridge', 'host', 'none'];

function one(args: { flags: Record<string, unknown> }, name: string): string | undefined {
  const v = listFlag(args as Parameters<typeof listFlag>[0], name);
  if (v.length > 1) throw new BerthError('NOT_IMPLEMENTED', `only one --${name} per network is supported (berth networks are IPv4 with one subnet)`);
  return v[0];
}

export const networkCreateCommand: BerthCommand = {
  spec: {
    name: 'network create',
    usage: 'network create [OPTIONS] NETWORK',
    summary: 'Create a network: a bridge of its own, isolated from other networks, whose containers find each other by name.',
    positionals: [1, 1],
    flags: [
      { name: 'driver', short: 'd', type: 'string', value: 'string', description: 'driver to manage the network (bridge)' },
      { name: 'subnet', type: 'string', value: 'strings', repeatable: true, description: 'subnet in CIDR format (default: a free /24 of 10.100.0.0-10.127.255.0)' },
      { name: 'gateway', type: 'string', value: 'strings', repeatable: true, description: 'IPv4 gateway for the subnet (default: its first address)' },
      { name: 'ip-range', type: 'string', value: 'strings', repeatable: true, description: 'allocate container addresses from a sub-range' },
      { name: 'internal', type: 'boolean', description: 'restrict external access to the network' },
      { name: 'opt', short: 'o', type: 'string', value: 'map', repeatable: true, description: 'set driver specific options (com.docker.network.driver.mtu=N)' },
      { name: 'label', type: 'string', value: 'list', repeatable: true, description: 'set metadata on a network' },
      { name: 'ipv6', type: 'boolean', description: 'enable IPv6 networking (not supported)' },
      { name: 'attachable', type: 'boolean', description: 'accepted for docker compatibility (every berth network is)' },
    ],
  },
  async run(args, env) {
    if (boolFlag(args, 'ipv6')) throw new BerthError('NOT_IMPLEMENTED', 'IPv6 networks are not supported yet: berth networks are IPv4');
    const subnet = one(args, 'subnet');
    const gateway = one(args, 'gateway');
    const ipRange = one(args, 'ip-range');
    const driver = stringFlag(args, 'driver');
    const n = env.engine().networks.create({
      name: args.positionals[0]!,
      ...(driver ? { driver } : {}),
      ...(subnet ? { subnet } : {}),
      ...(gateway ? { gateway } : {}),
      ...(ipRange ? { ipRange } : {}),
      internal: boolFlag(args, 'internal'),
      labels: keyValueFlags(listFlag(args, 'label'), '--label'),
      options: keyValueFlags(listFlag(args, 'opt'), '--opt'),
    });
    env.io.out(`${n.id}\n`);
    return 0;
  },
};

interface NetworkRow {
  ID: string;
  Name: string;
  Driver: string;
  Scope: string;
  IPv6: string;
  Internal: string;
  Labels: string;
  CreatedAt: string;
}

const HEADERS: Record<string, string> = { ID: 'NETWORK ID', Name: 'NAME', Driver: 'DRIVER', Scope: 'SCOPE', IPv6: 'IPV6', Internal: 'INTERNAL', Labels: 'LABELS', CreatedAt: 'CREATED AT' };

type Filter = (n: NetworkRecord, inUse: boolean) => boolean;

function networkFilters(texts: string[]): Filter[] {
  const byKey = new Map<string, string[]>();
  for (const t of texts) {
    const eq = t.indexOf('=');
    if (eq <= 0) throw new BerthError('INVALID_ARGUMENT', `bad format of filter (expected name=value): ${t}`);
    byKey.set(t.slice(0, eq), [...(byKey.get(t.slice(0, eq)) ?? []), t.slice(eq + 1)]);
  }
  const filters: Filter[] = [];
  for (const [key, values] of byKey) {
    switch (key) {
      case 'name':
        filters.push((n) => values.some((v) => n.name.includes(v) || globToRegExp(v).test(n.name)));
        break;
      case 'id':
        filters.push((n) => values.some((v) => n.id.startsWith(v)));
        break;
      case 'driver':
        filters.push((n) => values.includes(n.driver));
        break;
      case 'scope':
        filters.push(() => values.includes('local'));
        break;
      case 'type':
        for (const v of values) if (v !== 'builtin' && v !== 'custom') throw new BerthError('INVALID_ARGUMENT', `invalid filter: 'type'='${v}'`);
        filters.push((n) => values.includes(BUILTIN.includes(n.name) ? 'builtin' : 'custom'));
        break;
      case 'label': {
        const wanted = values.map((v) => parseLabelFilter(v, false));
        filters.push((n) => matchesLabels(n.labels, wanted));
        break;
      }
      case 'dangling':
        filters.push((n, inUse) => values.some((v) => (v === 'true' || v === '1') === (!inUse && !BUILTIN.includes(n.name))));
        break;
      default:
        throw new BerthError('INVALID_ARGUMENT', `invalid filter '${key}'`, { hint: 'filters: name, id, driver, scope, type, label, dangling' });
    }
  }
  return filters;
}

const lsSpec = (name: string): CommandSpec => ({
  name,
  usage: `${name} [OPTIONS]`,
  summary: 'List networks.',
  positionals: [0, 0],
  flags: [
    { name: 'filter', short: 'f', type: 'string', value: 'FILTER', repeatable: true, description: 'filter: name, id, driver, type=custom|builtin, label=KEY[=VALUE], dangling=true' },
    formatFlag,
    { name: 'no-trunc', type: 'boolean', description: 'do not truncate the output' },
    { name: 'quiet', short: 'q', type: 'boolean', description: 'only display network IDs' },
  ],
});

function listCommand(name: string): BerthCommand {
  return {
    spec: lsSpec(name),
    async run(args, env) {
      const engine = env.engine();
      const filters = networkFilters(listFlag(args, 'filter'));
      const noTrunc = boolFlag(args, 'no-trunc');
      const used = new Set(engine.ctx.networks.allEndpoints().map((e) => e.networkId));
      const rows: NetworkRow[] = engine.networks
        .list()
        .filter((n) => filters.every((f) => f(n, used.has(n.id))))
        .sort((a, b) => a.name.localeCompare(b.name))
        .map((n) => ({
          ID: noTrunc ? n.id : n.id.slice(0, 12),
          Name: n.name,
          Driver: n.driver,
          Scope: 'local',
          IPv6: 'false',
          Internal: String(n.internal),
          Labels: Object.entries(n.labels).map(([k, v]) => `${k}=${v}`).join(','),
          CreatedAt: goTime(Math.floor(Date.parse(n.createdAt) / 1000)),
        }));
      const format = stringFlag(args, 'format');
      if (boolFlag(args, 'quiet')) env.io.out(rows.map((r) => `${r.ID}\n`).join(''));
      else if (format && format !== 'table') env.io.out(renderFormatted(rows, format, HEADERS));
      else {
        const columns: Array<keyof NetworkRow> = ['ID', 'Name', 'Driver', 'Scope'];
        env.io.out(renderTable([columns.map((c) => HEADERS[c]!), ...rows.map((r) => columns.map((c) => r[c]))]));
      }
      return 0;
    },
  };
}

export const networkLsCommand = listCommand('network ls');

export const networkInspectCommand: BerthCommand = {
  spec: {
    name: 'network inspect',
    usage: 'network inspect [OPTIONS] NETWORK [NETWORK...]',
    summary: 'Display detailed information on one or more networks',
    positionals: [1, Infinity],
    flags: [{ ...formatFlag, short: 'f', description: "format the output with a Go template ('{{.IPAM.Config}}')" }, { name: 'verbose', short: 'v', type: 'boolean', description: 'accepted for docker compatibility' }],
  },
  async run(args, env) {
    const found: unknown[] = [];
    let failed = false;
    for (const ref of args.positionals) {
      try {
        found.push(env.engine().networks.inspect(ref));
      } catch (err) {
        if (!(err instanceof BerthError) || err.code !== 'NOT_FOUND') throw err;
        env.io.err(`Error response from daemon: network ${ref} not found\n`);
        failed = true;
      }
    }
    printInspected(env.io, found, stringFlag(args, 'format'));
    return failed ? 1 : 0;
  },
};

export const networkRmCommand: BerthCommand = {
  spec: { name: 'network rm', usage: 'network rm NETWORK [NETWORK...]', summary: 'Remove one or more networks', positionals: [1, Infinity], flags: [{ name: 'force', short: 'f', type: 'boolean', description: 'do not error if the network does not exist' }] },
  run: (args, env) => forEachContainer(args, env, async (ref) => (env.engine().networks.remove(ref), ref), { missingOk: boolFlag(args, 'force') }),
};

export const networkConnectCommand: BerthCommand = {
  spec: {
    name: 'network connect',
    usage: 'network connect [OPTIONS] NETWORK CONTAINER',
    summary: 'Connect a container to a network (a running one gets its interface at once)',
    positionals: [2, 2],
    flags: [
      { name: 'alias', type: 'string', value: 'strings', repeatable: true, description: 'add network-scoped alias for the container' },
      { name: 'ip', type: 'string', value: 'string', description: 'IPv4 address (e.g., 10.100.0.20)' },
    ],
  },
  async run(args, env) {
    const ip = stringFlag(args, 'ip');
    await env.engine().networks.connect(args.positionals[1]!, args.positionals[0]!, { aliases: listFlag(args, 'alias'), ...(ip ? { ip } : {}) });
    return 0;
  },
};

export const networkDisconnectCommand: BerthCommand = {
  spec: {
    name: 'network disconnect',
    usage: 'network disconnect [OPTIONS] NETWORK CONTAINER',
    summary: 'Disconnect a container from a network',
    positionals: [2, 2],
    flags: [{ name: 'force', short: 'f', type: 'boolean', description: 'force the container to disconnect from a network' }],
  },
  async run(args, env) {
    await env.engine().networks.disconnect(args.positionals[1]!, args.positionals[0]!);
    return 0;
  },
};

export const networkPruneCommand: BerthCommand = {
  spec: {
    name: 'network prune',
    usage: 'network prune [OPTIONS]',
    summary: 'Remove all unused networks (those no container is connected to)',
    positionals: [0, 0],
    flags: [
      { name: 'force', short: 'f', type: 'boolean', description: 'do not prompt for confirmation' },
      { name: 'filter', type: 'string', value: 'FILTER', repeatable: true, description: 'filter: label=KEY[=VALUE], label!=KEY[=VALUE]' },
    ],
  },
  async run(args, env) {
    const { labels } = pruneLabelFilters(listFlag(args, 'filter'), 'network prune');
    if (!boolFlag(args, 'force') && !(await confirmPrune(env.io, 'This will remove all custom networks not used by at least one container.'))) return 0;
    const removed = env.engine().networks.prune((n) => !matchesLabels(n.labels, labels));
    if (removed.length) env.io.out(`Deleted Networks:\n${removed.map((n) => `${n.name}\n`).join('')}`);
    return 0;
  },
};

export const portCommand: BerthCommand = {
  spec: { name: 'port', usage: 'port CONTAINER [PRIVATE_PORT[/PROTO]]', summary: 'List port mappings or a specific mapping for the container', positionals: [1, 2], flags: [] },
  async run(args, env) {
    const [ref, which] = args.positionals;
    let filter: { port: number; protocol?: 'tcp' | 'udp' } | undefined;
    if (which !== undefined) {
      const m = /^(\d{1,5})(?:\/(tcp|udp))?$/i.exec(which);
      if (!m) throw new BerthError('INVALID_ARGUMENT', `invalid port ${JSON.stringify(which)}: PRIVATE_PORT[/tcp|udp]`);
      filter = { port: Number(m[1]), ...(m[2] ? { protocol: m[2].toLowerCase() as 'tcp' | 'udp' } : {}) };
    }
    const lines = env.engine().networks.ports(ref!, filter);
    if (filter && !lines.length) throw new BerthError('NOT_FOUND', `No public port '${filter.port}/${filter.protocol ?? 'tcp'}' published for ${ref}`);
    env.io.out(lines.map((l) => `${l}\n`).join(''));
    return 0;
  },
};

